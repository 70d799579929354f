// Staff alerts (docs/operating.md, "Staff alerts"): the number of records with an alert
// nobody has followed up goes into the tab's title; a new alert plays a short tone (Web
// Audio, once the person has used the page, as browsers require) and shows a desktop
// notification (once staff allowed them with the button; never asked on load). Alerts
// name no person and no answer: only what happened and the record's number.
(function () {
  "use strict";
  var box = document.getElementById("alerts");
  if (!box) return;
  var status = document.getElementById("alerts-status");
  var button = document.getElementById("alerts-notify");
  var baseTitle = document.title;
  var KEY = "needlecheck.alerts.seen";
  var HEADLINES = {
    urgent: "An urgent screening",
    handoff: "A person is waiting",
    waiting: "A person is still waiting"
  };
  var audio = null;
  var seen = null;
  try { seen = window.sessionStorage.getItem(KEY); } catch (e) { seen = null; }
  seen = seen === null ? null : parseInt(seen, 10) || 0;

  function unlockAudio() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    if (!audio) {
      try { audio = new Context(); } catch (e) { audio = null; return; }
    }
    if (audio.state === "suspended") audio.resume();
  }
  // Browsers let a page play sound only after the person has interacted with it.
  ["pointerdown", "keydown"].forEach(function (name) {
    document.addEventListener(name, unlockAudio, { once: true, capture: true });
  });

  function tone(urgent) {
    if (!audio || audio.state !== "running") return;
    var at = audio.currentTime;
    (urgent ? [0, 0.25] : [0]).forEach(function (offset) {
      var oscillator = audio.createOscillator();
      var gain = audio.createGain();
      oscillator.type = "sine";
      oscillator.frequency.value = urgent ? 880 : 660;
      gain.gain.setValueAtTime(0.0001, at + offset);
      gain.gain.exponentialRampToValueAtTime(0.3, at + offset + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + offset + 0.2);
      oscillator.connect(gain).connect(audio.destination);
      oscillator.start(at + offset);
      oscillator.stop(at + offset + 0.22);
    });
  }

  function canNotify() { return "Notification" in window; }

  function showButton() {
    if (!button) return;
    button.hidden = !canNotify() || window.Notification.permission !== "default";
  }

  function notify(alert) {
    if (!canNotify() || window.Notification.permission !== "granted") return;
    try {
      var shown = new window.Notification(HEADLINES[alert.kind] || "needlecheck", {
        body: "Record #" + alert.record_id + ": open the front desk",
        tag: "needlecheck-alert-" + alert.id
      });
      shown.onclick = function () { window.focus(); window.location.href = alert.path; };
    } catch (e) { /* some browsers allow notifications from a service worker only */ }
  }

  function remember(latest) {
    seen = latest;
    try { window.sessionStorage.setItem(KEY, String(latest)); } catch (e) { /* private mode */ }
  }

  function show(body) {
    document.title = body.count > 0 ? "(" + body.count + ") " + baseTitle : baseTitle;
    if (status) {
      status.textContent = body.count === 0 ? "" :
        body.count === 1 ? "1 record needs attention now." :
        body.count + " records need attention now.";
    }
    if (seen === null) {
      // The first look on this tab: what is already there is in the queue, not new.
      remember(body.latest);
    } else if (body.latest > seen) {
      var fresh = body.alerts.filter(function (a) { return a.id > seen; });
      if (fresh.length) {
        tone(fresh.some(function (a) { return a.kind === "urgent"; }));
        fresh.slice(0, 3).forEach(notify);
      }
      remember(body.latest);
    } else if (body.latest < seen) {
      remember(body.latest);  // another database (a restore): start from its newest
    }
    box.setAttribute("data-ready", "true");
  }

  function poll() {
    fetch("/api/alerts", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) { if (body) show(body); })
      .catch(function () { /* the next tick tries again */ });
  }

  if (button) {
    button.addEventListener("click", function () {
      unlockAudio();
      if (!canNotify()) return;
      var asked = window.Notification.requestPermission(showButton);
      if (asked && asked.then) asked.then(showButton);
    });
  }
  showButton();
  poll();
  window.setInterval(poll, 3000);
})();
