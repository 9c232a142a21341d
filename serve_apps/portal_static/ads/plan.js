// Plan & book: the optimiser's best plan for a budget, booked in one click.
portal.start(async (me) => {
  const { api, el, fmt, plot, table } = portal;
  const $ = (id) => document.getElementById(id);
  const overview = await api("/pricing/locations");
  const currency = overview.currency;

  $("target").replaceChildren(...overview.targets.map((t) => el("option", { value: t }, t)));
  $("target").value = overview.target;
  const checkboxes = (container, values, name) => $(container).replaceChildren(...values.map((v) =>
    el("label", { class: "inline" }, el("input", { type: "checkbox", name, value: v }), " " + v + " ")));
  checkboxes("age-bands", overview.age_bands, "age_band");
  checkboxes("genders", overview.genders, "gender");
  $("locations").replaceChildren(...overview.locations.map((loc) =>
    el("option", { value: loc.location_id }, `${loc.location_id} (${loc.location_type})`)));
  const firstDay = overview.locations.map((l) => l.first_slot.slice(0, 10)).sort()[0];
  const lastDay = overview.locations.map((l) => l.last_slot.slice(0, 10)).sort().pop();
  const today = new Date().toISOString().slice(0, 10);
  $("start-date").value = firstDay && firstDay > today ? firstDay : today;
  $("end-date").value = lastDay || today;

  let plan = null;
  let idempotencyKey = null;
  const newKey = () => (crypto.randomUUID ? crypto.randomUUID()
    : Date.now().toString(36) + Math.random().toString(36).slice(2));
  const checked = (name) => [...document.querySelectorAll(`input[name=${name}]:checked`)].map((c) => c.value);

  function request() {
    const body = {
      budget: Number($("budget").value), target: $("target").value,
      start_date: $("start-date").value, end_date: $("end-date").value,
    };
    const bands = checked("age_band");
    const genders = checked("gender");
    const locations = [...$("locations").selectedOptions].map((o) => o.value);
    if (bands.length) body.age_bands = bands;
    if (genders.length) body.genders = genders;
    if (locations.length) body.locations = locations;
    if ($("max-per-location").value !== "") body.max_slots_per_location = Number($("max-per-location").value);
    return body;
  }

  function summary(best, label) {
    return el("p", {}, el("strong", {}, label + ": "),
      `${best.slots.length} slots, ${fmt.money(best.total_cost, currency)}, `,
      `${fmt.number(best.total_targeted_audience)} targeted attentive viewers, `,
      `CPM ${fmt.money(best.cpm, currency)}`);
  }

  function showPlan(result) {
    const best = result.best;
    $("plan").hidden = false;
    $("booking-outcome").textContent = "";
    $("book-plan").disabled = false;
    $("plan-summary").replaceChildren(
      summary(best, "Best"),
      result.runner_up ? summary(result.runner_up, "Runner-up") : el("p", { class: "muted" }, "No other plan fits."),
      el("p", { class: "muted" }, `Budget ${fmt.money(result.budget, currency)}; ` +
        `${fmt.number(result.candidates_considered)} free slots considered; ` +
        `optimality gap ${fmt.percent(result.optimality_gap, 2)}; forecast ${result.forecast_version}`));
    plot("plan-chart", [{
      type: "scatter", mode: "markers", x: best.slots.map((s) => s.start_time),
      y: best.slots.map((s) => s.location_id), text: best.slots.map((s) => fmt.money(s.price, currency)),
      marker: { size: best.slots.map((s) => 6 + Math.sqrt(s.targeted_audience)), color: "#1f6feb", opacity: 0.7 },
      hovertemplate: "%{y} %{x}<br>%{text}<extra></extra>",
    }], { title: { text: "Chosen slots (size: targeted audience)" }, height: 320 });
    $("plan-slots").replaceChildren(table([
      { label: "Location", value: (s) => s.location_id },
      { label: "Hour", value: (s) => fmt.hour(s.start_time) },
      { label: "Price", value: (s) => fmt.money(s.price, currency), className: "num" },
      { label: "Targeted attentive audience", value: (s) => fmt.number(s.targeted_audience, 1), className: "num" },
    ], best.slots, { id: "plan-table" }));
  }

  $("plan-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    portal.clearError();
    $("optimize").disabled = true;
    try {
      plan = await api("/pricing/optimize", { method: "POST", body: request() });
      idempotencyKey = newKey();
      showPlan(plan);
    } catch (_) {
      $("plan").hidden = true;
    } finally {
      $("optimize").disabled = false;
    }
  });

  $("book-plan").addEventListener("click", async () => {
    if (!plan) return;
    $("book-plan").disabled = true;
    const body = {
      target: plan.target,
      slots: plan.best.slots.map((s) => ({ location_id: s.location_id, time_slot: s.start_time.slice(0, 13) })),
    };
    if (me.staff) body.advertiser_id = $("advertiser").value.trim() || null;
    try {
      const booking = await api("/bookings", { method: "POST", body, headers: { "Idempotency-Key": idempotencyKey } });
      $("booking-outcome").replaceChildren("Booked ", el("a", { id: "booking-link", href: "bookings.html#" + booking.id },
        `booking ${booking.id.slice(0, 8)}`), ` — ${booking.slots.length} slots, ${fmt.money(booking.total_price, currency)}.`);
    } catch (_) {
      $("book-plan").disabled = false;
      $("booking-outcome").textContent = "Not booked: see the message above (run the optimiser again for free slots).";
    }
  });
});
