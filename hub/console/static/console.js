// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  // Ask before actions marked data-confirm (approve, suspend, retire, replay...).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });
  // Print buttons on printable reports.
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-print]")) {
      window.print();
    }
  });
  // The overview refreshes itself when asked to (its form keeps the choice in the address).
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("[data-auto-refresh]");
    if (form) {
      var seconds = parseInt(form.getAttribute("data-auto-refresh"), 10) || 60;
      window.setTimeout(function () { window.location.reload(); }, seconds * 1000);
    }
  });
  // Move focus to the first error summary so keyboard and screen-reader users hear it.
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.querySelector("[data-error-summary]");
    if (summary) {
      summary.focus();
    }
  });
})();
