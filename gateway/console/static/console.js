// The console's only script besides htmx (CSP: script-src 'self'; no inline handlers).
// Progressive enhancement: every page works with plain forms; this adds confirmations
// and the editor's line-number gutter.
(function () {
  "use strict";
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { ev.preventDefault(); }
  }, true);

  function syncGutter(area) {
    var gutter = document.getElementById(area.getAttribute("data-gutter"));
    if (!gutter) { return; }
    var bad = (area.getAttribute("data-bad-lines") || "").split(",").filter(Boolean);
    var lines = area.value.split("\n").length;
    var out = [];
    for (var i = 1; i <= lines; i++) {
      out.push(bad.indexOf(String(i)) >= 0 ? '<span class="bad">' + i + "</span>" : String(i));
    }
    gutter.innerHTML = out.join("\n");
    gutter.scrollTop = area.scrollTop;
  }
  function initEditors() {
    document.querySelectorAll("textarea[data-gutter]").forEach(function (area) {
      syncGutter(area);
      area.addEventListener("input", function () { syncGutter(area); });
      area.addEventListener("scroll", function () { syncGutter(area); });
      area.addEventListener("keydown", function (ev) {
        if (ev.key === "Tab") {
          ev.preventDefault();
          var s = area.selectionStart;
          area.setRangeText("\t", s, area.selectionEnd, "end");
          syncGutter(area);
        }
      });
      var line = parseInt(area.getAttribute("data-focus-line") || "0", 10);
      if (line > 0) {
        var lines = area.value.split("\n");
        var start = lines.slice(0, line - 1).join("\n").length + (line > 1 ? 1 : 0);
        area.focus();
        area.setSelectionRange(start, start + (lines[line - 1] || "").length);
        area.scrollTop = Math.max(0, (line - 5) * 18);
      }
    });
  }
  document.addEventListener("DOMContentLoaded", initEditors);
  document.addEventListener("htmx:afterSettle", initEditors);
})();
