// Live takeover: the conversation, polled every two seconds, and the staff member's
// replies, which the front desk sends to the person on their own channel.
(function () {
  "use strict";
  var section = document.getElementById("takeover");
  if (!section) return;
  var conversation = section.dataset.conversation;
  var csrf = section.dataset.csrf;
  var log = document.getElementById("takeover-log");
  var status = document.getElementById("takeover-status");
  var form = document.getElementById("takeover-form");
  var input = document.getElementById("takeover-input");
  var outcome = document.getElementById("takeover-outcome");
  var findings = document.getElementById("takeover-findings");
  var api = "/api/takeover/" + encodeURIComponent(conversation);
  var shown = -1;
  var LABELS = { person: "Person", assistant: "Assistant", staff: "" };

  function line(message) {
    var node = document.createElement("p");
    var kind = message.speaker === "person" ? "user" : message.speaker === "staff" ? "staff" : "bot";
    node.className = "message " + kind;
    var who = message.speaker === "staff" ? (message.staff || "Staff") : LABELS[message.speaker];
    node.textContent = who + ": " + message.text;
    log.appendChild(node);
  }

  function refresh() {
    return fetch(api, { headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error(body.detail || "status " + response.status);
          return body;
        });
      })
      .then(function (state) {
        var added = false;
        state.messages.forEach(function (message) {
          if (message.index > shown) { line(message); shown = message.index; added = true; }
        });
        if (added) log.scrollTop = log.scrollHeight;
        outcome.textContent = (state.outcome ? "Outcome so far: " + state.outcome.replace(/_/g, " ") : "No outcome yet") +
          " (" + state.answered + " answered). Assistant " + (state.paused ? "paused" : "answering") + ".";
        findings.textContent = "";
        state.findings.forEach(function (finding) {
          var item = document.createElement("li");
          item.textContent = finding.severity + ": " + finding.reason;
          findings.appendChild(item);
        });
        if (status.dataset.error) { status.textContent = ""; delete status.dataset.error; }
      })
      .catch(function (error) {
        status.textContent = "Could not refresh: " + error.message;
        status.dataset.error = "1";
      });
  }

  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = input.value.trim();
      if (!text) return;
      status.textContent = "Sending…";
      fetch(api + "/messages", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ text: text })
      })
        .then(function (response) {
          return response.json().then(function (body) {
            if (!response.ok) throw new Error(body.detail || "status " + response.status);
            return body;
          });
        })
        .then(function (sent) {
          input.value = "";
          status.textContent = sent.delivered ? "Sent." : "Stored, but the channel did not accept it.";
          return refresh();
        })
        .catch(function (error) {
          status.textContent = "Not sent: " + (typeof error.message === "string" ? error.message : "try again");
        });
    });
  }

  refresh();
  setInterval(refresh, 2000);
})();
