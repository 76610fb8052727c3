// Click anywhere on the `paths` plot (not only on a trace) to set the start.
// Dash's clickData reports the nearest plotted point, so this converts the
// pointer position to data coordinates with the axes' pixel-to-data functions
// (Plotly internals: Dash and Plotly majors are pinned, and a browser test
// checks the clicked coordinates) and hands them to the `click-point` store.
document.addEventListener("click", function (event) {
  var box = event.target.closest && event.target.closest("#paths");
  if (!box || event.target.closest(".modebar, .legend")) return;
  var gd = box.querySelector(".js-plotly-plot");
  if (!gd || !gd._fullLayout || !window.dash_clientside) return;
  var xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  var rect = gd.getBoundingClientRect();
  var px = event.clientX - rect.left - xa._offset;
  var py = event.clientY - rect.top - ya._offset;
  if (px < 0 || py < 0 || px > xa._length || py > ya._length) return;
  window.dash_clientside.set_props("click-point", {
    data: { x: xa.p2d(px), y: ya.p2d(py), t: Date.now() },
  });
});
