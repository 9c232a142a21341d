// Charts of one product-location (demand curve with the chosen price, revenue vs price, price
// history against competitors) and the regional price map.
portal.start(async () => {
  const { api, el, fmt } = portal;
  const $ = (id) => document.getElementById(id);
  const wanted = new URLSearchParams(location.search);

  async function showItem(product, store, day) {
    history.replaceState(null, "", "?" + new URLSearchParams(
      Object.entries({ product, location: store, date: day }).filter(([, v]) => v)));
    const path = `${encodeURIComponent(product)}/${encodeURIComponent(store)}`;
    const [curve, past] = await Promise.all([
      api(`/pricing/curve/${path}`, { query: { target_date: day } }),
      api(`/pricing/history/${path}`, { query: { days: $("history-days").value || 90, until: day } }),
    ]);
    $("curves").hidden = false;
    $("curve-title").textContent = `${product} at ${store} (${curve.category})`;
    $("curve-summary").textContent = `Recommended ${fmt.money(curve.recommended_price)} (${curve.method}), ` +
      `current ${fmt.money(curve.current_price)}, allowed ${fmt.money(curve.low)} – ${fmt.money(curve.high)}, ` +
      `cost ${fmt.money(curve.cost)}; model ${curve.model_version}.`;
    retailCharts.demandCurve("demand-chart", curve);
    retailCharts.revenueCurve("revenue-chart", curve);
    $("history").hidden = false;
    if (past.days.length) retailCharts.priceHistory("history-chart", past);
    else {
      Plotly.purge("history-chart");
      $("history-chart").replaceChildren(el("p", { class: "muted" }, "No price points in that period."));
    }
  }

  async function showRegions() {
    const answer = await api("/prices/aggregate", { query: { date_from: $("map-from").value, date_to: $("map-to").value } });
    if (answer.groups.length) retailCharts.regionalPrices("regional-chart", answer.groups);
    else {
      Plotly.purge("regional-chart");
      $("regional-chart").replaceChildren(el("p", { class: "muted" }, "No price points in that period."));
    }
  }

  async function fillProducts() {
    const current = await api("/prices/current", { query: { limit: 5000 } });
    const unique = (field) => [...new Set(current.prices.map((p) => p[field]))].sort();
    $("products").replaceChildren(...unique("product_id").map((v) => el("option", { value: v })));
    $("locations").replaceChildren(...unique("location_id").map((v) => el("option", { value: v })));
  }

  $("pick").addEventListener("submit", (event) => {
    event.preventDefault();
    showItem($("product").value.trim(), $("location").value.trim(), $("target-date").value);
  });
  $("map-refresh").addEventListener("click", showRegions);

  let pick = { product: wanted.get("product"), store: wanted.get("location"), day: wanted.get("date") };
  if (!pick.product || !pick.store) {
    const first = (await api("/review/queue", { query: { limit: 1 } })).items[0];
    pick = first ? { product: first.product_id, store: first.location_id, day: first.target_date } : {};
  }
  const work = [showRegions(), fillProducts()];
  if (pick.product && pick.store) {
    $("product").value = pick.product;
    $("location").value = pick.store;
    $("target-date").value = pick.day || "";
    work.push(showItem(pick.product, pick.store, pick.day || ""));
  }
  await Promise.all(work);
});
