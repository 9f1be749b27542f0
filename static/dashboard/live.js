/* The live tail page: events of the tenant's WebSocket stream as they arrive (no inline script: the CSP).

Each (re)connection asks the page's token endpoint for a short-lived access token, then opens the stream with
the page's filters, `batch=true` and `since`: first the time the page was made (so nothing written before the
socket opened is missed), after a drop the cursor of the last event received, so the stream replays what was
missed; events already shown are skipped by id. Pause holds new events back
(bounded like the list) until Resume. Event data is only ever set as text (textContent), never as HTML.
*/
(function () {
  "use strict";

  var root = document.getElementById("live-tail");
  if (!root) return;

  var MAX = parseInt(root.getAttribute("data-max-events"), 10) || 500;
  var STOP_CODES = { 4400: "The filters are not valid.", 4403: "You may not watch the live tail." };
  var list = document.getElementById("live-events");
  var status = document.getElementById("live-status");
  var pauseButton = document.getElementById("live-pause");
  var heldNote = document.getElementById("live-held");
  var rateOut = document.getElementById("live-rate");

  var socket = null;
  // Where a (re)connection resumes: the page's own time at first, then the position of the last event received.
  var lastCursor = root.getAttribute("data-since") || null;
  var seen = new Set(); // ids of the events received, so a replay shows none twice
  var seenOrder = [];
  var held = []; // events received while paused
  var paused = false;
  var retryDelay = 1000;
  var retryTimer = null;
  var stopped = false;
  var socketOpened = false; // once: later connections are reconnections
  var arrivals = []; // receipt times of the last few seconds, for the rate

  function setStatus(text, state) {
    status.textContent = text;
    root.setAttribute("data-state", state);
  }

  function remember(id) {
    seen.add(id);
    seenOrder.push(id);
    if (seenOrder.length > MAX * 4) seen.delete(seenOrder.shift());
  }

  function cell(tag, className, text) {
    var element = document.createElement(tag);
    if (className) element.className = className;
    element.textContent = text == null ? "" : String(text);
    return element;
  }

  function render(event) {
    var item = document.createElement("li");
    item.className = "live-event sev-" + String(event.severity || "").toLowerCase();
    item.setAttribute("data-event-id", event.id);
    var time = document.createElement("time");
    time.setAttribute("datetime", event.occurred_at);
    time.textContent = String(event.occurred_at || "").replace("T", " ").replace(/\.\d+/, "").replace(/\+00:00$/, "");
    var link = document.createElement("a");
    link.href = root.getAttribute("data-detail-url") + encodeURIComponent(event.id);
    link.appendChild(time);
    item.appendChild(link);
    item.appendChild(cell("span", "badge badge-" + String(event.severity || "").toLowerCase(), event.severity));
    item.appendChild(cell("span", "mono live-action", event.action));
    var resource = event.resource || {};
    item.appendChild(cell("span", "live-resource", [resource.type, resource.id].filter(Boolean).join(" ")));
    var actor = event.actor || {};
    item.appendChild(cell("span", "live-actor", "by " + (actor.name || actor.id || "")));
    if (event.source) item.appendChild(cell("span", "muted live-source", event.source));
    if (event.message) item.appendChild(cell("span", "live-message", event.message));
    return item;
  }

  function show(events) {
    var fragment = document.createDocumentFragment();
    for (var i = events.length - 1; i >= 0; i--) fragment.appendChild(render(events[i])); // newest first
    list.insertBefore(fragment, list.firstChild);
    while (list.children.length > MAX) list.removeChild(list.lastChild);
  }

  function updateHeld() {
    heldNote.hidden = !paused;
    heldNote.textContent = held.length === 1 ? "1 new event held" : held.length + " new events held";
    pauseButton.textContent = paused ? "Resume" : "Pause";
  }

  function receive(items) {
    var fresh = [];
    var now = Date.now();
    items.forEach(function (item) {
      if (!item || !item.event) return;
      lastCursor = item.cursor || lastCursor;
      if (seen.has(item.event.id)) return;
      remember(item.event.id);
      arrivals.push(now);
      fresh.push(item.event);
    });
    if (!fresh.length) return;
    if (paused) {
      held = held.concat(fresh);
      if (held.length > MAX) held = held.slice(held.length - MAX);
      updateHeld();
    } else {
      show(fresh);
    }
  }

  function onMessage(message) {
    var data;
    try {
      data = JSON.parse(message.data);
    } catch (error) {
      return;
    }
    if (data.type === "event") receive([data]);
    else if (data.type === "events") receive(data.events || []);
    else if (data.type === "lagged") lastCursor = data.resume || lastCursor; // the server closes next
    else if (data.type === "error") setStatus((data.error && data.error.message) || "The stream refused the filters.", "error");
  }

  function scheduleReconnect(delay) {
    if (stopped || retryTimer) return;
    setStatus("Disconnected; reconnecting…", "reconnecting");
    retryTimer = window.setTimeout(function () {
      retryTimer = null;
      connect();
    }, delay);
    retryDelay = Math.min(retryDelay * 2, 30000);
  }

  function fetchToken() {
    return fetch(root.getAttribute("data-token-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": root.getAttribute("data-csrf"), Accept: "application/json" },
    }).then(function (response) {
      if (response.status === 401 || response.status === 403 || response.redirected) {
        throw new Error("signed-out");
      }
      if (!response.ok) throw new Error("token " + response.status);
      return response.json();
    });
  }

  function streamUrl(grant) {
    var params = new URLSearchParams(root.getAttribute("data-query") || "");
    params.set("batch", "true");
    if (lastCursor) params.set("since", lastCursor);
    params.set("token", grant.token);
    return grant.url + "?" + params.toString();
  }

  function connect() {
    setStatus(socketOpened ? "Reconnecting…" : "Connecting…", "connecting");
    fetchToken().then(function (grant) {
      var ws = new WebSocket(streamUrl(grant));
      socket = ws;
      ws.onopen = function () {
        socketOpened = true;
        retryDelay = 1000;
        setStatus(paused ? "Paused" : "Live", paused ? "paused" : "live");
      };
      ws.onmessage = onMessage;
      ws.onclose = function (close) {
        if (socket !== ws) return;
        socket = null;
        if (STOP_CODES[close.code]) {
          stopped = true;
          setStatus(STOP_CODES[close.code], "error");
        } else if (close.code === 4429) {
          scheduleReconnect(Math.max(1000, (parseInt(close.reason.replace(/\D+/g, ""), 10) || 5) * 1000));
        } else {
          scheduleReconnect(retryDelay);
        }
      };
    }).catch(function (error) {
      if (error && error.message === "signed-out") {
        stopped = true;
        setStatus("Your session has ended: reload the page to sign in again.", "error");
      } else {
        scheduleReconnect(retryDelay);
      }
    });
  }

  pauseButton.addEventListener("click", function () {
    paused = !paused;
    pauseButton.setAttribute("aria-pressed", paused ? "true" : "false");
    if (!paused && held.length) {
      show(held);
      held = [];
    }
    updateHeld();
    if (socket && socket.readyState === WebSocket.OPEN) setStatus(paused ? "Paused" : "Live", paused ? "paused" : "live");
  });

  // Events per second over the last five seconds.
  window.setInterval(function () {
    var since = Date.now() - 5000;
    while (arrivals.length && arrivals[0] < since) arrivals.shift();
    rateOut.textContent = (arrivals.length / 5).toFixed(1);
  }, 1000);

  // A dropped connection, on demand (the browser tests): `detail.reconnectAfter` milliseconds before reconnecting.
  document.addEventListener("live-tail:drop", function (event) {
    var delay = (event.detail && event.detail.reconnectAfter) || 0;
    if (!socket) return;
    var ws = socket;
    socket = null;
    ws.close();
    scheduleReconnect(delay);
  });

  connect();
})();
