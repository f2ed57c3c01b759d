// Progressive enhancement only: every page works without this file.
// 1. <time datetime="...Z"> shows UTC, or the viewer's local time after the header's toggle
//    (remembered in localStorage); times that share a second in one table show milliseconds
//    (microseconds when those collide too). The stored and exported times stay UTC.
// 2. htmx requests carry the CSRF token from <meta name="csrf-token"> (forms carry it already),
//    and GET filters drop empty fields so the pushed URL is a clean permalink.
// 3. <form data-confirm="..."> asks first (no inline handlers: the CSP allows none).
// 4. "/" focuses the header's search box (not while typing in a field).
// 5. Dragging across a histogram (svg.histogram) narrows the page's range to the span.
// 6. Inputs with data-suggest="host|guest" fill their <datalist> from /api/v1/suggest.
// 7. The event page scrolls the first XML element that matched a rule (mark.matched) into view.
(function () {
  document.documentElement.classList.add("js");
  // 4. The narrow screen's "Menu" button folds the header's nav (aria-expanded says which).
  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest(".nav-toggle");
    if (!button) return;
    var open = button.closest("header").classList.toggle("open");
    button.setAttribute("aria-expanded", open ? "true" : "false");
  });
  var TZ_KEY = "hookaudit.tz";
  function tzMode() {
    try { return localStorage.getItem(TZ_KEY) === "local" ? "local" : "utc"; } catch (e) { return "utc"; }
  }
  function pad(n, w) { n = String(n); while (n.length < (w || 2)) n = "0" + n; return n; }
  // "2026-11-25T18:13:46.123456Z" -> parts in UTC or local time, with the microseconds
  function parts(iso, mode) {
    var d = new Date(iso);
    if (isNaN(d)) return null;
    var frac = (iso.match(/\.(\d+)/) || [null, "000000"])[1];
    frac = (frac + "000000").slice(0, 6);
    var utc = mode === "utc";
    var day = (utc ? d.getUTCFullYear() : d.getFullYear()) + "-" + pad((utc ? d.getUTCMonth() : d.getMonth()) + 1) +
      "-" + pad(utc ? d.getUTCDate() : d.getDate());
    var clock = pad(utc ? d.getUTCHours() : d.getHours()) + ":" + pad(utc ? d.getUTCMinutes() : d.getMinutes()) +
      ":" + pad(utc ? d.getUTCSeconds() : d.getSeconds());
    return { second: day + " " + clock, frac: frac, date: d };
  }
  function renderTimes(root) {
    var mode = tzMode();
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    var groups = {};
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var p = parts(el.getAttribute("datetime"), mode);
      if (!p) return;
      el._p = p;
      var scope = el.closest("table") || document.body;
      if (!scope._tg) scope._tg = Math.random().toString(36).slice(2);
      var key = scope._tg + "|" + p.second;
      (groups[key] = groups[key] || []).push(el);
      el.title = mode === "utc" ? "local: " + p.date.toLocaleString() + " (" + zone + ")"
                                : "UTC: " + el.getAttribute("datetime");
    });
    Object.keys(groups).forEach(function (key) {
      var els = groups[key];
      var ms = {};
      els.forEach(function (el) { var k = el._p.frac.slice(0, 3); ms[k] = (ms[k] || 0) + 1; });
      els.forEach(function (el) {
        var text = el._p.second;
        if (els.length > 1) text += "." + (ms[el._p.frac.slice(0, 3)] > 1 ? el._p.frac : el._p.frac.slice(0, 3));
        el.textContent = text;
        el.classList.toggle("subsecond", els.length > 1);
      });
    });
    var btn = document.getElementById("tz-toggle");
    if (btn) {
      btn.textContent = mode === "utc" ? "Times: UTC" : "Times: local";
      btn.title = mode === "utc" ? "show times in " + zone : "show times in UTC";
      btn.setAttribute("aria-pressed", mode === "local" ? "true" : "false");
    }
    document.querySelectorAll(".tz-name").forEach(function (el) { el.textContent = mode === "utc" ? "UTC" : zone; });
  }
  document.addEventListener("DOMContentLoaded", function () {
    renderTimes(document);
    // 7. the matched element: into the XML box's view and the window's (unless a #fragment chose)
    var matched = document.querySelector("#xml mark.matched");
    if (matched && !window.location.hash) matched.scrollIntoView({ block: "center" });
    var btn = document.getElementById("tz-toggle");
    if (btn) btn.addEventListener("click", function () {
      try { localStorage.setItem(TZ_KEY, tzMode() === "utc" ? "local" : "utc"); } catch (e) { /* private mode */ }
      renderTimes(document);
    });
  });
  document.addEventListener("submit", function (e) {
    var msg = e.target.getAttribute && e.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) e.preventDefault();
  });
  document.addEventListener("htmx:afterSwap", function () { renderTimes(document); });
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

  // 4. "/" -> the search box
  document.addEventListener("keydown", function (e) {
    if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    var box = document.getElementById("site-search");
    if (box) { e.preventDefault(); box.focus(); box.select(); }
  });

  // 5. drag across a histogram
  var drag = null, justDragged = false;
  function viewX(svg, clientX) {
    var r = svg.getBoundingClientRect();
    return (clientX - r.left) / r.width * Number(svg.dataset.viewW);
  }
  function timeAt(svg, x) {
    var px = Number(svg.dataset.plotX), pw = Number(svg.dataset.plotW);
    var t0 = Date.parse(svg.dataset.since), t1 = Date.parse(svg.dataset.until);
    var f = Math.min(Math.max((x - px) / pw, 0), 1);
    return new Date(t0 + f * (t1 - t0)).toISOString();
  }
  document.addEventListener("pointerdown", function (e) {
    var svg = e.target.closest && e.target.closest("svg.histogram");
    if (!svg || e.button !== 0) return;
    drag = { svg: svg, x0: viewX(svg, e.clientX), x1: null, sel: svg.querySelector(".hg-sel") };
  });
  document.addEventListener("pointermove", function (e) {
    if (!drag) return;
    drag.x1 = viewX(drag.svg, e.clientX);
    var a = Math.min(drag.x0, drag.x1), b = Math.max(drag.x0, drag.x1);
    drag.sel.setAttribute("x", a);
    drag.sel.setAttribute("width", b - a);
  });
  document.addEventListener("pointerup", function () {
    if (!drag) return;
    var d = drag;
    drag = null;
    if (d.x1 === null || Math.abs(d.x1 - d.x0) < 6) { d.sel.setAttribute("width", 0); return; }  // a click
    justDragged = true;
    setTimeout(function () { justDragged = false; }, 0);
    var a = timeAt(d.svg, Math.min(d.x0, d.x1)), b = timeAt(d.svg, Math.max(d.x0, d.x1));
    var base = d.svg.dataset.base;
    var sep = base.indexOf("?") < 0 ? "?" : (/[?&]$/.test(base) ? "" : "&");
    window.location.assign(base + sep + "since=" + encodeURIComponent(a) + "&until=" + encodeURIComponent(b));
  });
  // the click that ends a drag must not follow the bar's link
  document.addEventListener("click", function (e) {
    if (justDragged && e.target.closest && e.target.closest("svg.histogram")) e.preventDefault();
  }, true);

  // 6. autocomplete of host / guest filter inputs
  var timers = new WeakMap();
  document.addEventListener("input", function (e) {
    var el = e.target, field = el.dataset && el.dataset.suggest;
    var list = field && el.list;
    if (!list) return;
    clearTimeout(timers.get(el));
    timers.set(el, setTimeout(function () {
      fetch("/api/v1/suggest?field=" + field + "&prefix=" + encodeURIComponent(el.value), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : { values: [] }; })
        .then(function (data) {
          list.replaceChildren.apply(list, data.values.map(function (v) {
            var o = document.createElement("option"); o.value = v; return o;
          }));
        }).catch(function () { /* suggestions are a convenience */ });
    }, 150));
  });
})();
