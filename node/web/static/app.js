// app.js: picks the view from the URL (?view=driver|rider, else the two
// choices), loads the node's /web/config.json and starts the view.
//
// window.rtlsDemo is the page's state for tests and curious developers:
// {config, driver, rider, violations}.
(function (RTLS) {
  "use strict";

  window.rtlsDemo = { config: null, driver: null, rider: null, violations: [] };
  document.addEventListener("securitypolicyviolation", (ev) => {
    window.rtlsDemo.violations.push(ev.violatedDirective + " " + ev.blockedURI);
  });

  const params = new URLSearchParams(location.search);
  const view = params.get("view");

  // Links between the views keep the list of nodes.
  const nodes = params.get("nodes");
  for (const a of document.querySelectorAll("a[data-view]")) {
    const q = new URLSearchParams();
    if (a.dataset.view) q.set("view", a.dataset.view);
    if (nodes) q.set("nodes", nodes);
    a.href = "?" + q.toString();
  }

  function fail(text) {
    const el = RTLS.$("page-error");
    el.textContent = text;
    el.hidden = false;
  }

  fetch("/web/config.json", { cache: "no-cache" })
    .then((r) => {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    })
    .then((cfg) => {
      window.rtlsDemo.config = cfg;
      document.body.dataset.auth = cfg.auth;
      RTLS.setText("auth-mode", cfg.auth === "token" ? "token auth" : "development mode");
      for (const el of document.querySelectorAll(".token-only")) el.hidden = cfg.auth !== "token";
      for (const el of document.querySelectorAll(".dev-only")) el.hidden = cfg.auth === "token";
      if (view === "driver") {
        RTLS.$("driver").hidden = false;
        RTLS.startDriverView(cfg, params);
      } else if (view === "rider") {
        RTLS.$("rider").hidden = false;
        RTLS.startRiderView(cfg, params);
      } else {
        RTLS.$("home").hidden = false;
      }
      document.body.dataset.ready = "1";
    })
    .catch((e) => fail("Cannot load this node's configuration (" + e.message + "). Reload to try again."));
})((window.RTLS = window.RTLS || {}));
