/* needlecheck chat widget: a launcher and a chat panel on a clinic's web page.
 *
 * Served as /widget.js with socket.io-client's browser build in front of it, inside one
 * function scope, so the page gets no globals. Configured by a JSON block:
 *   <script type="application/json" id="needlecheck-config">{"clinicName": "..."}</script>
 * or, on pages that allow inline scripts, by window.needlecheckConfig.
 *
 * The conversation lives in localStorage (so it survives a reload and shows in a second
 * tab) until the person deletes it; messages typed while offline wait in an outbox.
 * Beside the session ID it keeps the session's key, which the server gives once: only
 * the key resumes the session (the ID alone is seen by staff and stores).
 */
/* global io */
(function () {
  "use strict";

  var script = document.currentScript;
  var scriptOrigin = script ? new URL(script.src, location.href).origin : location.origin;

  var STRINGS = {
    en: {
      launcher: "Chat with us",
      launcherLabel: "Open chat with {clinic}",
      panelLabel: "Chat with {clinic}",
      title: "{clinic}",
      subtitle: "Microneedling assistant",
      close: "Close chat",
      message: "Message",
      placeholder: "Type your message",
      send: "Send",
      conversation: "Conversation",
      typing: "The assistant is typing",
      you: "You",
      assistant: "Assistant",
      privacyTitle: "Before we start",
      privacy:
        "This assistant is a computer program, not a clinician. It asks about your skin and " +
        "health so the clinic can suggest the right consultation. Your answers are kept only " +
        "if you agree when asked, are used only to prepare your consultation, and you can " +
        "delete this conversation at any time.",
      start: "Start the chat",
      erase: "Delete my conversation",
      eraseConfirm: "Delete this conversation and any answers the clinic stored from it?",
      eraseYes: "Yes, delete it",
      eraseNo: "Keep it",
      erased: "Your conversation was deleted.",
      eraseFailed: "Sorry, the conversation could not be deleted just now. Please try again.",
      eraseIncomplete: "Your conversation was not completely deleted. Please try again in a minute.",
      offline: "Connection lost. Reconnecting… Your messages will be sent when it is back.",
      online: "Connected again.",
      queued: "waiting to send",
      why: "Why",
      earliest: "Earliest date",
      next: "Before your treatment",
      recommendation: "Your recommendation"
    },
    es: {
      launcher: "Chatea con nosotros",
      launcherLabel: "Abrir el chat con {clinic}",
      panelLabel: "Chat con {clinic}",
      title: "{clinic}",
      subtitle: "Asistente de microagujas",
      close: "Cerrar el chat",
      message: "Mensaje",
      placeholder: "Escribe tu mensaje",
      send: "Enviar",
      conversation: "Conversación",
      typing: "El asistente está escribiendo",
      you: "Tú",
      assistant: "Asistente",
      privacyTitle: "Antes de empezar",
      privacy:
        "Este asistente es un programa, no un profesional sanitario. Pregunta por tu piel y " +
        "tu salud para que la clínica te proponga la consulta adecuada. Tus respuestas solo " +
        "se guardan si lo aceptas, solo se usan para preparar tu consulta y puedes borrar " +
        "esta conversación cuando quieras.",
      start: "Empezar el chat",
      erase: "Borrar mi conversación",
      eraseConfirm: "¿Borrar esta conversación y las respuestas que la clínica guardó?",
      eraseYes: "Sí, borrarla",
      eraseNo: "Conservarla",
      erased: "Tu conversación se ha borrado.",
      eraseFailed: "No se pudo borrar la conversación. Inténtalo de nuevo.",
      eraseIncomplete: "Tu conversación no se ha borrado por completo. Inténtalo de nuevo en un minuto.",
      offline: "Sin conexión. Reconectando… Tus mensajes se enviarán al volver.",
      online: "Conexión recuperada.",
      queued: "pendiente de envío",
      why: "Por qué",
      earliest: "Fecha más temprana",
      next: "Antes del tratamiento",
      recommendation: "Tu recomendación"
    }
  };

  function readConfig() {
    var config = {};
    var block = document.getElementById("needlecheck-config");
    if (block) {
      try {
        config = JSON.parse(block.textContent || "{}");
      } catch (error) {
        console.error("needlecheck: the needlecheck-config block is not valid JSON");
      }
    } else if (window.needlecheckConfig && typeof window.needlecheckConfig === "object") {
      config = window.needlecheckConfig;
    }
    var colors = config.colors || {};
    return {
      serverUrl: String(config.serverUrl || "http://localhost:5005").replace(/\/$/, ""),
      frontDeskUrl: String(config.frontDeskUrl || scriptOrigin).replace(/\/$/, ""),
      clinicName: String(config.clinicName || "the clinic"),
      greeting: config.greeting ? String(config.greeting) : "",
      language: STRINGS[config.language] ? config.language : "en",
      primary: String(colors.primary || "#0b5d57"),
      onPrimary: String(colors.onPrimary || "#ffffff"),
      initPayload: String(config.initPayload || "/greet")
    };
  }

  var config = readConfig();
  var words = STRINGS[config.language];
  function t(key) {
    return words[key].replace("{clinic}", config.clinicName);
  }

  // --- stored state, shared by every tab of this site ----------------------------------
  var STORE = "needlecheck:" + config.serverUrl;
  var tabId = Math.random().toString(36).slice(2);

  function randomId() {
    var bytes = new Uint8Array(24);
    crypto.getRandomValues(bytes);
    var text = "";
    for (var i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function load() {
    try {
      var state = JSON.parse(localStorage.getItem(STORE) || "null");
      if (state && typeof state.sessionId === "string" && Array.isArray(state.messages)) {
        state.outbox = Array.isArray(state.outbox) ? state.outbox : [];
        return state;
      }
    } catch (error) {
      /* unreadable: start afresh */
    }
    return { sessionId: randomId(), started: false, messages: [], outbox: [], owner: null };
  }

  function save() {
    try {
      localStorage.setItem(STORE, JSON.stringify(state));
    } catch (error) {
      /* private mode or full: the conversation still works in this tab */
    }
  }

  var state = load();

  // --- elements --------------------------------------------------------------------------
  function el(tag, attributes, text) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      node.setAttribute(name, attributes[name]);
    });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  var host = el("div", { id: "needlecheck-widget" });
  host.style.setProperty("--nc-primary", config.primary);
  host.style.setProperty("--nc-on-primary", config.onPrimary);
  var root = host.attachShadow({ mode: "open" });
  root.appendChild(el("link", { rel: "stylesheet", href: config.frontDeskUrl + "/static/widget/widget.css" }));

  var launcher = el("button", {
    type: "button",
    class: "launcher",
    "aria-label": t("launcherLabel"),
    "aria-expanded": "false",
    "aria-controls": "nc-panel"
  }, t("launcher"));

  var panel = el("section", { id: "nc-panel", class: "panel", role: "dialog", "aria-label": t("panelLabel"), hidden: "" });
  var header = el("header", { class: "header" });
  var heading = el("div", { class: "heading" });
  heading.appendChild(el("h2", {}, t("title")));
  heading.appendChild(el("p", {}, t("subtitle")));
  var eraseButton = el("button", { type: "button", class: "link" }, t("erase"));
  var closeButton = el("button", { type: "button", class: "close", "aria-label": t("close") }, "×");
  header.appendChild(heading);
  header.appendChild(eraseButton);
  header.appendChild(closeButton);

  var status = el("p", { class: "status", role: "status" });
  var log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": t("conversation"), tabindex: "0" });
  var typing = el("p", { class: "typing", hidden: "" });
  typing.appendChild(el("span", { class: "visually-hidden" }, t("typing")));
  ["", "", ""].forEach(function () {
    typing.appendChild(el("span", { class: "dot", "aria-hidden": "true" }));
  });

  var notice = el("div", { class: "notice" });
  if (config.greeting) notice.appendChild(el("p", { class: "greeting" }, config.greeting));
  notice.appendChild(el("h3", {}, t("privacyTitle")));
  notice.appendChild(el("p", {}, t("privacy")));
  var startButton = el("button", { type: "button", class: "primary" }, t("start"));
  notice.appendChild(startButton);

  var confirmBox = el("div", { class: "confirm", role: "alertdialog", "aria-label": t("erase"), hidden: "" });
  confirmBox.appendChild(el("p", {}, t("eraseConfirm")));
  var eraseYes = el("button", { type: "button", class: "primary" }, t("eraseYes"));
  var eraseNo = el("button", { type: "button" }, t("eraseNo"));
  confirmBox.appendChild(eraseYes);
  confirmBox.appendChild(eraseNo);

  var form = el("form", { class: "composer" });
  var inputId = "nc-input";
  form.appendChild(el("label", { for: inputId, class: "visually-hidden" }, t("message")));
  var input = el("input", { id: inputId, type: "text", autocomplete: "off", maxlength: "2000", placeholder: t("placeholder") });
  var sendButton = el("button", { type: "submit", class: "primary" }, t("send"));
  form.appendChild(input);
  form.appendChild(sendButton);

  panel.appendChild(header);
  panel.appendChild(status);
  panel.appendChild(notice);
  panel.appendChild(confirmBox);
  panel.appendChild(log);
  panel.appendChild(typing);
  panel.appendChild(form);
  root.appendChild(launcher);
  root.appendChild(panel);

  // --- rendering ---------------------------------------------------------------------------
  function renderCard(card, into) {
    var box = el("section", { class: "card card-" + String(card.outcome || "incomplete"), "aria-label": t("recommendation") });
    box.appendChild(el("h3", {}, String(card.title || "")));
    if (card.summary) box.appendChild(el("p", {}, String(card.summary)));
    if (card.earliest_date) {
      var date = el("p", { class: "earliest" });
      date.appendChild(el("strong", {}, t("earliest") + ": "));
      date.appendChild(document.createTextNode(String(card.earliest_date)));
      box.appendChild(date);
    }
    [["reasons", "why"], ["next_steps", "next"]].forEach(function (pair) {
      var items = Array.isArray(card[pair[0]]) ? card[pair[0]] : [];
      if (!items.length) return;
      // The result names its own heading for the steps ("If the consultation goes ahead...").
      var heading = pair[0] === "next_steps" && card.next_steps_title ? String(card.next_steps_title) : t(pair[1]);
      box.appendChild(el("h4", {}, heading));
      var list = el("ul");
      items.forEach(function (item) {
        list.appendChild(el("li", {}, String(item)));
      });
      box.appendChild(list);
    });
    (Array.isArray(card.notes) ? card.notes : []).forEach(function (note) {
      box.appendChild(el("p", { class: "note" }, String(note)));
    });
    // The hand-off to booking: the clinic's booking page (https only) in a new tab, and a
    // deferred person's earliest date as a calendar file from the front desk.
    var booking = card.booking && String(card.booking.url || "");
    var calendar = card.calendar && String(card.calendar.path || "");
    if ((booking && booking.indexOf("https://") === 0) || (calendar && calendar.indexOf("/widget/ics?") === 0)) {
      var actions = el("p", { class: "booking" });
      if (booking && booking.indexOf("https://") === 0) {
        actions.appendChild(el("a", { class: "button primary", href: booking, target: "_blank", rel: "noopener noreferrer" }, String(card.booking.label || "Book")));
      }
      if (calendar && calendar.indexOf("/widget/ics?") === 0) {
        actions.appendChild(el("a", { class: "button", href: config.frontDeskUrl + calendar, download: "earliest-consultation-date.ics" }, String(card.calendar.label || "Add to calendar")));
      }
      box.appendChild(actions);
    }
    if (card.disclaimer) box.appendChild(el("p", { class: "disclaimer" }, String(card.disclaimer)));
    into.appendChild(box);
  }

  function render() {
    var started = state.started;
    notice.hidden = started;
    log.hidden = !started;
    form.hidden = !started;
    eraseButton.hidden = !started;
    log.textContent = "";
    var lastBot = -1;
    state.messages.forEach(function (message, index) {
      if (message.from === "bot") lastBot = index;
    });
    var answered = lastBot < state.messages.length - 1;
    state.messages.forEach(function (message, index) {
      var item = el("div", { class: "message " + message.from });
      item.appendChild(el("span", { class: "visually-hidden" }, (message.from === "user" ? t("you") : t("assistant")) + ": "));
      if (message.card) {
        renderCard(message.card, item);
      } else {
        item.appendChild(el("p", {}, String(message.text || "")));
      }
      if (message.queued) item.appendChild(el("small", {}, " (" + t("queued") + ")"));
      log.appendChild(item);
      if (message.buttons && message.buttons.length && index === lastBot && !answered) {
        var group = el("div", { class: "buttons", role: "group", "aria-label": "Options" });
        message.buttons.forEach(function (button) {
          var choice = el("button", { type: "button", class: "choice" }, String(button.title));
          choice.addEventListener("click", function () {
            send(String(button.payload || button.title), String(button.title));
          });
          group.appendChild(choice);
        });
        log.appendChild(group);
      }
    });
    log.scrollTop = log.scrollHeight;
  }

  // --- connection ----------------------------------------------------------------------------
  var socket = null;
  var confirmed = false;
  var typingTimer = null;

  function showTyping(on) {
    typing.hidden = !on;
    clearTimeout(typingTimer);
    // The assistant answers within a second or two; never leave the dots on for good.
    if (on) typingTimer = setTimeout(function () { typing.hidden = true; }, 15000);
  }

  function connect() {
    if (socket) return;
    socket = io(config.serverUrl, { path: "/socket.io", reconnectionDelayMax: 5000 });
    socket.on("connect", function () {
      confirmed = false;
      socket.emit("session_request", { session_id: state.sessionId, session_key: state.sessionKey });
    });
    socket.on("session_key", function (data) {
      // A new session (or the key was missing): keep its key beside its ID.
      if (data && typeof data.session_id === "string" && typeof data.session_key === "string") {
        state.sessionId = data.session_id;
        state.sessionKey = data.session_key;
        save();
      }
    });
    socket.on("session_confirm", function (sessionId) {
      if (typeof sessionId === "string" && sessionId !== state.sessionId) {
        // The server replaced an ID it would not accept; this browser keeps the new one.
        state.sessionId = sessionId;
        save();
      }
      confirmed = true;
      if (status.textContent) status.textContent = t("online");
      flush();
    });
    socket.on("disconnect", function () {
      confirmed = false;
      status.textContent = t("offline");
    });
    socket.on("bot_uttered", receive);
  }

  function receive(message) {
    if (!message || typeof message !== "object") return;
    state = load();
    // Every tab of the conversation gets each reply; the tab that sent the question
    // stores it, the others redraw from storage.
    if (state.owner && state.owner !== tabId) return;
    var entry = { from: "bot" };
    if (message.custom && message.custom.type === "recommendation") {
      entry.card = message.custom;
    } else if (typeof message.text === "string") {
      entry.text = message.text;
      var buttons = message.quick_replies || message.buttons;
      if (Array.isArray(buttons)) {
        entry.buttons = buttons.map(function (b) {
          return { title: b.title, payload: b.payload };
        });
      }
    } else {
      return;
    }
    state.messages.push(entry);
    save();
    showTyping(false);
    render();
  }

  function flush() {
    if (!socket || !confirmed) return;
    if (state.outbox.length) state.owner = tabId;
    while (state.outbox.length) {
      var next = state.outbox.shift();
      state.messages.forEach(function (m) {
        if (m.id === next.id) delete m.queued;
      });
      socket.emit("user_uttered", { message: next.payload, session_id: state.sessionId });
      showTyping(true);
    }
    save();
    render();
  }

  function send(payload, shown) {
    state = load();
    var id = randomId().slice(0, 8);
    if (shown) state.messages.push({ from: "user", text: shown, id: id, queued: !confirmed });
    state.outbox.push({ id: id, payload: payload });
    state.owner = tabId;
    save();
    render();
    flush();
  }

  // --- controls --------------------------------------------------------------------------------
  function open() {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    launcher.hidden = true;
    render();
    if (state.started) {
      connect();
      input.focus();
    } else {
      startButton.focus();
    }
  }

  function close() {
    panel.hidden = true;
    launcher.hidden = false;
    launcher.setAttribute("aria-expanded", "false");
    launcher.focus();
  }

  launcher.addEventListener("click", open);
  closeButton.addEventListener("click", close);
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      if (!confirmBox.hidden) {
        confirmBox.hidden = true;
        eraseButton.focus();
      } else {
        close();
      }
    }
  });
  startButton.addEventListener("click", function () {
    state.started = true;
    save();
    connect();
    send(config.initPayload, null);
    input.focus();
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    sessionStorage.removeItem(STORE + ":draft");
    send(text, text);
  });
  input.addEventListener("input", function () {
    sessionStorage.setItem(STORE + ":draft", input.value);
  });
  input.value = sessionStorage.getItem(STORE + ":draft") || "";

  eraseButton.addEventListener("click", function () {
    confirmBox.hidden = false;
    eraseNo.focus();
  });
  eraseNo.addEventListener("click", function () {
    confirmBox.hidden = true;
    eraseButton.focus();
  });
  function eraseFailed(key) {
    eraseYes.disabled = false;
    confirmBox.hidden = true;
    status.textContent = t(key);
    eraseButton.focus();
  }

  eraseYes.addEventListener("click", function () {
    // The assistant may take a while to answer: one request at a time.
    eraseYes.disabled = true;
    fetch(config.frontDeskUrl + "/widget/erase", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ session_id: state.sessionId })
    })
      .then(function (response) {
        if (!response.ok) {
          // {"deleted": false, "retry": true, ...}: some part could not be erased (or not
          // for certain), so nothing counts as deleted and the chat is kept for a retry.
          return response.json().then(
            function (body) {
              eraseFailed(body && body.deleted === false ? "eraseIncomplete" : "eraseFailed");
            },
            function () {
              eraseFailed("eraseFailed");
            }
          );
        }
        eraseYes.disabled = false;
        if (socket) socket.disconnect();
        socket = null;
        localStorage.removeItem(STORE);
        state = load();
        confirmBox.hidden = true;
        render();
        status.textContent = t("erased");
        startButton.focus();
      })
      .catch(function () {
        eraseFailed("eraseFailed");
      });
  });

  window.addEventListener("storage", function (event) {
    if (event.key !== STORE) return;
    state = load();
    render();
  });

  function mount() {
    document.body.appendChild(host);
    render();
    // A conversation already under way reconnects at once, so replies are not missed.
    if (state.started && state.outbox.length) connect();
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);

  // Tests and pages can reach the open panel without depending on the shadow DOM layout.
  host.needlecheck = { open: open, close: close };
})();
