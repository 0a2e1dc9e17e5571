/* The drawings that scroll sideways on a phone (the map, the charts) keep where they were
   scrolled when their panel refreshes itself; the map opens on the staging park.
   The console's control form: the confirmation question names what is about to happen
   ("Gate closed at Huu Nghi for 2 hours: apply it now?"), built from the form's own fields
   and the page's translated question (data-question); confirm.js asks it. */
(function () {
  "use strict";
  function chosen(select) {
    var option = select && select.options[select.selectedIndex];
    return option ? option.text : "";
  }
  function update(form) {
    var question = form.getAttribute("data-question");
    if (!question) { return; }
    var hours = form.querySelector("[name=hours]");
    form.setAttribute("data-confirm", question
      .replace("{control}", chosen(form.querySelector("[name=kind]")))
      .replace("{gate}", chosen(form.querySelector("[name=gate]")))
      .replace("{hours}", hours ? hours.value : ""));
  }
  var kept = {};
  document.addEventListener("htmx:beforeSwap", function (event) {
    var panel = event.detail.target;
    if (!panel || !panel.id) { return; }
    kept[panel.id] = Array.prototype.map.call(
      panel.querySelectorAll(".map-scroll, .chart-scroll"), function (e) { return e.scrollLeft; });
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var panel = event.detail.target;
    var was = panel && kept[panel.id];
    if (!was) { return; }
    Array.prototype.forEach.call(panel.querySelectorAll(".map-scroll, .chart-scroll"),
      function (e, i) { if (was[i]) { e.scrollLeft = was[i]; } });
  });
  function centreMap() {
    var box = document.querySelector("#console-map .map-scroll");
    var park = box && box.querySelector(".node.park .marker");
    if (!park || box.scrollWidth <= box.clientWidth) { return; }
    var b = box.getBoundingClientRect();
    var p = park.getBoundingClientRect();
    box.scrollLeft = Math.max(0, p.left - b.left - b.width / 2);
  }
  function start() {
    centreMap();
    var form = document.getElementById("control-form");
    if (!form) { return; }
    update(form);
    form.addEventListener("input", function () { update(form); });
    form.addEventListener("change", function () { update(form); });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
