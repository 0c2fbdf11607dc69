// callerdesk's small amount of behaviour. Everything works without it: the pages already say
// when a code expires, when a new one can be sent, and a form posts the usual way. Times stay in
// UTC everywhere, the zone the audit log's date filters use.
(function () {
  "use strict";

  function format(seconds) {
    var m = Math.floor(seconds / 60);
    var s = seconds % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }

  // A live countdown next to a code's expiry time.
  function countdown(el) {
    if (el.dataset.started) return;
    el.dataset.started = "1";
    var deadline = Date.now() + parseInt(el.dataset.countdown, 10) * 1000;
    var live = document.createElement("span");
    live.className = "countdown";
    el.after(live);
    function tick() {
      var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
      live.textContent = left > 0 ? " — " + format(left) + " left" : " — expired: send a new code";
      if (left > 0) setTimeout(tick, 1000);
    }
    tick();
  }

  // "Send a new code in 42 s": the button waits out the minute between codes, then enables
  // itself. Without this script the button stays usable and the server says how long to wait.
  function waitButton(button) {
    if (button.dataset.started) return;
    button.dataset.started = "1";
    var wait = parseInt(button.dataset.wait, 10);
    if (!(wait > 0)) return;
    var label = button.textContent;
    // The button itself now says how long to wait: the sentence for pages without this
    // script would say it twice.
    var hint = document.getElementById(button.getAttribute("aria-describedby") || "");
    if (hint) hint.hidden = true;
    var deadline = Date.now() + wait * 1000;
    button.disabled = true;
    function tick() {
      var left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
      if (left > 0) {
        button.textContent = label + " in " + left + " s";
        setTimeout(tick, 1000);
      } else {
        button.textContent = label;
        button.disabled = false;
      }
    }
    tick();
  }

  function scan(root) {
    root.querySelectorAll("time[data-countdown]").forEach(countdown);
    root.querySelectorAll("button[data-wait]").forEach(waitButton);
  }

  // While Plivo answers, the button says so ("Sending…") and a second press does nothing.
  function busy(form, on) {
    var button = form.querySelector("button[data-busy]");
    if (!button) return;
    if (on) {
      button.dataset.label = button.textContent;
      button.textContent = button.dataset.busy;
      button.setAttribute("aria-disabled", "true");
      button.classList.add("is-busy");
      form.dataset.busy = "1";
      if (button.dataset.busyNote && !form.querySelector(".busy-note")) {
        var note = document.createElement("p");
        note.className = "hint busy-note";
        note.setAttribute("role", "status");
        note.textContent = button.dataset.busyNote;
        button.after(note);
      }
    } else if (form.dataset.busy) {
      button.textContent = button.dataset.label || button.textContent;
      button.removeAttribute("aria-disabled");
      button.classList.remove("is-busy");
      delete form.dataset.busy;
      var old = form.querySelector(".busy-note");
      if (old) old.remove();
    }
  }

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!(form instanceof HTMLFormElement)) return;
    if (form.dataset.busy) {
      e.preventDefault();
      return;
    }
    busy(form, true);
  });
  // Back to the page from the browser's history: no form is waiting any more.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-busy]").forEach(function (f) { busy(f, false); });
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    var form = e.detail.elt;
    if (form instanceof HTMLFormElement) busy(form, false);
  });
  // A form's answer replaces the notices shown before it: they were about an earlier step.
  document.addEventListener("htmx:beforeSwap", function (e) {
    var source = e.detail.requestConfig && e.detail.requestConfig.elt;
    if (source instanceof HTMLFormElement && e.detail.shouldSwap) {
      document.querySelectorAll("main > .notice").forEach(function (n) { n.remove(); });
    }
  });

  document.addEventListener("DOMContentLoaded", function () { scan(document); });
  document.addEventListener("htmx:afterSettle", function (e) { scan(e.target); });
})();
