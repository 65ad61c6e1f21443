/*
 * The agents' inbox: the queue, one conversation's transcript and evidence, and what an
 * agent does with it (claim, reply, release, hand back). It polls the console's JSON API
 * (/agent/api/...): the open conversation every 1.5 s, the queue every 3 s; every text is
 * set with textContent.
 */
(function () {
  "use strict";
  var POLL_MS = 1500; // the open conversation
  var QUEUE_POLL_MS = 3000;
  var me = null;
  var current = null; // the open conversation's id
  var lastShown = ""; // the transcript drawn last, to redraw only on change

  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function api(method, path, body) {
    var options = { method: method, headers: {}, credentials: "same-origin" };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch("/agent/api/" + path, options).then(function (reply) {
      if (reply.status === 401) { window.location = "/agent/login"; throw new Error("signed out"); }
      return reply.json().then(function (data) {
        if (!reply.ok) throw new Error(data.error || reply.statusText);
        return data;
      });
    });
  }
  function showError(message) {
    $("error").textContent = message || "";
    $("error").hidden = !message;
  }
  function minutes(seconds) {
    if (seconds < 60) return Math.round(seconds) + " s";
    return Math.round(seconds / 60) + " min";
  }
  function safeUrl(value) {
    try {
      var url = new URL(String(value));
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (e) { return null; }
  }

  function drawQueue(rows) {
    var list = $("queue");
    list.textContent = "";
    $("queue-empty").hidden = rows.length > 0;
    rows.forEach(function (row) {
      var item = el("li", { "data-sender": row.sender, "aria-selected": String(row.sender === current), tabindex: "0" });
      item.appendChild(el("span", { class: "reason" }, row.reason_text));
      item.appendChild(el("span", { class: "meta" }, " · waiting " + minutes(row.waiting_seconds) +
        (row.claimed_by ? " · " + row.claimed_by : " · unclaimed")));
      item.appendChild(el("span", { class: "last" }, row.last_message ? "“" + row.last_message + "”" : ""));
      item.addEventListener("click", function () { open(row.sender); });
      item.addEventListener("keydown", function (e) { if (e.key === "Enter") open(row.sender); });
      list.appendChild(item);
    });
  }

  function drawConversation(pack) {
    $("conversation").hidden = false;
    $("conv-title").textContent = "Conversation " + pack.sender.slice(0, 12);
    var mine = pack.held_by === me;
    $("conv-holder").textContent = pack.held_by ? "held by " + pack.held_by : (pack.waiting ? "waiting, unclaimed" : "with the assistant");
    $("claim").disabled = !pack.waiting || !!pack.held_by;
    $("release").disabled = !mine;
    $("handback").disabled = !mine;
    $("reply").disabled = !mine;
    $("send").disabled = !mine;
    $("reply").placeholder = mine ? "Write to the customer" : "Claim the conversation to reply";
    $("summary").textContent = pack.summary;
    var key = JSON.stringify([pack.transcript, pack.slots]);
    if (key === lastShown) return;
    lastShown = key;
    var list = $("transcript");
    list.textContent = "";
    var evidence = $("evidence");
    evidence.textContent = "";
    pack.transcript.forEach(function (entry) {
      var item = el("li", { class: entry.speaker, "data-speaker": entry.speaker });
      var who = entry.speaker === "customer" ? "Customer" : entry.speaker === "agent" ? entry.agent + " (person)" : "Assistant";
      item.appendChild(el("span", { class: "who" }, who + " · " + new Date(entry.time * 1000).toLocaleTimeString()));
      item.appendChild(el("span", { class: "text" }, entry.text));
      if (entry.route) item.appendChild(el("span", { class: "route" }, " [" + entry.route + "]"));
      list.appendChild(item);
      if (entry.speaker === "bot" && entry.route) {
        var proof = el("li", {});
        proof.appendChild(el("strong", {}, entry.route));
        proof.appendChild(document.createTextNode(": " + (entry.reason || "")));
        (entry.citations || []).forEach(function (citation) {
          var url = safeUrl(citation.url);
          var line = el("div", {});
          if (url) line.appendChild(el("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, citation.title || citation.source));
          else line.textContent = citation.title || citation.source;
          proof.appendChild(line);
        });
        var scores = Object.keys(entry.scores || {}).filter(function (k) { return entry.scores[k] !== null; })
          .map(function (k) { return k + "=" + entry.scores[k]; }).join(" ");
        if (scores) proof.appendChild(el("div", { class: "scores" }, scores));
        evidence.appendChild(proof);
      }
    });
    list.scrollTop = list.scrollHeight;
    var slots = $("slots");
    slots.textContent = "";
    Object.keys(pack.slots).forEach(function (name) {
      slots.appendChild(el("dt", {}, name.replace(/_/g, " ")));
      slots.appendChild(el("dd", {}, typeof pack.slots[name] === "object" ? JSON.stringify(pack.slots[name]) : pack.slots[name]));
    });
    if (pack.slots && !Object.keys(pack.slots).length) slots.appendChild(el("dd", { class: "muted" }, "nothing yet"));
  }

  function refreshQueue() { return api("GET", "queue").then(drawQueue).catch(function () {}); }
  function refreshConversation() {
    if (!current) return Promise.resolve();
    return api("GET", "conversations/" + encodeURIComponent(current)).then(drawConversation)
      .catch(function (e) { showError(e.message); });
  }
  function open(sender) {
    current = sender;
    lastShown = "";
    showError("");
    refreshConversation();
    refreshQueue();
  }
  function act(what, body) {
    if (!current) return;
    showError("");
    return api("POST", "conversations/" + encodeURIComponent(current) + "/" + what, body || {})
      .then(function () {
        refreshConversation();
        refreshQueue();
        return true;
      })
      .catch(function (e) { showError(e.message); return false; });
  }

  $("claim").addEventListener("click", function () { act("claim"); });
  $("release").addEventListener("click", function () { act("release"); });
  $("handback").addEventListener("click", function () { act("handback"); });
  $("reply-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var text = $("reply").value.trim();
    if (!text) return;
    $("reply").value = "";
    act("reply", { text: text }).then(function (sent) { if (!sent && !$("reply").value) $("reply").value = text; });
  });

  api("GET", "me").then(function (data) {
    me = data.agent;
    $("me").textContent = "Signed in as " + me;
    refreshQueue();
    setInterval(refreshConversation, POLL_MS);
    setInterval(refreshQueue, QUEUE_POLL_MS);
  });
})();
