// The site view's live parts: the fragment and the chart's points arrive as Server-Sent Events.
"use strict";
(function () {
  const live = document.getElementById("site-live");
  const chartEl = document.getElementById("chart");
  const spec = JSON.parse(chartEl.dataset.chart);
  const colours = ["#d1495b", "#edae49", "#00798c", "#30638e", "#6a4c93", "#1a7f37", "#1b1f24"];
  const series = [{}].concat(spec.series.map((label, i) => ({
    label, stroke: colours[i % colours.length], width: label === "limit" ? 1 : 2,
    dash: label === "limit" ? [6, 4] : undefined, value: (u, v) => v == null ? "–" : v.toFixed(1) + " A",
  })));
  const data = spec.data.length ? spec.data : [[]].concat(spec.series.map(() => []));
  function size() { return { width: chartEl.clientWidth || 600, height: window.innerWidth < 600 ? 220 : 280 }; }
  const plot = new uPlot(Object.assign({ series, axes: [{}, { label: "A" }], legend: { live: true } }, size()), data, chartEl);
  window.csmsChart = plot;
  window.addEventListener("resize", () => plot.setSize(size()));

  const source = new EventSource(live.dataset.events);
  source.addEventListener("live", (event) => { live.innerHTML = event.data; });
  source.addEventListener("point", (event) => {
    const p = JSON.parse(event.data);
    const cols = plot.data.map((col) => Array.from(col));
    if (cols[0].length && cols[0][cols[0].length - 1] >= p[0]) return;
    p.forEach((v, i) => cols[i].push(v));
    while (cols[0].length && cols[0][0] < p[0] - 3600) cols.forEach((c) => c.shift());
    plot.setData(cols);
    chartEl.dataset.points = String(cols[0].length);
    chartEl.dataset.last = JSON.stringify(p);
  });
})();
