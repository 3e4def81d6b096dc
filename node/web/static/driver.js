// driver.js: the Driver view. It shares this device's position (or a
// simulated walk) as send-location frames and keeps every fix until the
// node acks it, sending the un-acked ones again, in seq order, after a
// reconnect (PROTOCOL.md: "Retries are safe").
(function (RTLS) {
  "use strict";

  const MAX_PENDING = 1000; // un-acked fixes kept; the oldest go first
  const RETRY_MS = 1000; // wait before sending a fix again after a retryable error
  const STOP_GRACE_MS = 10000; // how long Stop waits for the last acks
  const MAX_TS = 4102444800000;
  const SIM_START = [12.9716, 77.5946]; // where a simulated walk starts without a real position
  const SIM_RADIUS_M = 150;
  const SIM_SPEED = 1.4; // m/s, walking
  const RETRYABLE = new Set(["unavailable", "internal", "rate_limited"]);

  function known(v, lo, hi) {
    return typeof v === "number" && Number.isFinite(v) && v >= lo && v <= hi;
  }

  RTLS.startDriverView = function (cfg, params) {
    const $ = RTLS.$;
    const map = RTLS.createMap($("driver-map"), cfg);

    // The state the view shows, and that tests read (window.rtlsDemo.driver).
    const state = {
      sent: [], // every fix as first sent: {seq, ts, latitude, longitude}
      acked: [], // {seq, cursor, duplicate}, in the order the acks came
      pending: new Map(), // seq → frame, not yet acked, in seq order
      refused: 0,
      dropped: 0,
      resent: 0,
      intervalMs: 0, // the interval the node asked for (set-interval), 0 for none
      geoErrors: [], // "code message" of every geolocation error
      node: "",
      lastError: "",
    };
    window.rtlsDemo.driver = state;

    let conn = null;
    let id = "";
    let seq = 0;
    let watchID = null;
    let simTimer = null;
    let sim = null; // {lat0, lon0, angle}
    let lastPos = null; // the newest position, real or simulated
    let lastPosAt = 0; // when it came (local clock)
    let geoMessage = ""; // the geolocation error shown, if any
    let lastEmit = 0;
    let throttle = null;
    let retryTimer = null;
    const retry = new Set(); // seqs to send again when retryTimer fires
    let stopTimer = null;
    let sharing = false;

    const idInput = $("driver-id");
    const tokenInput = $("driver-token");
    const simInput = $("driver-simulate");
    idInput.value = params.get("id") || RTLS.storage.get("rtls.driver.id") || "d-1";
    simInput.checked = params.get("simulate") === "1";

    // seq increases across page loads: it starts from the current time in
    // milliseconds, or after the last one this browser used for this id.
    function nextSeq() {
      if (seq === 0) seq = Math.max(Date.now(), Number(RTLS.storage.get("rtls.driver.seq." + id)) || 0);
      seq++;
      RTLS.storage.set("rtls.driver.seq." + id, String(seq));
      return seq;
    }

    function message(text) {
      const el = $("driver-message");
      el.textContent = text;
      el.hidden = !text;
    }

    function render() {
      RTLS.setText("driver-sent", String(state.sent.length));
      RTLS.setText("driver-acked", String(state.acked.length));
      RTLS.setText("driver-unacked", String(state.pending.size));
      RTLS.setText("driver-refused", String(state.refused + state.dropped));
      const last = state.acked[state.acked.length - 1];
      RTLS.setText("driver-cursor", last ? String(last.cursor) : "—");
      RTLS.setText("driver-interval", state.intervalMs ? (state.intervalMs / 1000).toFixed(1) + " s (asked by the node)" : "as the device reports");
      if (lastPos) {
        const acc = known(lastPos.accuracy, 0, 1e6) ? " ±" + Math.round(lastPos.accuracy) + " m" : "";
        RTLS.setText("driver-position", RTLS.fmtCoord(lastPos.latitude) + ", " + RTLS.fmtCoord(lastPos.longitude) + acc);
      }
    }

    // setConnState shows the connection's state and, once connected, the
    // identity the node understood (kept on one line).
    function setConnState(text, kind, client) {
      const el = $("driver-conn");
      el.textContent = text;
      if (client) {
        const id = document.createElement("span");
        id.className = "nowrap";
        id.textContent = client;
        el.append(" as ", id);
      }
      el.dataset.state = kind;
    }

    // fix makes a send-location frame. Optional fields go only when the
    // device knows them: never -1 or null (the node refuses those).
    function fix(p) {
      const f = { type: "send-location", latitude: p.latitude, longitude: p.longitude, seq: nextSeq() };
      f.ts = known(p.timestamp, 1, MAX_TS) ? Math.round(p.timestamp) : Date.now();
      if (known(p.accuracy, 0, 100000)) f.accuracy = p.accuracy;
      if (known(p.speed, 0, 1000)) f.speed = p.speed;
      if (known(p.heading, 0, 360)) f.heading = p.heading;
      return f;
    }

    // position takes a new position from the device or the simulation.
    // With an interval from the node it sends at most one fix per interval,
    // the newest.
    function position(p) {
      if (!known(p.latitude, -90, 90) || !known(p.longitude, -180, 180)) return;
      lastPos = p;
      lastPosAt = Date.now();
      if (geoMessage) {
        geoMessage = "";
        message("");
      }
      map.show(p.latitude, p.longitude, p.accuracy);
      render();
      if (!sharing) return;
      const wait = state.intervalMs ? lastEmit + state.intervalMs - Date.now() : 0;
      if (wait <= 0) {
        emit(p);
      } else if (!throttle) {
        throttle = setTimeout(() => {
          throttle = null;
          if (sharing && lastPos) emit(lastPos);
        }, wait);
      }
    }

    function emit(p) {
      lastEmit = Date.now();
      const f = fix(p);
      state.pending.set(f.seq, f);
      while (state.pending.size > MAX_PENDING) {
        state.pending.delete(state.pending.keys().next().value);
        state.dropped++;
      }
      state.sent.push({ seq: f.seq, ts: f.ts, latitude: f.latitude, longitude: f.longitude });
      map.addTrail(f.latitude, f.longitude);
      conn.send(f); // if not connected, it goes after the next welcome
      render();
    }

    function resendAll() {
      for (const f of state.pending.values()) {
        if (!conn.send(f)) return;
        state.resent++;
      }
    }

    function scheduleRetry(s) {
      retry.add(s);
      if (retryTimer) return;
      retryTimer = setTimeout(() => {
        retryTimer = null;
        const seqs = Array.from(retry).sort((a, b) => a - b);
        retry.clear();
        for (const s of seqs) {
          const f = state.pending.get(s);
          if (f && conn && conn.send(f)) state.resent++;
        }
      }, RETRY_MS);
    }

    function onWelcome(w) {
      state.node = w.node;
      setConnState("connected to " + w.node, "connected", w.client);
      message("");
      resendAll();
      render();
    }

    function onFrame(f) {
      switch (f.type) {
        case "ack":
          if (state.pending.delete(f.seq)) {
            state.acked.push({ seq: f.seq, cursor: f.cursor, duplicate: f.duplicate === true });
          }
          if (!sharing && state.pending.size === 0) finishStop();
          break;
        case "error":
          state.lastError = f.code + ": " + f.message;
          if (typeof f.seq === "number" && state.pending.has(f.seq)) {
            if (RETRYABLE.has(f.code)) {
              scheduleRetry(f.seq);
            } else {
              state.pending.delete(f.seq);
              state.refused++;
              message("The node refused fix " + f.seq + ": " + f.message + " (" + f.code + ")");
            }
          } else {
            message(f.message + " (" + f.code + ")");
          }
          break;
        case "set-interval":
          if (known(f.interval_ms, 1, 24 * 3600 * 1000)) {
            state.intervalMs = Math.max(100, Math.round(f.interval_ms));
            if (simTimer) startSim(); // the walk follows the new pace
          }
          break;
        default:
        // A frame type this page does not know: ignore it (PROTOCOL.md).
      }
      render();
    }

    function onState(s, info) {
      switch (s) {
        case "connecting":
          setConnState("connecting…", "connecting");
          break;
        case "reconnecting":
          setConnState("reconnecting in " + (info.delay / 1000).toFixed(1) + " s (closed " + info.code + ")", "reconnecting");
          break;
        case "failed":
          setConnState("stopped: " + info.reason, "failed");
          stopSources();
          setButtons(false);
          sharing = false;
          break;
        case "stopped":
          setConnState("not connected", "stopped");
          break;
      }
    }

    // Positions: the device's, or a walk in a circle around the last known
    // position.
    // geoError reports why there is no position. Permission denied ends
    // the watch; "unavailable" and "timeout" are transient (the watch goes
    // on), so they show only while no position has come for a while.
    function geoError(err) {
      state.geoErrors.push(err.code + " " + err.message);
      if (err.code !== 1 && lastPos && Date.now() - lastPosAt < 10000) return;
      let text = "No position from this device" + (err.message ? ": " + err.message : "") + ".";
      if (err.code === 1) text = "Location permission denied.";
      if (!window.isSecureContext) text += " Browsers give the position only to https pages and localhost.";
      geoMessage = text + ' Switch on "simulate a route" to share a synthetic walk instead.';
      message(geoMessage);
    }

    function startSources() {
      stopSources();
      if (simInput.checked) {
        startSim();
        return;
      }
      if (!navigator.geolocation) {
        geoError({ code: 2, message: "this browser has no geolocation" });
        return;
      }
      watchID = navigator.geolocation.watchPosition(
        (pos) =>
          position({
            latitude: pos.coords.latitude,
            longitude: pos.coords.longitude,
            accuracy: pos.coords.accuracy,
            speed: pos.coords.speed,
            heading: pos.coords.heading,
            timestamp: pos.timestamp,
          }),
        geoError,
        { enableHighAccuracy: true, maximumAge: 0, timeout: 60000 },
      );
    }

    function startSim() {
      if (simTimer) clearInterval(simTimer);
      if (!sim) {
        const at = lastPos || { latitude: SIM_START[0], longitude: SIM_START[1] };
        // The circle's centre is west of the start, so the walk begins there.
        const lat0 = at.latitude;
        const lon0 = at.longitude - SIM_RADIUS_M / (111320 * Math.cos((lat0 * Math.PI) / 180));
        sim = { lat0: lat0, lon0: lon0, angle: 0 };
      }
      const period = state.intervalMs || 1000;
      const stepAngle = (SIM_SPEED * (period / 1000)) / SIM_RADIUS_M;
      const tick = () => {
        sim.angle += stepAngle;
        const north = SIM_RADIUS_M * Math.sin(sim.angle);
        const east = SIM_RADIUS_M * Math.cos(sim.angle);
        // Walking anticlockwise, the heading (clockwise from north) is -angle.
        const heading = ((((-sim.angle * 180) / Math.PI) % 360) + 360) % 360;
        position({
          latitude: sim.lat0 + north / 111320,
          longitude: sim.lon0 + east / (111320 * Math.cos((sim.lat0 * Math.PI) / 180)),
          accuracy: 5,
          speed: SIM_SPEED,
          heading: heading,
          timestamp: Date.now(),
        });
      };
      tick();
      simTimer = setInterval(tick, period);
    }

    function stopSources() {
      if (watchID !== null) navigator.geolocation.clearWatch(watchID);
      watchID = null;
      if (simTimer) clearInterval(simTimer);
      simTimer = null;
      if (throttle) clearTimeout(throttle);
      throttle = null;
    }

    function setButtons(on) {
      $("driver-start").disabled = on;
      $("driver-stop").disabled = !on;
      idInput.disabled = on;
      tokenInput.disabled = on;
    }

    function start() {
      id = idInput.value.trim();
      if (!RTLS.validID(id)) {
        message("A driver id is 1–64 letters, digits, '-' or '_'.");
        return;
      }
      if (cfg.auth === "token" && !tokenInput.value.trim()) {
        message("This node needs a token.");
        return;
      }
      RTLS.storage.set("rtls.driver.id", id);
      if (stopTimer) finishStop();
      seq = 0;
      sharing = true;
      setButtons(true);
      message("");
      conn = new RTLS.Connection({
        urls: RTLS.nodeURLs(params),
        auth: cfg.auth,
        role: "driver",
        id: id,
        token: tokenInput.value.trim(),
        onWelcome: onWelcome,
        onFrame: onFrame,
        onState: onState,
      });
      conn.start();
      startSources();
    }

    // stop stops taking positions at once and closes the connection once
    // every fix is acked (or after STOP_GRACE_MS).
    function stop() {
      sharing = false;
      stopSources();
      setButtons(false);
      if (!conn) return;
      if (state.pending.size === 0) {
        finishStop();
        return;
      }
      message("Stopping once the last " + state.pending.size + " fixes are acked…");
      stopTimer = setTimeout(finishStop, STOP_GRACE_MS);
    }

    function finishStop() {
      if (stopTimer) clearTimeout(stopTimer);
      stopTimer = null;
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = null;
      retry.clear();
      if (conn) conn.stop();
      conn = null;
      if (state.pending.size > 0) message(state.pending.size + " fixes were never acked.");
      else message("");
    }

    $("driver-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      start();
    });
    $("driver-stop").addEventListener("click", stop);
    simInput.addEventListener("change", () => {
      if (sharing) startSources();
    });
    render();
    if (params.get("start") === "1") start();
  };
})((window.RTLS = window.RTLS || {}));
