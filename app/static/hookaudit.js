// Progressive enhancement only: every page works without this file.
// 1. <time datetime="...Z"> shows UTC; hovering shows the viewer's local time.
// 2. htmx requests carry the CSRF token from <meta name="csrf-token"> (forms carry it already),
//    and GET filters drop empty fields so the pushed URL is a clean permalink.
(function () {
  document.documentElement.classList.add("js");
  // 4. The narrow screen's "Menu" button folds the header's nav (aria-expanded says which).
  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest(".nav-toggle");
    if (!button) return;
    var open = button.closest("header").classList.toggle("open");
    button.setAttribute("aria-expanded", open ? "true" : "false");
  });
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d)) el.title = "local: " + d.toLocaleString() + " (" + Intl.DateTimeFormat().resolvedOptions().timeZone + ")";
    });
  }
  document.addEventListener("DOMContentLoaded", function () { localTimes(document); });
  // 3. <form data-confirm="..."> asks first (no inline handlers: the CSP allows none).
  document.addEventListener("submit", function (e) {
    var msg = e.target.getAttribute && e.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) e.preventDefault();
  });
  document.addEventListener("htmx:afterSwap", function (e) { localTimes(e.target); });
  document.addEventListener("htmx:configRequest", function (e) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) e.detail.headers["X-CSRF-Token"] = meta.content;
    // Empty filter fields mean "no filter": keep them out of the pushed permalink.
    var fd = e.detail.formData;
    if (e.detail.verb === "get" && fd) {
      var empty = [];
      fd.forEach(function (v, k) { if (v === "") empty.push(k); });
      empty.forEach(function (k) { fd.delete(k); });
    }
  });
})();
