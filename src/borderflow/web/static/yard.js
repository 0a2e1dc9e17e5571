/* The yard page: a movement form is sent once; its button is disabled right after the first
   click (the server also records a second send of the same form only once). */
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || !form.matches || !form.matches("form.move")) {
      return;
    }
    var button = form.querySelector("button[type=submit]");
    if (button) {
      window.setTimeout(function () { button.disabled = true; }, 0);
    }
  });
})();
