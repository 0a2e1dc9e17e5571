/* The enterprise's declaration form and gate slots, enhanced. Without this script everything
   works the same through the server: "Add a goods line" sends the form and it comes back with
   one more row; ticking "Remove" takes a row out when the form is sent.
   With it: a row is added in place (from the form's <template> of a row, numbered next), a row
   ticked for removal is greyed out, and a slot form is sent only once (the server books once
   anyway). */
(function () {
  "use strict";

  function addRow(form, button) {
    var section = button.getAttribute("data-add");
    var template = form.querySelector('template[data-row-template="' + section + '"]');
    var count = form.querySelector('input[data-count="' + section + '"]');
    if (!template || !count) { return false; }
    var n = parseInt(count.value, 10) || 0;
    var limit = parseInt(count.getAttribute("data-limit"), 10) || 0;
    if (limit && n >= limit) { return false; }
    var html = template.innerHTML.split("__i__").join(String(n))
      .split("__n__").join(String(n + 1));
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var row = holder.firstElementChild;
    if (!row) { return false; }
    template.parentNode.insertBefore(row, template);
    count.value = String(n + 1);
    if (limit && n + 1 >= limit) { button.hidden = true; }
    var first = row.querySelector("input:not([type=checkbox]), select");
    if (first) { first.focus(); }
    return true;
  }

  function setUpForm(form) {
    form.addEventListener("click", function (event) {
      var button = event.target.closest ? event.target.closest("button[data-add]") : null;
      if (button && addRow(form, button)) { event.preventDefault(); }
    });
    form.addEventListener("change", function (event) {
      var box = event.target;
      if (!box.hasAttribute || !box.hasAttribute("data-remove")) { return; }
      var row = box.closest("fieldset.item");
      if (row) { row.classList.toggle("removed", box.checked); }
    });
    form.querySelectorAll("input[data-remove]:checked").forEach(function (box) {
      var row = box.closest("fieldset.item");
      if (row) { row.classList.add("removed"); }
    });
  }

  function sendOnce(form) {
    form.addEventListener("submit", function (event) {
      if (event.defaultPrevented) { return; }
      if (form.getAttribute("data-sent")) { event.preventDefault(); return; }
      form.setAttribute("data-sent", "1");
      form.classList.add("sending");
    });
    /* back to the page from the browser's cache: the form may be sent again */
    window.addEventListener("pageshow", function () {
      form.removeAttribute("data-sent");
      form.classList.remove("sending");
    });
  }

  function start() {
    document.querySelectorAll("form.new-declaration").forEach(setUpForm);
    document.querySelectorAll("form.slot-grid-form, form.cancel-booking, form.cancel-form")
      .forEach(sendOnce);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
