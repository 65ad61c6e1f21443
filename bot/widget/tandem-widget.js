/*
 * The support assistant's chat widget. Embed it with one tag:
 *
 *   <script src="https://BOT-HOST:5055/widget/tandem-widget.js"
 *           data-server="https://BOT-HOST:5005" defer></script>
 *
 * data-server      the Rasa server (socket.io channel); required
 * data-title       header text (default "Support")
 * data-socket-path socket.io path (default "/socket.io")
 * data-storage-key localStorage key (default "tandem-widget"); one conversation per key
 * data-open        "true" to open the panel on first load
 *
 * It loads the socket.io client (socket.io-client's browser build, served next to this
 * file), keeps the conversation in localStorage (history, session id, unsent messages), so
 * a reload or another page of the site continues it, and queues what the customer types
 * while the server is unreachable until the connection returns. Bot text is only ever set
 * with textContent; links are made only for http(s) URLs.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || window.TandemWidget) return;
  var base = script.src.replace(/[^/]*(\?.*)?$/, "");
  var config = {
    server: script.getAttribute("data-server") || "",
    title: script.getAttribute("data-title") || "Support",
    socketPath: script.getAttribute("data-socket-path") || "/socket.io",
    storageKey: script.getAttribute("data-storage-key") || "tandem-widget",
    open: script.getAttribute("data-open") === "true",
  };
  var TYPING_TIMEOUT_MS = 60000;

  // ---- state, kept in localStorage --------------------------------------------------
  // ids of messages on this page only; the conversation's id comes from the server, signed
  var messageCount = 0;
  function newId() {
    messageCount += 1;
    return "m" + Date.now().toString(36) + "-" + messageCount + Math.random().toString(36).slice(2, 6);
  }

  function loadState() {
    var saved = null;
    try {
      saved = JSON.parse(localStorage.getItem(config.storageKey) || "null");
    } catch (e) {
      saved = null;
    }
    var state = saved && typeof saved === "object" ? saved : {};
    // the signed token the server gave this conversation (session_confirm); none yet: the
    // server starts a conversation and sends one
    state.sessionId = typeof state.sessionId === "string" ? state.sessionId : null;
    state.messages = Array.isArray(state.messages) ? state.messages : [];
    state.outbox = Array.isArray(state.outbox) ? state.outbox : [];
    state.turn = typeof state.turn === "number" ? state.turn : 0;
    state.handoff = !!state.handoff;
    state.open = typeof state.open === "boolean" ? state.open : config.open;
    return state;
  }

  var state = loadState();

  function save() {
    try {
      localStorage.setItem(config.storageKey, JSON.stringify(state));
    } catch (e) {
      /* storage full or blocked: the conversation still works, it just won't survive a reload */
    }
  }

  // ---- safe rendering ---------------------------------------------------------------
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      node.setAttribute(key, attrs[key]);
    });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function safeUrl(value) {
    try {
      var url = new URL(String(value)); // absolute URLs only
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  function link(href, text) {
    var url = safeUrl(href);
    if (!url) return document.createTextNode(text);
    return el("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, text);
  }

  // text with http(s) URLs as links; everything else stays text
  function renderText(container, text) {
    var pattern = /https?:\/\/[^\s<>"')]+[^\s<>"').,;:!?]/g;
    var last = 0;
    var match;
    while ((match = pattern.exec(text)) !== null) {
      container.appendChild(document.createTextNode(text.slice(last, match.index)));
      container.appendChild(link(match[0], match[0]));
      last = match.index + match[0].length;
    }
    container.appendChild(document.createTextNode(text.slice(last)));
  }

  // ---- the DOM ----------------------------------------------------------------------
  var css = el("link", { rel: "stylesheet", href: base + "tandem-widget.css" });
  document.head.appendChild(css);

  var root = el("div", { class: "tw-root", "data-state": "connecting" });
  var launcher = el("button", {
    type: "button",
    class: "tw-launcher",
    "aria-controls": "tw-panel",
    "aria-expanded": "false",
    "aria-label": "Open chat with " + config.title,
  }, "Chat");
  var panel = el("section", {
    id: "tw-panel",
    class: "tw-panel",
    role: "dialog",
    "aria-label": "Chat with " + config.title,
    hidden: "",
  });
  var header = el("header", { class: "tw-header" });
  var title = el("h2", { class: "tw-title" }, config.title);
  var status = el("span", { class: "tw-status", role: "status" }, "Connecting…");
  var close = el("button", { type: "button", class: "tw-close", "aria-label": "Close chat" }, "×");
  header.appendChild(title);
  header.appendChild(status);
  header.appendChild(close);
  var banner = el("p", { class: "tw-banner", hidden: "" });
  var log = el("ol", {
    class: "tw-log",
    role: "log",
    "aria-live": "polite",
    "aria-relevant": "additions",
    "aria-label": "Conversation",
    tabindex: "0",
  });
  var typing = el("p", { class: "tw-typing", hidden: "", "aria-live": "polite" }, "Typing…");
  var replies = el("div", { class: "tw-replies", role: "group", "aria-label": "Suggested replies" });
  var form = el("form", { class: "tw-form" });
  var input = el("input", {
    type: "text",
    class: "tw-input",
    "aria-label": "Your message",
    placeholder: "Type your message…",
    autocomplete: "off",
    maxlength: "1000",
  });
  var send = el("button", { type: "submit", class: "tw-send" }, "Send");
  form.appendChild(input);
  form.appendChild(send);
  [header, banner, log, typing, replies, form].forEach(function (part) {
    panel.appendChild(part);
  });
  root.appendChild(panel);
  root.appendChild(launcher);

  function renderMessage(message) {
    var item = el("li", {
      class: "tw-msg tw-" + message.from,
      "data-from": message.from,
      "data-turn": String(message.turn),
      "data-id": String(message.id),
    });
    if (message.route) item.setAttribute("data-route", message.route);
    if (message.from === "agent") {
      // a person from the team answers: say so, visibly
      item.appendChild(el("span", { class: "tw-who" }, (message.agent || "Support") + " · a person from our team"));
    } else {
      item.appendChild(el("span", { class: "tw-sr" }, message.from === "user" ? "You: " : config.title + ": "));
    }
    var body = el("span", { class: "tw-text" });
    renderText(body, message.text || "");
    item.appendChild(body);
    if (message.pending) item.appendChild(el("span", { class: "tw-pending" }, " (not sent yet)"));
    if (message.citations && message.citations.length) {
      var sources = el("ul", { class: "tw-citations", "aria-label": "Sources" });
      message.citations.forEach(function (citation) {
        var entry = el("li", { "data-source": String(citation.source || "") });
        entry.appendChild(link(citation.url, citation.title || citation.source || "source"));
        sources.appendChild(entry);
      });
      item.appendChild(sources);
    }
    if (message.from === "bot" && RATED_ROUTES.indexOf(message.route) >= 0) item.appendChild(renderFeedback(message));
    return item;
  }

  // the replies a customer may rate: answers from the knowledge base, and the assistant's
  // clarifying questions and declines (not a form's questions, not the handoff notice)
  var RATED_ROUTES = ["knowledge", "clarify", "out_of_scope"];

  // thumbs up or down ("Helpful? Yes / No") on a bot answer, with an optional comment on a
  // thumbs down; sent over
  // socket.io ("feedback") and kept with the turn in the conversation's tracker
  function renderFeedback(message) {
    var box = el("span", { class: "tw-feedback", role: "group", "aria-label": "Was this helpful?" });
    if (message.feedback) {
      box.appendChild(el("span", { class: "tw-thanks" }, "Thanks for your feedback"));
      return box;
    }
    if (message.rating === "down") {
      var comment = el("input", {
        type: "text",
        class: "tw-comment",
        maxlength: "500",
        "aria-label": "What was wrong? (optional)",
        placeholder: "What was wrong? (optional)",
      });
      var sendIt = el("button", { type: "button", class: "tw-comment-send" }, "Send");
      sendIt.addEventListener("click", function () { rate(message, "down", comment.value); });
      comment.addEventListener("keydown", function (event) {
        if (event.key === "Enter") { event.preventDefault(); rate(message, "down", comment.value); }
      });
      box.appendChild(comment);
      box.appendChild(sendIt);
      return box;
    }
    box.appendChild(el("span", { class: "tw-ask" }, "Helpful?"));
    var up = el("button", { type: "button", class: "tw-thumb", "data-value": "up", "aria-label": "Helpful: yes" }, "Yes");
    var down = el("button", { type: "button", class: "tw-thumb", "data-value": "down", "aria-label": "Helpful: no" }, "No");
    up.addEventListener("click", function () { rate(message, "up", ""); });
    down.addEventListener("click", function () {
      message.rating = "down";
      save();
      redraw(message);
    });
    box.appendChild(up);
    box.appendChild(down);
    return box;
  }

  function rate(message, value, comment) {
    if (!online || !socket) return;
    socket.emit("feedback", {
      session_id: state.sessionId,
      text: message.text,
      value: value,
      comment: String(comment || "").slice(0, 500),
    });
    message.feedback = value;
    save();
    redraw(message);
  }

  function render() {
    log.textContent = "";
    state.messages.forEach(function (message) {
      log.appendChild(renderMessage(message));
    });
    renderReplies();
    renderBanner();
    log.scrollTop = log.scrollHeight;
  }

  function renderReplies() {
    replies.textContent = "";
    var lastBot = null;
    for (var i = state.messages.length - 1; i >= 0; i--) {
      if (state.messages[i].from === "user") break;
      if (state.messages[i].buttons && state.messages[i].buttons.length) {
        lastBot = state.messages[i];
        break;
      }
    }
    if (!lastBot) return;
    lastBot.buttons.forEach(function (button) {
      var choice = el("button", { type: "button", class: "tw-reply" }, button.title);
      choice.addEventListener("click", function () {
        submit(button.title, button.payload);
        input.focus(); // the buttons are gone: keep the keyboard in the conversation
      });
      replies.appendChild(choice);
    });
  }

  function renderBanner() {
    if (!online) {
      banner.textContent = "You are offline. We will send your messages when the connection returns.";
      banner.className = "tw-banner tw-offline";
      banner.hidden = false;
    } else if (state.handoff) {
      banner.textContent = "You are now waiting for a person from our team. They will reply here.";
      banner.className = "tw-banner tw-handoff";
      banner.hidden = false;
    } else {
      banner.hidden = true;
    }
    root.setAttribute("data-handoff", state.handoff ? "true" : "false");
  }

  // re-draw one message in place (its route, citations or sent state changed)
  function redraw(message) {
    var old = log.querySelector('[data-id="' + String(message.id).replace(/"/g, "") + '"]');
    if (old) log.replaceChild(renderMessage(message), old);
  }

  function append(message) {
    state.messages.push(message);
    save();
    log.appendChild(renderMessage(message));
    renderReplies();
    log.scrollTop = log.scrollHeight;
  }

  function setOpen(open) {
    state.open = open;
    save();
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) {
      log.scrollTop = log.scrollHeight;
      input.focus();
    } else {
      launcher.focus();
    }
  }

  // ---- connection -------------------------------------------------------------------
  var socket = null;
  var online = false; // connected and the session confirmed
  var typingTimer = null;

  function setStatus(name, label) {
    root.setAttribute("data-state", name);
    status.textContent = label;
    renderBanner();
  }

  function showTyping(on) {
    typing.hidden = !on;
    clearTimeout(typingTimer);
    if (on) typingTimer = setTimeout(function () { typing.hidden = true; }, TYPING_TIMEOUT_MS);
  }

  function flush() {
    while (online && state.outbox.length) {
      var next = state.outbox.shift();
      socket.emit("user_uttered", { message: next.payload, session_id: state.sessionId });
      state.messages.forEach(function (message) {
        if (message.id === next.id) {
          delete message.pending;
          redraw(message);
        }
      });
      save();
      showTyping(true);
    }
  }

  function submit(text, payload) {
    text = String(text || "").trim();
    if (!text) return;
    var id = newId();
    state.turn += 1;
    var message = { id: id, from: "user", text: text, turn: state.turn, pending: true };
    state.outbox.push({ id: id, payload: payload || text });
    append(message);
    flush();
  }

  // a generated answer as it is being written (the action server streams it through Rasa's
  // socket.io, event "bot_stream"): shown in a bubble of its own, never saved, and removed
  // when the turn's real reply arrives (the checked text, which may differ from the draft)
  var draft = null;

  function stream(data) {
    if (!data || typeof data.text !== "string") return;
    showTyping(false);
    if (!draft || !draft.parentNode) {
      draft = el("li", { class: "tw-msg tw-draft", "data-from": "draft", "aria-hidden": "true" });
      draft.appendChild(el("span", { class: "tw-text" }));
      log.appendChild(draft);
    }
    draft.firstChild.textContent = data.text;
    log.scrollTop = log.scrollHeight;
  }

  function dropDraft() {
    if (draft && draft.parentNode) draft.parentNode.removeChild(draft);
    draft = null;
  }

  function receive(data) {
    if (!data || typeof data !== "object") return;
    showTyping(false);
    dropDraft();
    var custom = data.custom && typeof data.custom === "object" ? data.custom : null;
    if (custom) {
      var turnMessages = state.messages.filter(function (m) {
        return m.from === "bot" && m.turn === state.turn;
      });
      var citations = Array.isArray(custom.citations)
        ? custom.citations.filter(function (c) { return c && typeof c === "object"; })
        : null;
      if (custom.route) {
        state.route = { turn: state.turn, name: String(custom.route) };
        turnMessages.forEach(function (m) {
          m.route = custom.route;
          redraw(m);
        });
      }
      if (citations && turnMessages.length) {
        var answer = turnMessages[turnMessages.length - 1];
        answer.citations = citations;
        redraw(answer);
      } else if (citations) {
        state.pendingCitations = citations;
      }
      if (custom.handoff) {
        state.handoff = true;
        state.handoffTurn = state.turn;
        renderBanner();
      }
      save();
      if (!data.text) return;
    }
    if (typeof data.text !== "string" || !data.text) return;
    var agent = typeof data.agent === "string" && data.agent ? data.agent : null;
    // an agent handed the conversation back: the assistant greets the customer again
    if (data.handback && state.handoff) {
      state.handoff = false;
      renderBanner();
    }
    if (agent) {
      append({ id: newId(), from: "agent", agent: agent, text: data.text, turn: state.turn });
      return;
    }
    var buttons = Array.isArray(data.quick_replies) ? data.quick_replies : data.buttons;
    var message = {
      id: newId(),
      from: "bot",
      text: data.text,
      turn: state.turn,
      route: state.route && state.route.turn === state.turn ? state.route.name : undefined,
      buttons: (buttons || []).filter(function (b) { return b && b.title; }).map(function (b) {
        return { title: String(b.title), payload: String(b.payload || b.title) };
      }),
    };
    if (state.pendingCitations) {
      message.citations = state.pendingCitations;
      delete state.pendingCitations;
    }
    append(message);
  }

  function connect() {
    socket = window.io(config.server, {
      path: config.socketPath,
      // websocket only: one connection stays with one Rasa worker or replica. Long polling
      // sends each request anew, and another worker does not know the session.
      transports: ["websocket"],
      reconnection: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 3000,
    });
    socket.on("connect", function () {
      setStatus("connecting", "Connecting…");
      socket.emit("session_request", { session_id: state.sessionId });
    });
    socket.on("session_confirm", function (session) {
      if (session && typeof session.session_id === "string") {
        state.sessionId = session.session_id;
        save();
      }
      if (session && session.max_message_chars) input.maxLength = session.max_message_chars;
      online = true;
      setStatus("online", "Online");
      flush();
    });
    socket.on("bot_uttered", receive);
    socket.on("bot_stream", stream);
    // the server did not recognise this socket's conversation: ask for it again
    socket.on("session_refused", function () {
      online = false;
      socket.emit("session_request", { session_id: state.sessionId });
    });
    socket.on("disconnect", function () {
      online = false;
      showTyping(false);
      setStatus("offline", "Reconnecting…");
    });
    socket.on("connect_error", function () {
      online = false;
      setStatus("offline", "Reconnecting…");
    });
  }

  // ---- events -----------------------------------------------------------------------
  launcher.addEventListener("click", function () { setOpen(panel.hidden); });
  close.addEventListener("click", function () { setOpen(false); });
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") setOpen(false);
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    submit(input.value);
    input.value = "";
    input.focus();
  });
  // another tab of the same site changed the conversation
  window.addEventListener("storage", function (event) {
    if (event.key !== config.storageKey) return;
    var outbox = state.outbox;
    state = loadState();
    state.outbox = outbox.length ? outbox : state.outbox;
    render();
  });

  function start() {
    document.body.appendChild(root);
    render();
    setOpen(state.open);
    if (!state.open) launcher.blur();
    if (!config.server) {
      setStatus("offline", "No server configured (data-server)");
      return;
    }
    if (window.io) {
      connect();
      return;
    }
    var client = el("script", { src: base + "socket.io.min.js" });
    client.onload = connect;
    client.onerror = function () { setStatus("offline", "Could not load the chat client"); };
    document.head.appendChild(client);
  }

  window.TandemWidget = {
    open: function () { setOpen(true); },
    close: function () { setOpen(false); },
    send: function (text) { submit(text); },
    // the signed token the widget keeps, and the conversation's own id (the tracker's name)
    sessionId: function () { return state.sessionId; },
    conversationId: function () { return state.sessionId ? state.sessionId.split(".")[0] : null; },
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
