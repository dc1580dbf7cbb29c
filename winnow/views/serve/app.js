// winnow serve: draw each chart spec of the page with vega-embed (served by the app itself),
// and run the SQL box with Ctrl+Enter.
document.querySelectorAll("script.vega-spec").forEach(function (spec) {
  var target = document.getElementById(spec.dataset.target);
  vegaEmbed(target, JSON.parse(spec.textContent), {actions: false, renderer: "svg"}).catch(function (e) {
    target.textContent = "the chart could not be drawn: " + e;
  });
});
var box = document.getElementById("sql");
if (box) {
  box.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      box.form.submit();
    }
  });
}
