// A/B experiments: create (managers and admins), list, and report lift with a confidence
// interval and the days needed for significance.
portal.start(async (me) => {
  const { api, el, fmt, table } = portal;
  const $ = (id) => document.getElementById(id);
  let shown = null;

  const { regions, categories } = await retail.catalogue();
  retail.fillSelect($("regions"), regions);
  retail.fillSelect($("categories"), categories);
  $("start").value = new Date().toISOString().slice(0, 10);
  $("experiment-form").hidden = !retail.decides(me);
  $("unit").addEventListener("change", () => {
    $("categories-field").hidden = $("unit").value !== "store-product";
  });

  function spec() {
    const body = { name: $("name").value.trim(), unit: $("unit").value, seed: Number($("seed").value || 0),
      start: $("start").value, pre_days: Number($("pre-days").value || 28) };
    if ($("end").value) body.end = $("end").value;
    const chosen = (id) => [...$(id).selectedOptions].map((o) => o.value);
    if (chosen("regions").length) body.regions = chosen("regions");
    if (body.unit === "store-product" && chosen("categories").length) body.categories = chosen("categories");
    return body;
  }

  $("experiment-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("create-error").hidden = true;
    $("create").disabled = true;
    try {
      const created = await api("/experiments", { method: "POST", body: spec(), quiet: true });
      await showExperiments();
      await showReport(created.id);
    } catch (error) {
      $("create-error").textContent = error.message;
      $("create-error").hidden = false;
    } finally {
      $("create").disabled = false;
    }
  });

  const balance = (e) => Object.entries(e.balance).map(([region, arms]) =>
    `${region} ${arms.control}/${arms.treatment}`).join(", ");

  async function showExperiments() {
    const { experiments } = await api("/experiments");
    const rendered = table([
      { label: "Name", value: (e) => e.name },
      { label: "Unit", value: (e) => e.unit },
      { label: "Seed", className: "num", value: (e) => e.seed },
      { label: "Period", value: (e) => `${e.start} – ${e.end || "open"}` },
      { label: "Regions (control/treatment)", value: balance },
      { label: "Created", value: (e) => `${e.created_by}, ${fmt.time(e.created_at)}` },
      { label: "", value: (e) => el("button", { type: "button", class: "secondary", onclick: () => showReport(e.id) }, "Report") },
    ], experiments, { id: "experiments-table" });
    rendered.querySelectorAll("tbody tr").forEach((row, i) => {
      if (experiments[i]) row.dataset.experiment = experiments[i].id;
    });
    $("experiments").replaceChildren(rendered);
    return experiments;
  }

  async function showReport(id) {
    shown = id;
    for (const row of document.querySelectorAll("#experiments-table tr[data-experiment]")) {
      row.classList.toggle("selected", row.dataset.experiment === id);
    }
    const target = $("target-lift").value;
    const report = await api(`/experiments/${id}/report`,
      { query: target === "" ? {} : { target_lift: Number(target) / 100 } });
    $("report").hidden = false;
    $("report-title").textContent = `${report.name}: ${report.period[0]} to ${report.period[1]}`;
    const power = report.power;
    const revenue = report.lift.revenue;
    $("report-summary").replaceChildren(el("p", {},
      `${report.days_observed} days observed (baseline ${report.pre_period[0]} to ${report.pre_period[1]}). `,
      revenue ? el("strong", { id: "revenue-lift" }, `Revenue lift ${fmt.percent(revenue.lift, 2)} ` +
        `(95 % CI ${fmt.percent(revenue.ci_low, 2)} to ${fmt.percent(revenue.ci_high, 2)}, p = ${revenue.p_value.toFixed(3)}). `)
        : el("strong", { id: "revenue-lift" }, "No lift yet: it needs at least two days in the experiment. "),
      power.days_needed == null
        ? (power.target_lift == null ? "" : `A lift of ${fmt.percent(power.target_lift, 2)} is not reachable with these units. `)
        : el("span", { id: "days-needed" }, `Days needed for ${fmt.percent(power.target_lift, 2)} at ` +
          `${fmt.percent(power.alpha, 0)} significance with ${fmt.percent(power.power, 0)} power: ` +
          `${power.days_needed} (${power.days_remaining} to go).`)));
    const metrics = Object.keys(report.lift);
    $("report-lift").replaceChildren(table([
      { label: "Metric", value: (m) => m },
      { label: "Lift", className: "num", value: (m) => (report.lift[m] ? fmt.percent(report.lift[m].lift, 2) : "—") },
      { label: "95 % CI", className: "num", value: (m) => (report.lift[m]
        ? `${fmt.percent(report.lift[m].ci_low, 2)} – ${fmt.percent(report.lift[m].ci_high, 2)}` : "—") },
      { label: "p", className: "num", value: (m) => (report.lift[m] ? report.lift[m].p_value.toFixed(3) : "—") },
    ], metrics, { id: "lift-table" }));
    const arms = Object.entries(report.arms);
    $("report-arms").replaceChildren(table([
      { label: "Arm", value: ([arm]) => arm },
      { label: "Units", className: "num", value: ([, a]) => a.units_in_arm },
      { label: "Revenue", className: "num", value: ([, a]) => fmt.money(a.revenue) },
      { label: "Units sold", className: "num", value: ([, a]) => fmt.number(a.units) },
      { label: "Margin", className: "num", value: ([, a]) => fmt.money(a.margin) },
      { label: "Revenue/unit-day", className: "num", value: ([, a]) => fmt.money(a.revenue_per_unit_day) },
      { label: "Baseline", className: "num", value: ([, a]) => fmt.money(a.baseline_revenue_per_unit_day) },
    ], arms, { id: "arms-table" }));
    if (metrics.some((m) => report.lift[m])) retailCharts.experimentLift("lift-chart", report);
    else Plotly.purge("lift-chart");
    $("report-method").textContent = report.method;
  }

  $("report-refresh").addEventListener("click", () => shown && showReport(shown));
  const experiments = await showExperiments();
  if (experiments.length) await showReport(experiments[0].id);
});
