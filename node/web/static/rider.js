// rider.js: the Rider view. It tracks one driver: the recent trail first
// (track-driver with history), then live fixes; after any reconnect, to any
// node, it resumes after the cursor of the last fix it handled
// (track-driver with since), so it sees every fix once and in order.
(function (RTLS) {
  "use strict";

  const HISTORY = 20; // fixes replayed when tracking starts
  const RETRY_MS = 1000; // wait before tracking again after a retryable error
  const RETRYABLE = new Set(["unavailable", "internal", "rate_limited"]);
  const STALE_AFTER_MS = 15000; // the marker greys after this without a fix

  function randomID() {
    const a = new Uint8Array(4);
    crypto.getRandomValues(a);
    return "r-" + Array.from(a, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  RTLS.startRiderView = function (cfg, params) {
    const $ = RTLS.$;
    const mapEl = $("rider-map");
    const map = RTLS.createMap(mapEl, cfg);

    // What the view shows, and what tests read (window.rtlsDemo.rider).
    const state = {
      // every receive-location of the tracked driver as the node delivered
      // it, duplicates included: {cursor, seq, latitude, longitude, replay, via}
      received: [],
      cursor: 0, // the cursor of the last fix handled: where a resume starts
      lastSeq: 0,
      last: null, // the newest fix
      duplicates: 0,
      resumes: 0,
      node: "",
      status: null, // the last driver-status frame
      notes: [],
    };
    window.rtlsDemo.rider = state;

    let conn = null;
    let driver = "";
    let request = 0; // numbers track-driver requests: "t1", "t2", …
    let pendingResume = null; // {since, lastSeq} while a resume is answered
    let retryTimer = null;

    const driverInput = $("rider-driver");
    const idInput = $("rider-id");
    const tokenInput = $("rider-token");
    driverInput.value = params.get("driver") || RTLS.storage.get("rtls.rider.driver") || "d-1";
    idInput.value = params.get("id") || randomID();

    function note(text) {
      const el = $("rider-note");
      el.textContent = text;
      el.hidden = !text;
      if (text) state.notes.push(text);
    }

    function message(text) {
      const el = $("rider-message");
      el.textContent = text;
      el.hidden = !text;
    }

    // setConnState shows the connection's state and, once connected, the
    // identity the node understood (kept on one line).
    function setConnState(text, kind, client) {
      const el = $("rider-conn");
      el.textContent = text;
      if (client) {
        const id = document.createElement("span");
        id.className = "nowrap";
        id.textContent = client;
        el.append(" as ", id);
      }
      el.dataset.state = kind;
    }

    function render() {
      const f = state.last;
      RTLS.setText("rider-position", f ? RTLS.fmtCoord(f.latitude) + ", " + RTLS.fmtCoord(f.longitude) : "—");
      RTLS.setText("rider-cursor", state.cursor ? String(state.cursor) : "—");
      RTLS.setText("rider-received", String(state.received.length));
      RTLS.setText("rider-speed", f && typeof f.speed === "number" ? (f.speed * 3.6).toFixed(1) + " km/h" : "—");
      tick();
    }

    // tick refreshes the age of the last fix: from the device's time, or
    // the node's when that is earlier (a phone repeating an old fix does
    // not look fresh).
    function tick() {
      const f = state.last;
      if (!f) {
        RTLS.setText("rider-age", "—");
        return;
      }
      const at = Math.min(typeof f.ts === "number" ? f.ts : f.time, typeof f.time === "number" ? f.time : f.ts);
      const age = Math.max(0, Date.now() - at);
      RTLS.setText("rider-age", RTLS.fmtAge(age));
      map.setStale(age > STALE_AFTER_MS);
    }
    setInterval(tick, 1000);

    function showStatus(s) {
      const el = $("rider-status");
      const since = typeof s.since === "number" ? " since " + new Date(s.since).toLocaleTimeString() : "";
      el.textContent = s.state + since + (s.reason ? " (" + s.reason + ")" : "");
      el.dataset.state = s.state;
    }

    function track() {
      request++;
      const t = { type: "track-driver", driver: driver, id: "t" + request };
      if (state.cursor > 0) {
        t.since = state.cursor;
        pendingResume = { since: state.cursor, lastSeq: state.lastSeq };
      } else {
        t.history = HISTORY;
        pendingResume = null;
      }
      conn.send(t);
    }

    function onWelcome(w) {
      state.node = w.node;
      setConnState("connected to " + w.node, "connected", w.client);
      message("");
      track();
    }

    function onLocation(f) {
      if (f.driver !== driver || typeof f.cursor !== "number") return; // an untracked driver's last fix
      state.received.push({
        cursor: f.cursor,
        seq: f.seq,
        latitude: f.latitude,
        longitude: f.longitude,
        replay: f.replay === true,
        via: state.node,
      });
      if (f.cursor <= state.cursor) {
        state.duplicates++; // already handled: never show a fix twice
        return;
      }
      // The node tells a client nothing about fixes it did not deliver
      // (PROTOCOL.md: latest wins for a slow reader; history is bounded),
      // but a driver's seq usually grows by one per fix: a larger step
      // means fixes were skipped. A future "skipped" field is shown as is.
      if (typeof f.skipped === "number" && f.skipped > 0) {
        note(f.skipped + " fixes were skipped before this one.");
      } else if (typeof f.seq === "number" && state.lastSeq && f.seq > state.lastSeq + 1) {
        note("The driver's seq jumped from " + state.lastSeq + " to " + f.seq + ": " + (f.seq - state.lastSeq - 1) + " fixes skipped (or the driver's app restarted).");
      }
      state.cursor = f.cursor;
      if (typeof f.seq === "number") state.lastSeq = f.seq;
      state.last = f;
      map.show(f.latitude, f.longitude, f.accuracy);
      map.addTrail(f.latitude, f.longitude);
      mapEl.dataset.cursor = String(f.cursor);
      render();
    }

    function onTracking(f) {
      if (f.driver !== driver || f.id !== "t" + request) return;
      if (typeof f.skipped === "number" && f.skipped > 0) {
        note(f.skipped + " fixes were skipped while reconnecting.");
      } else if (pendingResume) {
        state.resumes++;
        const cap = conn && conn.welcome ? conn.welcome.history : 0;
        if (cap && f.replayed >= cap) {
          note("Resumed on " + state.node + ": the node keeps only the last " + cap + " fixes, older ones may have been skipped.");
        } else {
          const n = f.replayed === 1 ? "1 missed fix" : f.replayed + " missed fixes";
          note("Resumed on " + state.node + " after cursor " + pendingResume.since + ": " + n + " replayed.");
        }
      } else {
        note("");
      }
      pendingResume = null;
    }

    function onError(f) {
      if (f.id !== "t" + request && f.driver !== driver) {
        message(f.message + " (" + f.code + ")");
        return;
      }
      if (RETRYABLE.has(f.code)) {
        message("Tracking failed for now (" + f.code + "), trying again…");
        clearTimeout(retryTimer);
        retryTimer = setTimeout(() => conn && conn.isReady() && track(), RETRY_MS);
        return;
      }
      message("Cannot track " + driver + ": " + f.message + " (" + f.code + ")");
      stop();
    }

    function onFrame(f) {
      switch (f.type) {
        case "receive-location":
          onLocation(f);
          break;
        case "tracking":
          onTracking(f);
          break;
        case "driver-status":
          if (f.driver === driver && typeof f.state === "string") {
            state.status = f;
            showStatus(f);
          }
          break;
        case "error":
          onError(f);
          break;
        default:
        // untracked, and frame types this page does not know: ignore.
      }
    }

    function onState(s, info) {
      switch (s) {
        case "connecting":
          setConnState("connecting…", "connecting");
          break;
        case "reconnecting":
          setConnState("reconnecting in " + (info.delay / 1000).toFixed(1) + " s (closed " + info.code + ")", "reconnecting");
          note(
            state.cursor
              ? "Connection lost: reconnecting; fixes sent meanwhile will be replayed from cursor " + state.cursor + "."
              : "Connection lost: reconnecting…",
          );
          break;
        case "failed":
          setConnState("stopped: " + info.reason, "failed");
          setButtons(false);
          break;
        case "stopped":
          setConnState("not connected", "stopped");
          break;
      }
    }

    function setButtons(on) {
      $("rider-start").disabled = on;
      $("rider-stop").disabled = !on;
      driverInput.disabled = on;
      idInput.disabled = on;
      tokenInput.disabled = on;
    }

    function start() {
      const d = driverInput.value.trim();
      const me = idInput.value.trim();
      if (!RTLS.validID(d) || (cfg.auth === "dev" && !RTLS.validID(me))) {
        message("Ids are 1–64 letters, digits, '-' or '_'.");
        return;
      }
      if (cfg.auth === "token" && !tokenInput.value.trim()) {
        message("This node needs a token.");
        return;
      }
      RTLS.storage.set("rtls.rider.driver", d);
      if (d !== driver) {
        // A new driver: forget the old one's fixes.
        state.received = [];
        state.cursor = 0;
        state.lastSeq = 0;
        state.last = null;
        map.clear();
      }
      driver = d;
      RTLS.setText("rider-tracking", driver);
      setButtons(true);
      message("");
      note("");
      conn = new RTLS.Connection({
        urls: RTLS.nodeURLs(params),
        auth: cfg.auth,
        role: "rider",
        id: me,
        token: tokenInput.value.trim(),
        onWelcome: onWelcome,
        onFrame: onFrame,
        onState: onState,
      });
      conn.start();
      render();
    }

    function stop() {
      clearTimeout(retryTimer);
      if (conn) conn.stop();
      conn = null;
      setButtons(false);
    }

    $("rider-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      start();
    });
    $("rider-stop").addEventListener("click", stop);
    render();
    if (params.get("start") === "1") start();
  };
})((window.RTLS = window.RTLS || {}));
