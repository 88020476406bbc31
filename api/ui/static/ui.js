// Switchboard dashboard: local times, the time-zone offset for searches,
// and live updates by polling the page's fragment with If-None-Match.
// No framework; works without it too (times then read in UTC).
(function () {
  "use strict";
  var fmt = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
  });

  function localize(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d)) { el.textContent = fmt.format(d); }
    });
  }

  function setOffset() {
    var off = String(-new Date().getTimezoneOffset());
    document.querySelectorAll("input[data-tzo]").forEach(function (el) { el.value = off; });
    var tz = "";
    try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { /* old browser */ }
    if (tz) {
      document.querySelectorAll(".tzname").forEach(function (el) { el.textContent = "(" + tz + ")"; });
    }
  }

  // Do not replace what the user is working in: a focused field or a
  // typed-in reason would be lost.
  function busy(region) {
    var a = document.activeElement;
    if (a && a !== document.body && region.contains(a) && /^(INPUT|SELECT|TEXTAREA)$/.test(a.tagName)) { return true; }
    var typed = false;
    region.querySelectorAll("input:not([type=hidden])").forEach(function (el) { if (el.value) { typed = true; } });
    return typed;
  }

  function live() {
    var region = document.getElementById("live");
    var status = document.getElementById("live-status");
    if (!region || !region.dataset.live || !window.fetch) { return; }
    var url = region.dataset.live + (region.dataset.live.indexOf("?") < 0 ? "?" : "&") + "fragment=1";
    var etag = null, failures = 0;
    function tick() {
      if (document.hidden || busy(region)) { return schedule(); }
      var headers = {};
      if (etag) { headers["If-None-Match"] = etag; }
      fetch(url, { headers: headers, credentials: "same-origin", cache: "no-store" }).then(function (res) {
        if (res.status === 401) { window.location.reload(); return; }
        if (res.status === 304) { failures = 0; return; }
        if (!res.ok) { throw new Error("HTTP " + res.status); }
        var tag = res.headers.get("ETag");
        return res.text().then(function (html) {
          if (etag !== null && tag !== etag) {
            region.innerHTML = html;
            localize(region);
            if (status) { status.textContent = "Live: updated " + new Date().toLocaleTimeString() + "."; }
          }
          etag = tag;
          failures = 0;
        });
      }).catch(function () {
        failures++;
        if (status && failures === 3) { status.textContent = "Live updates paused: the gateway is not answering. Retrying."; }
      }).then(schedule);
    }
    function schedule() { setTimeout(tick, Math.min(5000 * Math.pow(2, Math.max(0, failures - 2)), 60000)); }
    // The first poll learns the ETag of what the page shows (it was
    // rendered a moment ago); later ones replace the region when it changes.
    tick();
  }

  document.addEventListener("DOMContentLoaded", function () {
    localize(document);
    setOffset();
    live();
  });
})();
