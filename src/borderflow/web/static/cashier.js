// The cashier desk: a payment form sends once (the button is disabled while it goes); the
// server records one payment for a form sent twice anyway.
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("[data-submit-once]")) {
    const form = button.form;
    if (!form) continue;
    form.addEventListener("submit", () => {
      window.setTimeout(() => { button.disabled = true; }, 0);
    });
  }
});
