/* The enterprise portal's declaration forms: offer only the gates that can take the
   declaration (its direction at the gate and the goods groups of the HS codes typed), and show
   the closed days of the chosen gate next to the date. The server checks everything again:
   without this script the form works the same, it only offers every gate. */
(function () {
  "use strict";

  var FIXED_FLOW = { "export": "export", "import": "import" };

  function words(text) {
    return (text || "").split(/\s+/).filter(function (w) { return w; });
  }

  /* The goods group of an HS code: the longest prefix in the catalogue wins. */
  function groupOf(groups, hs) {
    var digits = (hs || "").replace(/\D/g, "");
    for (var n = Math.min(digits.length, 10); n >= 2; n--) {
      var found = groups[digits.slice(0, n)];
      if (found) { return found; }
    }
    return null;
  }

  /* The direction at the gate: fixed by export/import, else the form's flow field. */
  function flowOf(form) {
    var direction = form.querySelector("[name=direction]");
    if (!direction) { return form.getAttribute("data-flow") || ""; }
    var fixed = FIXED_FLOW[direction.value];
    if (fixed) { return fixed; }
    var flow = form.querySelector("[name=flow]");
    return flow ? flow.value : "";
  }

  function setUp(form) {
    var select = form.querySelector("[data-gate-select]");
    if (!select) { return; }
    var groups = {};
    try { groups = JSON.parse(form.getAttribute("data-hs-groups") || "{}"); } catch (e) {}
    var note = form.querySelector("[data-gate-note]");
    var date = form.querySelector("[name=requested_date]");

    function permits(option, flow, wanted) {
      if (flow && words(option.getAttribute("data-flows")).indexOf(flow) < 0) { return false; }
      var allowed = words(option.getAttribute("data-groups"));
      if (allowed.indexOf("*") >= 0) { return true; }
      return wanted.every(function (g) { return allowed.indexOf(g) >= 0; });
    }

    function update() {
      var flow = flowOf(form);
      var wanted = [];
      form.querySelectorAll("[data-hs]").forEach(function (input) {
        var g = groupOf(groups, input.value);
        if (g && wanted.indexOf(g) < 0) { wanted.push(g); }
      });
      var chosenOk = true;
      Array.prototype.forEach.call(select.options, function (option) {
        var ok = permits(option, flow, wanted);
        /* the chosen gate stays chosen (and is sent): the note says to choose another */
        option.disabled = !ok && !option.selected;
        if (option.selected) { chosenOk = ok; }
      });
      if (note) { note.hidden = chosenOk; }
      var chosen = select.options[select.selectedIndex];
      var closed = chosen ? words(chosen.getAttribute("data-closed")) : [];
      var closedChosen = !!date && closed.indexOf(date.value) >= 0;
      form.querySelectorAll("[data-closed-days]").forEach(function (p) {
        p.hidden = p.getAttribute("data-closed-days") !== select.value;
        /* a closed day chosen: its list stands out */
        p.classList.toggle("warning", closedChosen && !p.hidden);
      });
    }

    form.addEventListener("change", update);
    form.addEventListener("input", function (e) {
      if (e.target && e.target.hasAttribute("data-hs")) { update(); }
    });
    update();
  }

  function start() {
    document.querySelectorAll("form.declaration").forEach(setUp);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
