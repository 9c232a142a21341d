// Operations (sales/admin): camera status, attention by location and hour, live alerts.
portal.start(async (me) => {
  const { api, el, fmt, plot, table, follow } = portal;
  const $ = (id) => document.getElementById(id);
  if (!me.staff) {
    $("staff-only").hidden = false;
    return;
  }
  $("operations").hidden = false;

  async function showCameras() {
    const cameras = await api("/operations/cameras");
    $("cameras").replaceChildren(table([
      { label: "Camera", value: (c) => c.camera_id },
      { label: "Location", value: (c) => `${c.location} (${c.location_type})` },
      { label: "Status", value: (c) => el("span", { class: c.status === "live" ? "status-ok" : "status-bad" }, c.status) },
      { label: "Last update", value: (c) => fmt.time(c.updated_at) },
      { label: "People in view (15 min)", value: (c) => fmt.number(c.people_in_view, 1), className: "num" },
      { label: "Attention (15 min)", value: (c) => fmt.percent(c.attention_rate), className: "num" },
      { label: "Frames", value: (c) => fmt.number(c.frames), className: "num" },
    ], cameras, { id: "cameras-table" }));
  }

  async function showAttention() {
    const attention = await api("/operations/attention");
    if (!attention.locations.length) {
      $("attention-heatmap").replaceChildren(el("p", { class: "muted" }, "No audience history yet (run data_jobs.audience_rollup)."));
      return;
    }
    plot("attention-heatmap", [{
      type: "heatmap", z: attention.attention_rate, x: attention.hours, y: attention.locations,
      customdata: attention.crowd, colorscale: "Viridis", hoverongaps: false,
      colorbar: { title: { text: "attention" }, tickformat: ".0%" },
      hovertemplate: "%{y} %{x}:00<br>attention %{z:.1%}<br>mean crowd %{customdata}/h<extra></extra>",
    }], { title: { text: `Attention rate, last ${attention.days} days of history` },
      xaxis: { title: { text: "hour of day" }, dtick: 2 }, height: 120 + 40 * attention.locations.length });
  }

  const alertColumns = [
    { label: "Time", value: (a) => fmt.time(a.time) },
    { label: "Severity", value: (a) => el("span", { class: "badge sev-" + a.severity }, a.severity) },
    { label: "Source", value: (a) => a.source },
    { label: "Kind", value: (a) => a.kind },
    { label: "Location", value: (a) => a.location },
    { label: "Message", value: (a) => a.message },
  ];
  const alerts = await api("/operations/alerts", { query: { limit: 50 } });
  const render = () => $("alerts").replaceChildren(table(alertColumns, alerts.slice(0, 200), { id: "alerts-table" }));
  render();
  const indicator = $("alerts-live");
  follow("/operations/alerts/live", (event) => {
    if (event.event !== "alert" || alerts.some((a) => a.id === event.data.id)) return;
    alerts.unshift(event.data);
    render();
  }, { onStatus: (state) => {
    indicator.className = "live " + state;
    indicator.textContent = state === "open" ? "live" : state;
  } });

  await Promise.all([showCameras(), showAttention()]);
  setInterval(() => showCameras().catch(() => {}), 15000);
});
