// Pricing explorer: locations as tiles; a location's coming week as heat maps and bands.
portal.start(async () => {
  const { api, el, fmt } = portal;
  const targetSelect = document.getElementById("target");
  let selected = null;

  async function showWeek(location) {
    selected = location;
    for (const tile of document.querySelectorAll(".tile")) {
      tile.setAttribute("aria-pressed", String(tile.dataset.location === location));
    }
    const week = await api(`/pricing/week/${encodeURIComponent(location)}`,
      { query: { target: targetSelect.value } });
    const unit = week.currency;
    document.getElementById("week").hidden = false;
    document.getElementById("week-title").textContent =
      `${week.location_id} (${week.location_type}) — ${week.days[0]} to ${week.days[week.days.length - 1]}`;
    adsCharts.weekHeatmap("price-heatmap", week, "price", "Slot price (P50)", unit);
    adsCharts.weekHeatmap("audience-heatmap", week, "attentive", "Expected attentive audience (P50)", "viewers");
    adsCharts.weekBand("price-band", week, "price", "Slot price with P10–P90", unit);
    adsCharts.weekBand("audience-band", week, "attentive", "Attentive audience with P10–P90", "viewers");
  }

  async function showLocations() {
    const overview = await api("/pricing/locations", { query: { target: targetSelect.value } });
    if (!targetSelect.options.length) {
      targetSelect.replaceChildren(...overview.targets.map((t) => el("option", { value: t }, t)));
      targetSelect.value = overview.target;
    }
    document.getElementById("forecast-version").textContent = "forecast " + overview.forecast_version;
    document.getElementById("locations").replaceChildren(...overview.locations.map((loc) =>
      el("button", { type: "button", class: "tile", "data-location": loc.location_id,
        "aria-pressed": "false", onclick: () => showWeek(loc.location_id) },
        el("strong", {}, loc.location_id),
        el("span", { class: "badge" }, loc.location_type), el("br"),
        `${fmt.number(loc.weekly_attentive_p50)} attentive viewers / week`, el("br"),
        `attention ${fmt.percent(loc.attention_rate)}`, el("br"),
        `${fmt.money(loc.price_p50.min, overview.currency)} – ${fmt.money(loc.price_p50.max, overview.currency)} per hour`)));
    const first = selected || (overview.locations[0] && overview.locations[0].location_id);
    if (first) await showWeek(first);
  }

  targetSelect.addEventListener("change", showLocations);
  await showLocations();
});
