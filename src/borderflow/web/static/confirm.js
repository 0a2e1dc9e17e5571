/* Asks before a form with consequences is sent: a form, or the button that sends it, with a
   data-confirm="question" attribute (in place of inline onsubmit/onclick handlers, which the
   Content-Security-Policy forbids). */
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var button = event.submitter;
    var question = (button && button.getAttribute("data-confirm")) ||
      (form && form.getAttribute && form.getAttribute("data-confirm"));
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  }, true);
})();
