// callerdesk's small amount of behaviour: a live countdown next to a code's expiry time.
// Everything works without it: the pages already say "expires at 14:32 UTC". Times stay in
// UTC everywhere, the zone the audit log's date filters use.
(function () {
  "use strict";

  function format(seconds) {
    var m = Math.floor(seconds / 60);
    var s = seconds % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }

  function start(el) {
    if (el.dataset.started) return;
    el.dataset.started = "1";
    var deadline = Date.now() + parseInt(el.dataset.countdown, 10) * 1000;
    var exact = el.textContent;
    var live = document.createElement("span");
    live.className = "countdown";
    el.after(live);
    function tick() {
      var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
      live.textContent = left > 0 ? " — " + format(left) + " left" : " — expired: send a new code";
      if (left > 0) setTimeout(tick, 1000);
    }
    el.textContent = exact;
    tick();
  }

  function scan(root) {
    root.querySelectorAll("time[data-countdown]").forEach(start);
  }

  document.addEventListener("DOMContentLoaded", function () { scan(document); });
  document.addEventListener("htmx:afterSettle", function (e) { scan(e.target); });
})();
