// Draws every chart of the report with vega-embed (SVG, no action menu: nothing to fetch).
// The specifications are in the JSON script element #winnow-charts, keyed by element id.
// When all are drawn, <body data-charts="N"> says how many succeeded; failures go to the console.
(async () => {
  const specs = JSON.parse(document.getElementById("winnow-charts").textContent);
  const options = {renderer: "svg", actions: false};
  const drawn = await Promise.allSettled(
    Object.entries(specs).map(([id, spec]) => vegaEmbed("#" + id, spec, options)));
  for (const r of drawn) {
    if (r.status === "rejected") console.error("chart not drawn:", r.reason);
  }
  document.body.dataset.charts = String(drawn.filter((r) => r.status === "fulfilled").length);
})();
