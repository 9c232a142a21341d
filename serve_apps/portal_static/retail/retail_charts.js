// Charts shared by the retail pages (plotly.js, served locally). core/reports/retail.py draws
// the same figures for `dynaprice report retail`.
(function () {
  "use strict";
  const { plot } = window.portal;
  const BLUE = "#1f6feb", GREEN = "#1a7f37", ORANGE = "#b35900", GREY = "#64707d";

  // Vertical marker lines (and the allowed range as a band) on a price axis.
  function priceMarks(curve) {
    const marks = [
      { x: curve.recommended_price, color: GREEN, label: "recommended", dash: "solid" },
      { x: curve.current_price, color: GREY, label: "current", dash: "dot" },
    ];
    if (curve.competitor_price != null) {
      marks.push({ x: curve.competitor_price, color: ORANGE, label: "competitor", dash: "dash" });
    }
    return {
      shapes: [
        { type: "rect", xref: "x", yref: "paper", x0: curve.low, x1: curve.high, y0: 0, y1: 1,
          fillcolor: "rgba(26,127,55,0.07)", line: { width: 0 }, layer: "below" },
        ...marks.map((m) => ({ type: "line", xref: "x", yref: "paper", x0: m.x, x1: m.x, y0: 0,
          y1: 1, line: { color: m.color, width: 1.5, dash: m.dash } })),
      ],
      annotations: marks.map((m, i) => ({ x: m.x, xref: "x", yref: "paper", y: 1 - 0.07 * i,
        text: `${m.label} ${m.x.toFixed(2)}`, showarrow: false, xanchor: "left",
        font: { color: m.color, size: 11 } })),
    };
  }

  // Demand (units P50 with the P10-P90 band) over price: the elasticity curve.
  function demandCurve(element, curve) {
    const x = curve.points.map((p) => p.price);
    return plot(element, [
      { x, y: curve.points.map((p) => p.units_p90), mode: "lines", line: { width: 0 },
        hoverinfo: "skip", showlegend: false },
      { x, y: curve.points.map((p) => p.units_p10), mode: "lines", line: { width: 0 },
        fill: "tonexty", fillcolor: "rgba(31,111,235,0.18)", name: "P10–P90" },
      { x, y: curve.points.map((p) => p.units_p50), mode: "lines", name: "units (P50)",
        line: { color: BLUE, width: 2 }, customdata: curve.points.map((p) => p.elasticity),
        hovertemplate: "%{x:.2f}: %{y:.2f} units/day<br>elasticity %{customdata}<extra></extra>" },
    ], { title: { text: "Demand curve (daily units)" }, height: 340,
      xaxis: { title: { text: "price" } }, yaxis: { title: { text: "units per day" } },
      legend: { orientation: "h", y: -0.25 }, ...priceMarks(curve) });
  }

  // Expected daily revenue and margin over price.
  function revenueCurve(element, curve) {
    const x = curve.points.map((p) => p.price);
    return plot(element, [
      { x, y: curve.points.map((p) => p.revenue), mode: "lines", name: "revenue",
        line: { color: BLUE, width: 2 } },
      { x, y: curve.points.map((p) => p.margin), mode: "lines", name: "margin",
        line: { color: GREEN, width: 1.5 } },
    ], { title: { text: "Revenue and margin vs price (per day, P50)" }, height: 340,
      xaxis: { title: { text: "price" } }, yaxis: { title: { text: "per day" } },
      legend: { orientation: "h", y: -0.25 }, ...priceMarks(curve) });
  }

  // Daily price against the lowest competitor, with 7-day rolling means.
  function priceHistory(element, history) {
    const x = history.days.map((d) => d.day);
    const series = (field) => history.days.map((d) => d[field]);
    return plot(element, [
      { x, y: series("price"), mode: "markers", name: "price (daily)",
        marker: { color: BLUE, size: 4, opacity: 0.5 } },
      { x, y: series("competitor_min_price"), mode: "markers", name: "lowest competitor (daily)",
        marker: { color: ORANGE, size: 4, opacity: 0.5 } },
      { x, y: series("price_7d"), mode: "lines", name: "price, 7-day mean",
        line: { color: BLUE, width: 2 } },
      { x, y: series("competitor_7d"), mode: "lines", name: "competitor, 7-day mean",
        line: { color: ORANGE, width: 2, dash: "dash" } },
    ], { title: { text: "Price history against the lowest competitor" }, height: 340,
      yaxis: { title: { text: "price" } }, legend: { orientation: "h", y: -0.2 } });
  }

  // Region x category: each cell's mean price against the category's mean over all regions.
  function regionalPrices(element, groups) {
    const regions = [...new Set(groups.map((g) => g.region))].sort();
    const categories = [...new Set(groups.map((g) => g.category))].sort();
    const mean = {};
    for (const category of categories) {
      const cells = groups.filter((g) => g.category === category);
      mean[category] = cells.reduce((s, g) => s + g.avg * g.count, 0) /
        cells.reduce((s, g) => s + g.count, 0);
    }
    const cell = (region, category) => groups.find((g) => g.region === region && g.category === category);
    const z = regions.map((r) => categories.map((c) => {
      const g = cell(r, c);
      return g ? Math.round(1000 * (g.avg / mean[c] - 1)) / 10 : null;
    }));
    const text = regions.map((r) => categories.map((c) => {
      const g = cell(r, c);
      return g ? `${g.avg.toFixed(2)} (${g.count} records)` : "";
    }));
    return plot(element, [{
      type: "heatmap", x: categories, y: regions, z, customdata: text, zmid: 0,
      colorscale: "RdBu", hoverongaps: false,
      colorbar: { title: { text: "% vs category mean" } },
      hovertemplate: "%{y} · %{x}<br>mean price %{customdata}<br>%{z:+.1f} % vs all regions<extra></extra>",
    }], { title: { text: "Regional price map: mean price vs the category's mean" },
      height: 160 + 44 * regions.length });
  }

  // An experiment's lift per metric, with its 95 % confidence interval.
  function experimentLift(element, report) {
    const metrics = Object.keys(report.lift).filter((m) => report.lift[m]);
    const lift = metrics.map((m) => report.lift[m]);
    return plot(element, [{
      type: "scatter", mode: "markers", x: metrics, y: lift.map((l) => 100 * l.lift),
      marker: { size: 11, color: lift.map((l) => (l.ci_low > 0 ? GREEN : l.ci_high < 0 ? "#c62828" : GREY)) },
      error_y: { type: "data", symmetric: false, array: lift.map((l) => 100 * (l.ci_high - l.lift)),
        arrayminus: lift.map((l) => 100 * (l.lift - l.ci_low)), color: GREY },
      customdata: lift.map((l) => l.p_value),
      hovertemplate: "%{x}: %{y:+.2f} %<br>p = %{customdata:.3f}<extra></extra>",
    }], { title: { text: "Lift of treatment over control, 95 % CI" }, height: 320,
      yaxis: { title: { text: "lift (%)" }, zeroline: true, zerolinecolor: "#1d2733" } });
  }

  window.retailCharts = { demandCurve, revenueCurve, priceHistory, regionalPrices, experimentLift };
})();
