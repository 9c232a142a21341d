// Bookings and campaign results: delivered attentive audience against the forecast, live.
portal.start(async (me) => {
  const { api, el, fmt, plot, table, follow } = portal;
  const $ = (id) => document.getElementById(id);
  let live = null;

  function showResults(results) {
    const t = results.totals;
    $("results-title").textContent = `Booking ${results.booking_id.slice(0, 8)} — ${results.status}, campaign ${results.campaign}`;
    $("results-totals").replaceChildren(el("p", {},
      `Forecast (P50, whole campaign): ${fmt.number(t.forecast_p50)} attentive viewers. `,
      `Delivered so far: `, el("strong", { id: "delivered-total" }, fmt.number(t.delivered)),
      ` against ${fmt.number(t.forecast_to_date)} forecast to date`,
      t.delivery_ratio == null ? "." : ` (${fmt.percent(t.delivery_ratio, 0)}).`));
    const slots = results.slots;
    const label = (s) => `${s.location_id} ${fmt.hour(s.start)}`;
    const tick = (s) => `${s.location_id}<br>${fmt.hour(s.start)}`;
    plot("results-chart", [
      { type: "bar", name: "forecast P50", x: slots.map(tick), y: slots.map((s) => s.forecast.p50),
        marker: { color: "#aac7f5" },
        error_y: { type: "data", symmetric: false,
          array: slots.map((s) => (s.forecast.p90 ?? s.forecast.p50) - s.forecast.p50),
          arrayminus: slots.map((s) => s.forecast.p50 - (s.forecast.p10 ?? s.forecast.p50)) } },
      { type: "bar", name: "delivered", x: slots.map(tick), y: slots.map((s) => s.delivered),
        marker: { color: "#1a7f37" } },
    ], { title: { text: "Attentive audience per slot: delivered vs forecast (P10–P90)" },
      barmode: "group", height: 380, xaxis: { tickangle: -30, automargin: true },
      yaxis: { title: { text: "attentive viewers" } }, legend: { orientation: "h", y: 1.12 } });
    $("results-slots").replaceChildren(table([
      { label: "Slot", value: (s) => label(s) },
      { label: "State", value: (s) => el("span", { class: "badge" }, s.state) },
      { label: "Forecast P50 (P10–P90)", className: "num",
        value: (s) => `${fmt.number(s.forecast.p50, 1)} (${fmt.number(s.forecast.p10, 1)}–${fmt.number(s.forecast.p90, 1)})` },
      { label: "Delivered", value: (s) => fmt.number(s.delivered, 1), className: "num" },
      { label: "Attention", value: (s) => fmt.percent(s.attention_rate), className: "num" },
      { label: "Price", value: (s) => fmt.money(s.price, results.currency), className: "num" },
    ], slots));
  }

  function openResults(bookingId) {
    if (live) live.close();
    $("results").hidden = false;
    for (const row of document.querySelectorAll("#bookings tr[data-booking]")) {
      row.classList.toggle("selected", row.dataset.booking === bookingId);
    }
    const indicator = $("results-live");
    live = follow(`/bookings/${encodeURIComponent(bookingId)}/results/live`, (event) => {
      if (event.event === "results") showResults(event.data);
    }, { onStatus: (state) => {
      indicator.className = "live " + state;
      indicator.textContent = state === "open" ? "live: updates as the cameras report" : state;
    } });
    history.replaceState(null, "", "#" + bookingId);
  }

  async function cancel(booking) {
    if (!confirm(`Cancel booking ${booking.id.slice(0, 8)} and free its ${booking.slots.length} slots?`)) return;
    await api(`/bookings/${encodeURIComponent(booking.id)}`, { method: "DELETE" });
    await showBookings();
  }

  async function showBookings() {
    const query = me.staff ? { advertiser_id: $("advertiser-filter").value.trim() } : {};
    const bookings = await api("/bookings", { query });
    const first = (b) => b.slots.map((s) => s.start).sort()[0];
    const last = (b) => b.slots.map((s) => s.start).sort().pop();
    $("bookings").replaceChildren(table([
      { label: "Booking", value: (b) => b.id.slice(0, 8) },
      { label: "Advertiser", value: (b) => b.advertiser_id },
      { label: "Booked", value: (b) => fmt.time(b.created_at) },
      { label: "Status", value: (b) => el("span", { class: "badge" }, b.status) },
      { label: "Slots", value: (b) => b.slots.length, className: "num" },
      { label: "Locations", value: (b) => [...new Set(b.slots.map((s) => s.location_id))].join(", ") },
      { label: "From – to", value: (b) => `${fmt.hour(first(b))} – ${fmt.hour(last(b))}` },
      { label: "Total", value: (b) => fmt.money(b.total_price, b.currency), className: "num" },
      { label: "", value: (b) => [
        el("button", { type: "button", class: "secondary", onclick: () => openResults(b.id) }, "Results"), " ",
        b.status === "active" ? el("button", { type: "button", class: "secondary", onclick: () => cancel(b) }, "Cancel") : null] },
    ], bookings, { id: "bookings-table" }));
    for (const [i, row] of [...document.querySelectorAll("#bookings tbody tr")].entries()) {
      if (bookings[i]) row.dataset.booking = bookings[i].id;
    }
    return bookings;
  }

  if ($("refresh-bookings")) $("refresh-bookings").addEventListener("click", showBookings);
  const bookings = await showBookings();
  const wanted = location.hash.slice(1);
  if (wanted && bookings.some((b) => b.id === wanted)) openResults(wanted);
});
