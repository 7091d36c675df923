// Accord hosted flow: progressive enhancement only. Every step works without this file.
(function () {
  "use strict";
  // Move focus to the first error summary or error message, so it is announced.
  var summary = document.querySelector(".error-summary");
  if (summary) { summary.focus(); }
  var invalid = document.querySelector("[aria-invalid=true]");
  if (invalid && !summary) { invalid.focus(); }
  // Live filtering of the platform list as the customer types (the form still submits without JS).
  var q = document.getElementById("q");
  if (q) {
    q.addEventListener("input", function () {
      var needle = q.value.trim().toLowerCase();
      document.querySelectorAll(".category").forEach(function (section) {
        var shown = 0;
        section.querySelectorAll(".platforms li").forEach(function (li) {
          var match = !needle || li.textContent.toLowerCase().indexOf(needle) !== -1;
          li.hidden = !match;
          if (match) { shown++; }
        });
        section.hidden = shown === 0;
      });
    });
  }
  // Exit mid-flow: ask once in an accessible dialog. `showModal` makes the rest of the page
  // inert (focus stays in the dialog) and Escape cancels it; "Go back" closes it and returns
  // focus to the control. Without JavaScript (or <dialog>), the link opens the confirm page.
  var exitLink = document.querySelector("[data-exit]");
  var dialog = document.getElementById("exit-dialog");
  if (exitLink && dialog && typeof dialog.showModal === "function") {
    exitLink.addEventListener("click", function (e) {
      e.preventDefault();
      dialog.showModal();
    });
    dialog.querySelectorAll("[data-exit-cancel]").forEach(function (b) {
      b.addEventListener("click", function () { dialog.close(); });
    });
    dialog.addEventListener("close", function () { exitLink.focus(); });
  }
  // Prevent double submission of forms (a second click would only meet a used `state`).
  document.querySelectorAll("form[method=post]").forEach(function (form) {
    form.addEventListener("submit", function () {
      setTimeout(function () {
        form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      }, 0);
    });
  });
})();
