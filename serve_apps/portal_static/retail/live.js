// Live view: current prices and alerts across stores, updated by server-sent events without
// reload, filtered by region and category, coloured by severity.
portal.start(async () => {
  const { api, el, fmt, table, follow } = portal;
  const $ = (id) => document.getElementById(id);
  const MAX_ROWS = 50;
  const { regions, categories } = await retail.catalogue();
  retail.fillSelect($("region"), regions);
  retail.fillSelect($("category"), categories);
  const wanted = new URLSearchParams(location.search);
  $("region").value = wanted.get("region") || "";
  $("category").value = wanted.get("category") || "";
  $("product").value = wanted.get("product_id") || "";

  let alerts = [];
  let prices = new Map(); // "product|location" -> {entry, previous, fresh, published}
  let streams = [];
  let drawing = false;
  const key = (p) => `${p.product_id}|${p.location_id}`;
  const filters = () => ({ region: $("region").value, category: $("category").value });
  const priceFilters = () => ({ ...filters(), product_id: $("product").value.trim() });

  const alertColumns = [
    { label: "Time", value: (a) => fmt.time(a.created_at) },
    { label: "Severity", value: (a) => el("span", { class: "badge sev-" + a.severity }, a.severity) },
    { label: "Kind", value: (a) => a.kind },
    { label: "Product", value: (a) => a.product_id },
    { label: "Store", value: (a) => a.location },
    { label: "Region", value: (a) => a.region || "—" },
    { label: "Suggested", value: (a) => a.suggested_action.text +
      (a.suggested_action.price != null ? ` (${fmt.money(a.suggested_action.price)})` : "") },
  ];
  const priceColumns = [
    { label: "Product", value: (r) => el("a", { href: `charts.html?product=${encodeURIComponent(r.entry.product_id)}&location=${encodeURIComponent(r.entry.location_id)}` }, r.entry.product_id) },
    { label: "Store", value: (r) => r.entry.location_id },
    { label: "Region", value: (r) => r.entry.region },
    { label: "Category", value: (r) => r.entry.category },
    { label: "Price", className: "num", value: (r) => fmt.money(r.entry.price) },
    { label: "Change", className: "num", value: (r) => (r.previous == null || r.previous === r.entry.price ? ""
      : el("span", { class: r.entry.price > r.previous ? "up" : "down" },
        `${r.entry.price > r.previous ? "▲" : "▼"} ${fmt.percent(r.entry.price / r.previous - 1)}`)) },
    { label: "", value: (r) => (r.published ? el("span", { class: "badge status-approved" }, "published by " + r.published) : "") },
    { label: "As of", value: (r) => fmt.time(r.entry.ts) },
  ];

  function draw() {
    if (drawing) return;
    drawing = true;
    requestAnimationFrame(() => {
      drawing = false;
      const bySeverity = {};
      for (const a of alerts) bySeverity[a.severity] = (bySeverity[a.severity] || 0) + 1;
      $("alert-counts").replaceChildren(...["critical", "warning", "info"].map((s) =>
        el("span", { class: "badge sev-" + s }, `${bySeverity[s] || 0} ${s}`)).flatMap((b) => [b, " "]));
      const alertTable = table(alertColumns, alerts, { id: "alerts-table" });
      alertTable.querySelectorAll("tbody tr").forEach((row, i) => {
        if (!alerts[i]) return;
        row.classList.add("sev-" + alerts[i].severity);
        if (alerts[i].fresh) row.classList.add("fresh");
        row.dataset.alert = alerts[i].id;
      });
      $("alerts").replaceChildren(alertTable);
      const rows = [...prices.values()].sort((a, b) => (b.entry.ts > a.entry.ts ? 1 : -1)).slice(0, MAX_ROWS);
      const priceTable = table(priceColumns, rows, { id: "prices-table" });
      priceTable.querySelectorAll("tbody tr").forEach((row, i) => {
        if (!rows[i]) return;
        row.dataset.item = key(rows[i].entry);
        if (rows[i].fresh) row.classList.add("fresh");
        rows[i].fresh = false;
      });
      $("prices").replaceChildren(priceTable);
      for (const a of alerts) a.fresh = false;
    });
  }

  function setPrice(entry, published, previous) {
    const known = prices.get(key(entry));
    prices.set(key(entry), { entry: { ...(known ? known.entry : {}), ...entry },
      previous: known ? known.entry.price : previous, fresh: true, published });
  }

  function indicator(id) {
    return (state) => {
      $(id).className = "live " + state;
      $(id).textContent = state === "open" ? "live" : state;
    };
  }

  async function load() {
    for (const stream of streams) stream.close();
    const query = filters();
    history.replaceState(null, "", "?" + new URLSearchParams(Object.entries(priceFilters()).filter(([, v]) => v)));
    const [alertPage, current] = await Promise.all([
      api("/alerts", { query: { ...query, limit: 50 } }),
      api("/prices/current", { query: { ...priceFilters(), limit: MAX_ROWS } })]);
    alerts = alertPage.alerts;
    prices = new Map(current.prices.map((p) => [key(p), { entry: p, previous: null, fresh: false }]));
    $("prices-summary").textContent = `${fmt.number(current.count)} product-locations (${current.source}); ` +
      `${current.count > MAX_ROWS ? `the first ${MAX_ROWS} by product and store shown, ` : ""}changes move to the top as they arrive.`;
    draw();
    streams = [
      follow("/alerts/live", (event) => {
        if (event.event !== "alert" || alerts.some((a) => a.id === event.data.id)) return;
        alerts.unshift({ ...event.data, fresh: true });
        alerts = alerts.slice(0, 200);
        draw();
      }, { query, onStatus: indicator("alerts-live") }),
      follow("/prices/live", (event) => {
        if (event.event === "price-updated") {
          for (const update of event.data.updates) setPrice(update, null, null);
        } else if (event.event === "price-published") {
          const p = event.data;
          setPrice({ product_id: p.product_id, location_id: p.location_id, region: p.region,
            category: p.category, price: p.price, ts: p.decided_at }, p.decided_by, p.previous_price);
        }
        draw();
      }, { query: priceFilters(), onStatus: indicator("prices-live") }),
    ];
  }

  $("region").addEventListener("change", load);
  $("category").addEventListener("change", load);
  $("product").addEventListener("change", load);
  await load();
});
