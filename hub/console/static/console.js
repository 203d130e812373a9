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
  // The agreement editor's line numbers: as many as the text has lines, scrolled with it.
  function lineNumbers(gutter, textarea) {
    var lines = textarea.value.split("\n").length;
    var marked = {};
    gutter.querySelectorAll(".problem-line").forEach(function (span) { marked[span.textContent] = true; });
    if (gutter.children.length !== lines) {
      var fragment = document.createDocumentFragment();
      for (var n = 1; n <= lines; n += 1) {
        var span = document.createElement("span");
        span.textContent = String(n);
        if (marked[String(n)]) { span.className = "problem-line"; }
        fragment.appendChild(span);
        fragment.appendChild(document.createTextNode("\n"));
      }
      gutter.textContent = "";
      gutter.appendChild(fragment);
    }
    gutter.scrollTop = textarea.scrollTop;
  }
  // Put the cursor on a line of a textarea (the error links of the agreement editor).
  function goToLine(textarea, line, column) {
    var lines = textarea.value.split("\n");
    var start = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i += 1) { start += lines[i].length + 1; }
    var length = (lines[line - 1] || "").length;
    var at = start + Math.min(Math.max((column || 1) - 1, 0), length);
    textarea.focus();
    textarea.setSelectionRange(column ? at : start, column ? at : start + length);
    var lineHeight = parseFloat(window.getComputedStyle(textarea).lineHeight) || 20;
    textarea.scrollTop = Math.max(0, (line - 3) * lineHeight);
    textarea.dispatchEvent(new Event("scroll"));
  }
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-line]");
    if (!link) { return; }
    var textarea = document.querySelector(link.getAttribute("href"));
    if (textarea && textarea.setSelectionRange) {
      event.preventDefault();
      goToLine(textarea, parseInt(link.getAttribute("data-line"), 10), parseInt(link.getAttribute("data-column") || "0", 10));
    }
  });
  // A table that scrolls sideways on a small screen can be scrolled from the keyboard too.
  function scrollableTables() {
    document.querySelectorAll("table.data, table.returns-grid").forEach(function (table) {
      if (table.scrollWidth > table.clientWidth + 1) {
        table.setAttribute("tabindex", "0");
      }
    });
  }
  // Chart points: one tab stop per chart, arrow keys move along a line and between lines.
  document.addEventListener("keydown", function (event) {
    var point = event.target.closest && event.target.closest("[data-chart] .point");
    if (!point) { return; }
    var moves = {ArrowRight: [0, 1], ArrowLeft: [0, -1], ArrowDown: [1, 0], ArrowUp: [-1, 0]};
    var move = moves[event.key];
    if (!move) { return; }
    var chart = point.closest("[data-chart]");
    var row = parseInt(point.getAttribute("data-row"), 10) + move[0];
    var col = parseInt(point.getAttribute("data-col"), 10) + move[1];
    var next = chart.querySelector('.point[data-row="' + row + '"][data-col="' + col + '"]');
    event.preventDefault();
    if (next) {
      point.setAttribute("tabindex", "-1");
      next.setAttribute("tabindex", "0");
      next.focus();
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
    document.querySelectorAll("[data-gutter-for]").forEach(function (gutter) {
      var textarea = document.getElementById(gutter.getAttribute("data-gutter-for"));
      if (!textarea) { return; }
      var update = function () { lineNumbers(gutter, textarea); };
      textarea.addEventListener("input", update);
      textarea.addEventListener("scroll", update);
      update();
    });
    scrollableTables();
    window.addEventListener("resize", scrollableTables);
    var summary = document.querySelector("[data-error-summary]");
    if (summary) {
      summary.focus();
    }
  });
})();
