// The front desk's caller mode: what the caller says goes to the assistant through the
// front desk, which vouches for the staff member; replies are shown with their options.
(function () {
  "use strict";
  var section = document.getElementById("caller");
  if (!section) return;
  var conversation = section.dataset.conversation;
  var csrf = section.dataset.csrf;
  var log = document.getElementById("caller-log");
  var status = document.getElementById("caller-status");
  var form = document.getElementById("caller-form");
  var input = document.getElementById("caller-input");

  function add(tag, className, text, parent) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    (parent || log).appendChild(node);
    return node;
  }

  function card(data) {
    var box = add("section", "card card-" + (data.outcome || "incomplete"));
    box.setAttribute("aria-label", "Recommendation");
    add("h3", "", data.title || "", box);
    if (data.summary) add("p", "", data.summary, box);
    if (data.earliest_date) add("p", "", "Earliest date: " + data.earliest_date, box);
    [["reasons", "Why"], ["next_steps", "Before treatment"]].forEach(function (pair) {
      var items = data[pair[0]] || [];
      if (!items.length) return;
      add("h4", "", pair[0] === "next_steps" && data.next_steps_title ? data.next_steps_title : pair[1], box);
      var list = add("ul", "", undefined, box);
      items.forEach(function (item) { add("li", "", item, list); });
    });
    (data.notes || []).forEach(function (note) { add("p", "", note, box); });
    if (data.disclaimer) add("p", "hint", data.disclaimer, box);
  }

  function clearOptions() {
    log.querySelectorAll(".options button").forEach(function (b) { b.disabled = true; });
  }

  function say(payload, shown) {
    clearOptions();
    if (shown) add("p", "message user", "Caller: " + shown);
    status.textContent = "Waiting for the assistant…";
    fetch("/api/caller/" + encodeURIComponent(conversation) + "/messages", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ message: payload })
    })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error(body.detail || "status " + response.status);
          return body;
        });
      })
      .then(function (replies) {
        status.textContent = "";
        replies.forEach(function (reply) {
          if (reply.card) card(reply.card);
          if (reply.text) add("p", "message bot", reply.text);
          if (reply.buttons && reply.buttons.length) {
            var group = add("div", "options");
            group.setAttribute("role", "group");
            group.setAttribute("aria-label", "Options");
            reply.buttons.forEach(function (button) {
              var choice = add("button", "", button.title, group);
              choice.type = "button";
              choice.addEventListener("click", function () { say(button.payload, button.title); });
            });
          }
        });
        log.scrollTop = log.scrollHeight;
        input.focus();
      })
      .catch(function (error) {
        status.textContent = "Not sent: " + error.message;
        if (shown) input.value = shown;
      });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    say(text, text);
  });
  say("/greet", null);
})();
