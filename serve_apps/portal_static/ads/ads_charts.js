// Charts shared by the ads pages (plotly.js, served locally).
(function () {
  "use strict";
  const { plot } = window.portal;

  // A day x hour heat map of `grid[quantile]` with the P10-P90 range in the hover text.
  function weekHeatmap(element, week, field, title, unit) {
    const labels = week.days.map((day, i) => week.weekdays[i] + " " + day.slice(5));
    const range = week[field].p50.map((row, d) => row.map((_, h) => {
      const low = week[field].p10 ? week[field].p10[d][h] : null;
      const high = week[field].p90 ? week[field].p90[d][h] : null;
      return low == null ? "" : `P10–P90 ${low}–${high} ${unit}`;
    }));
    const booked = [];
    week.booked.forEach((row, d) => row.forEach((isBooked, h) => {
      if (isBooked) booked.push([h, labels[d]]);
    }));
    return plot(element, [
      { type: "heatmap", z: week[field].p50, x: week.hours, y: labels, customdata: range,
        colorscale: field === "price" ? "YlOrRd" : "Blues", reversescale: true, hoverongaps: false,
        colorbar: { title: { text: unit } },
        hovertemplate: "%{y} %{x}:00<br>P50 %{z} " + unit + "<br>%{customdata}<extra></extra>" },
      { type: "scatter", mode: "markers", name: "booked", x: booked.map((b) => b[0]),
        y: booked.map((b) => b[1]), marker: { symbol: "x", size: 9, color: "#1d2733" },
        hovertemplate: "booked<extra></extra>", showlegend: false },
    ], { title: { text: title }, xaxis: { title: { text: "hour" }, dtick: 2 },
      yaxis: { autorange: "reversed" } });
  }

  // The week as one line: P50 with a filled P10-P90 band.
  function weekBand(element, week, field, title, unit) {
    const x = [], p10 = [], p50 = [], p90 = [];
    week.days.forEach((day, d) => week.hours.forEach((hour) => {
      if (week[field].p50[d][hour] == null) return;
      x.push(`${day} ${String(hour).padStart(2, "0")}:00`);
      p10.push(week[field].p10[d][hour]);
      p50.push(week[field].p50[d][hour]);
      p90.push(week[field].p90[d][hour]);
    }));
    return plot(element, [
      { x, y: p90, type: "scatter", mode: "lines", line: { width: 0 }, name: "P90",
        hoverinfo: "skip", showlegend: false },
      { x, y: p10, type: "scatter", mode: "lines", line: { width: 0 }, fill: "tonexty",
        fillcolor: "rgba(31,111,235,0.18)", name: "P10–P90" },
      { x, y: p50, type: "scatter", mode: "lines", line: { color: "#1f6feb", width: 1.5 },
        name: "P50" },
    ], { title: { text: title }, yaxis: { title: { text: unit } }, height: 300,
      legend: { orientation: "h", y: -0.2 } });
  }

  window.adsCharts = { weekHeatmap, weekBand };
})();
