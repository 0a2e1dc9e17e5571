/* The console's control form: the confirmation question names what is about to happen
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
  function start() {
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
