// Accessible sliders: Dash's slider thumb (a Radix slider, `#ID [role=slider]`)
// gets the label of its control as `aria-label` and the value its readout
// shows (`#ID-readout`: the decay, not the slider's position on its piecewise
// scale) as `aria-valuetext`, kept up to date as the readouts change. A
// browser test reads both.
(function () {
  var pending = false;
  function label(slider) {
    var text = document.querySelector('label[for="' + slider.id + '"]');
    return text ? text.textContent.trim() : slider.id;
  }
  function update() {
    pending = false;
    document.querySelectorAll("[role=slider]").forEach(function (thumb) {
      // The slider's component: the nearest ancestor a label points at
      // (Radix's own elements inside it may carry generated ids).
      var slider = thumb.parentElement;
      while (
        slider &&
        !(slider.id && document.querySelector('label[for="' + slider.id + '"]'))
      ) {
        slider = slider.parentElement;
      }
      if (!slider) return;
      var name = label(slider);
      if (thumb.getAttribute("aria-label") !== name) {
        thumb.setAttribute("aria-label", name);
      }
      var readout = document.getElementById(slider.id + "-readout");
      var value = readout
        ? readout.textContent.trim()
        : slider.id === "step-through"
          ? "step " + thumb.getAttribute("aria-valuenow")
          : null;
      if (value !== null && thumb.getAttribute("aria-valuetext") !== value) {
        thumb.setAttribute("aria-valuetext", value);
      }
    });
  }
  function schedule() {
    if (!pending) {
      pending = true;
      window.requestAnimationFrame(update);
    }
  }
  new MutationObserver(schedule).observe(document.documentElement, {
    childList: true,
    subtree: true,
    characterData: true,
    attributes: true,
    attributeFilter: ["aria-valuenow"],
  });
  schedule();
})();
