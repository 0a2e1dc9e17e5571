/* The park's display board: says so when its figures are older than the limit (the page
   could not fetch newer ones: the network or the platform is down). The age counts from
   the last screen this page received, on this machine's clock. */
(function () {
  "use strict";
  var turn = document.getElementById("board-turn");
  if (!turn) { return; }
  var limit = 1000 * parseInt(turn.getAttribute("data-stale-seconds") || "60", 10);
  var received = Date.now();
  document.body.addEventListener("htmx:afterSwap", function () { received = Date.now(); });
  function check() {
    document.body.classList.toggle("is-stale", Date.now() - received > limit);
  }
  window.setInterval(check, 1000);
  check();
})();
