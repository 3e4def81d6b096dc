// conn.js: one WebSocket to an rtls node that comes back by itself.
//
// It speaks only what mobileproto/PROTOCOL.md describes: identity in the URL
// query (development mode) or in the subprotocol ("rtls.v1",
// "bearer.<token>"); "welcome" first; close codes 1009 and 4001 are final,
// 1001 means "reconnect at once, preferably elsewhere", anything else means
// "reconnect with backoff and jitter". Each attempt goes to the next node of
// the list, so a page can outlive the node that served it.
(function (RTLS) {
  "use strict";

  // Close codes after which reconnecting cannot help. PROTOCOL.md names 1009
  // and 4001; 1008 is RFC 6455's policy violation, and 4003 (token expired:
  // a new token is needed) and 4009 (the same driver connected elsewhere:
  // reconnecting would take the session back and forth) come with tokens.
  // Any other code means: reconnect.
  const FINAL = {
    1008: "the node says this client broke the protocol",
    1009: "a frame was larger than the node accepts",
    4001: "the node refused this identity",
    4003: "the token expired: enter a new one",
    4009: "this driver connected from elsewhere",
  };
  const BACKOFF_MIN_MS = 100;
  const BACKOFF_MAX_MS = 5000;

  // nodeURLs is the list of WebSocket URLs to try: ?nodes=ws://a/v1/ws,…
  // when given, else this page's own node.
  RTLS.nodeURLs = function (params) {
    const given = (params.get("nodes") || "")
      .split(",")
      .map((s) => s.trim())
      .filter((s) => /^wss?:\/\/[^\s]+$/.test(s));
    if (given.length > 0) return given;
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    return [scheme + location.host + "/v1/ws"];
  };

  // backoff: 100 ms doubling to 5 s, each delay drawn from [half, full]
  // so that the clients of a failed node do not come back all at once.
  function backoff(attempt) {
    const full = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, attempt));
    return Math.round(full / 2 + Math.random() * (full / 2));
  }

  // Connection options:
  //   urls       WebSocket URLs of the nodes, tried in turn
  //   auth       "dev" (role and id in the query) or "token" (subprotocol)
  //   role, id   the development identity
  //   token      the token, in token mode
  //   onWelcome(frame)       a (re)connection is ready: send requests now
  //   onFrame(frame)         every other frame, parsed
  //   onState(state, info)   "connecting", "connected", "reconnecting",
  //                          "stopped" or "failed" (a final close)
  class Connection {
    constructor(opts) {
      this.opts = opts;
      this.urls = opts.urls;
      this.index = 0; // the next URL to try
      this.attempt = 0; // failed attempts since the last welcome
      this.ws = null;
      this.ready = false; // welcome received on this.ws
      this.timer = null;
      this.stopped = true;
      this.welcome = null;
    }

    start() {
      this.stopped = false;
      this.attempt = 0;
      this.connect();
    }

    connect() {
      this.timer = null;
      const url = this.urls[this.index % this.urls.length];
      let ws;
      try {
        if (this.opts.auth === "token") {
          ws = new WebSocket(url, ["rtls.v1", "bearer." + this.opts.token]);
        } else {
          const u = new URL(url);
          u.searchParams.set("role", this.opts.role);
          u.searchParams.set("id", this.opts.id);
          ws = new WebSocket(u.toString());
        }
      } catch (e) {
        // A malformed URL or a token with characters a subprotocol may not
        // have: retrying would fail the same way.
        this.stopped = true;
        this.opts.onState("failed", { reason: e.message });
        return;
      }
      this.ws = ws;
      this.ready = false;
      this.opts.onState("connecting", { url: url });
      ws.onmessage = (ev) => this.receive(ws, ev);
      ws.onclose = (ev) => this.closed(ws, ev);
    }

    receive(ws, ev) {
      if (ws !== this.ws || typeof ev.data !== "string") return;
      let f;
      try {
        f = JSON.parse(ev.data);
      } catch (e) {
        return; // not JSON: nothing a client can do with it
      }
      if (!f || typeof f !== "object" || typeof f.type !== "string") return;
      if (f.type === "welcome") {
        this.ready = true;
        this.attempt = 0;
        this.welcome = f;
        this.opts.onState("connected", { node: f.node, url: ws.url });
        this.opts.onWelcome(f);
        return;
      }
      this.opts.onFrame(f);
    }

    closed(ws, ev) {
      if (ws !== this.ws) return;
      this.ws = null;
      this.ready = false;
      if (this.stopped) {
        this.opts.onState("stopped", {});
        return;
      }
      if (FINAL[ev.code]) {
        this.stopped = true;
        this.opts.onState("failed", { code: ev.code, reason: ev.reason || FINAL[ev.code] });
        return;
      }
      // 1001 (the node is going away): at once, with a little jitter, to the
      // next node. Anything else: exponential backoff.
      const delay = ev.code === 1001 && this.attempt === 0 ? Math.round(Math.random() * 100) : backoff(this.attempt);
      this.attempt++;
      this.index++;
      this.opts.onState("reconnecting", {
        code: ev.code,
        reason: ev.reason,
        delay: delay,
        attempt: this.attempt,
        next: this.urls[this.index % this.urls.length],
      });
      this.timer = setTimeout(() => this.connect(), delay);
    }

    // send writes frame as JSON if the connection is ready, and reports
    // whether it did.
    send(frame) {
      if (!this.ws || !this.ready || this.ws.readyState !== WebSocket.OPEN) return false;
      this.ws.send(JSON.stringify(frame));
      return true;
    }

    isReady() {
      return this.ready;
    }

    stop() {
      this.stopped = true;
      if (this.timer) {
        clearTimeout(this.timer);
        this.timer = null;
        this.opts.onState("stopped", {});
      }
      if (this.ws) this.ws.close(1000, "stopped");
    }
  }

  RTLS.Connection = Connection;

  // Small DOM helpers shared by the views.
  RTLS.$ = (id) => document.getElementById(id);
  RTLS.setText = (id, text) => {
    const el = document.getElementById(id);
    if (el) el.textContent = text;
  };
  RTLS.validID = (s) => /^[A-Za-z0-9_-]{1,64}$/.test(s);
  RTLS.fmtCoord = (v) => (typeof v === "number" ? v.toFixed(6) : "—");
  RTLS.fmtAge = function (ms) {
    if (!(ms >= 0)) return "—";
    const s = Math.floor(ms / 1000);
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s ago";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min ago";
  };
  RTLS.storage = {
    get(key) {
      try {
        return window.localStorage.getItem(key);
      } catch (e) {
        return null; // storage disabled
      }
    },
    set(key, value) {
      try {
        window.localStorage.setItem(key, value);
      } catch (e) {
        // storage disabled or full: the page works without it
      }
    },
  };
})((window.RTLS = window.RTLS || {}));
