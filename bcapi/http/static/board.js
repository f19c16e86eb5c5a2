/* bcapi board pages: small enhancements only; every page works without this script. */
document.addEventListener("DOMContentLoaded", function () {
  // A print button (the report prints with the browser's own command too).
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
  // After a form is sent: move focus to its error summary or its confirmation, so that a
  // screen reader user hears what happened and a keyboard user starts from there.
  var target = document.querySelector("[data-focus]");
  if (target) { target.focus(); }
});
