// Progressive enhancement only: every page works without this file.
// 1. <time datetime="...Z"> shows UTC; hovering shows the viewer's local time.
// 2. htmx requests carry the CSRF token from <meta name="csrf-token"> (forms carry it already).
(function () {
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d)) el.title = "local: " + d.toLocaleString() + " (" + Intl.DateTimeFormat().resolvedOptions().timeZone + ")";
    });
  }
  document.addEventListener("DOMContentLoaded", function () { localTimes(document); });
  document.addEventListener("htmx:afterSwap", function (e) { localTimes(e.target); });
  document.addEventListener("htmx:configRequest", function (e) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) e.detail.headers["X-CSRF-Token"] = meta.content;
  });
})();
