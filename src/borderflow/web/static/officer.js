/* The checkpoint's trip page: once the live part (polled by htmx) says another officer
   changed the trip, the action forms are dimmed so the officer reloads before acting; the
   server refuses an out-of-date action anyway. */
(function () {
  "use strict";
  function mark() {
    var changed = document.querySelector("#live [data-changed]") !== null;
    var forms = document.querySelectorAll(".step-actions");
    for (var i = 0; i < forms.length; i++) {
      forms[i].classList.toggle("is-stale", changed);
    }
  }
  document.addEventListener("htmx:afterSettle", mark);
  document.addEventListener("DOMContentLoaded", mark);
})();
