/* Wide tables scroll sideways inside their frame; on a narrow screen nothing else shows that columns
   are hidden, so a one-line hint appears above each table that overflows (and hides again when the
   window grows or its <details> closes). Loaded as a file: the page's CSP allows no inline script. */
(function () {
  "use strict";

  var frames = Array.prototype.slice.call(document.querySelectorAll(".table-scroll"));
  var hints = frames.map(function (frame) {
    var hint = document.createElement("p");
    hint.className = "scroll-hint";
    hint.textContent = "More columns: scroll the table sideways \u2192";
    hint.hidden = true;
    frame.parentNode.insertBefore(hint, frame);
    return hint;
  });

  function update() {
    frames.forEach(function (frame, i) {
      hints[i].hidden = frame.scrollWidth <= frame.clientWidth + 1 || frame.closest("details:not([open])") !== null;
    });
  }

  update();
  window.addEventListener("resize", update);
  document.addEventListener("toggle", update, true);  /* <details> does not bubble its toggle; capture it */
})();
