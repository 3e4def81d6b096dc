// map.js: a Leaflet map with one marker, its accuracy circle and its trail.
//
// With a tile URL the map draws tiles under them; under the tiles lies a
// coordinate grid, which shows where tiles are missing (offline) or when the
// node is configured without tiles, so the marker and the trail always mean
// something. The marker's position is
// mirrored in the map element's data-lat / data-lon attributes.
(function (RTLS) {
  "use strict";

  const TRAIL_POINTS = 200;
  // Grid spacings in degrees, coarse to fine.
  const STEPS = [30, 10, 5, 2, 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005, 0.0002, 0.0001];

  function escapeHTML(s) {
    return String(s).replace(/[&<>"']/g, (c) => "&#" + c.charCodeAt(0) + ";");
  }

  function decimals(step) {
    return Math.max(0, Math.ceil(-Math.log10(step)));
  }

  // gridLayer draws parallels and meridians every "nice" step, four to ten
  // across the view, with their values at the view's right and top edges
  // (the controls take the other corners). It lies in a pane under the
  // tiles: it shows wherever a tile is missing, offline or without tiles.
  function gridLayer(map) {
    map.createPane("grid"); // z-index in app.css: below the tile pane
    const renderer = L.svg({ pane: "grid", padding: 0.5 });
    const layer = L.layerGroup();
    function draw() {
      layer.clearLayers();
      const view = map.getBounds();
      const span = Math.max(view.getNorth() - view.getSouth(), view.getEast() - view.getWest());
      // Lines reach half a view beyond each edge, so a pan does not show their ends.
      const b = view.pad(0.5);
      const south = Math.max(-85, b.getSouth());
      const north = Math.min(85, b.getNorth());
      const west = b.getWest();
      const east = b.getEast();
      const step = STEPS.find((s) => span / s >= 4) || STEPS[STEPS.length - 1];
      const d = decimals(step);
      const line = { color: "#9aa5b1", weight: 1, opacity: 0.7, interactive: false, pane: "grid", renderer: renderer };
      const size = map.getSize();
      for (let i = Math.ceil(south / step); i * step <= north; i++) {
        const lat = i * step;
        L.polyline([[lat, west], [lat, east]], line).addTo(layer);
        const y = map.latLngToContainerPoint([lat, view.getEast()]).y;
        if (y > 24 && y < size.y) {
          label(lat.toFixed(d) + "°", [lat, view.getEast()], "grid-label grid-label-lat");
        }
      }
      for (let i = Math.ceil(west / step); i * step <= east; i++) {
        const lon = i * step;
        L.polyline([[south, lon], [north, lon]], line).addTo(layer);
        const x = map.latLngToContainerPoint([view.getNorth(), lon]).x;
        if (x > 0 && x < size.x - 50) {
          label(lon.toFixed(d) + "°", [view.getNorth(), lon], "grid-label grid-label-lon");
        }
      }
    }
    function label(text, at, className) {
      L.marker(at, {
        interactive: false,
        keyboard: false,
        pane: "grid",
        // A point-sized icon; CSS places the text beside it.
        icon: L.divIcon({ className: className, html: "<span>" + escapeHTML(text) + "</span>", iconSize: [0, 0] }),
      }).addTo(layer);
    }
    // Redraw while the map moves (at most once a frame), so that the labels
    // stay at the view's edges.
    let queued = false;
    function queue() {
      if (queued) return;
      queued = true;
      requestAnimationFrame(() => {
        queued = false;
        if (map.hasLayer(layer)) draw();
      });
    }
    map.on("move zoomend resize", queue);
    layer.on("add", draw);
    return layer;
  }

  // createMap makes a map in el. cfg is the node's /web/config.json.
  RTLS.createMap = function (el, cfg) {
    // The SVG renderer draws half a view beyond each edge (Leaflet's default
    // is a tenth), so that the trail and the grid do not end visibly in a pan.
    const map = L.map(el, { center: [20, 0], zoom: 2, worldCopyJump: true, renderer: L.svg({ padding: 0.5 }) });
    gridLayer(map).addTo(map);
    if (cfg.tiles) {
      L.tileLayer(cfg.tiles, {
        maxZoom: 19,
        attribution: escapeHTML(cfg.attribution || ""),
        // The page sends no Referer anywhere, except its origin (not its
        // path, which may hold ids) to the tile server: OpenStreetMap's
        // tile usage policy requires one.
        referrerPolicy: "strict-origin",
      }).addTo(map);
    }
    L.control.scale({ imperial: false }).addTo(map);
    // The map's box changes with the notes and numbers above it, not only
    // with the window: tell Leaflet, or it draws for a stale size.
    if (window.ResizeObserver) new ResizeObserver(() => map.invalidateSize()).observe(el);

    const trail = L.polyline([], { color: "#1d4ed8", weight: 4, opacity: 0.6, interactive: false }).addTo(map);
    const accuracy = L.circle([0, 0], { radius: 1, color: "#1d4ed8", weight: 1, fillOpacity: 0.1, interactive: false });
    const marker = L.circleMarker([0, 0], {
      radius: 9,
      color: "#ffffff",
      weight: 3,
      fillColor: "#1d4ed8",
      fillOpacity: 1,
      className: "position-marker",
    });
    let placed = false;

    return {
      // show moves the marker to (lat, lon), with an accuracy circle of acc
      // metres when known, and keeps it in view.
      show(lat, lon, acc) {
        const ll = L.latLng(lat, lon);
        marker.setLatLng(ll);
        if (typeof acc === "number" && acc > 0) {
          accuracy.setLatLng(ll).setRadius(acc);
          if (!map.hasLayer(accuracy)) accuracy.addTo(map);
        } else if (map.hasLayer(accuracy)) {
          accuracy.remove();
        }
        if (!placed) {
          marker.addTo(map);
          map.setView(ll, 17);
          placed = true;
        } else if (!map.getBounds().pad(-0.2).contains(ll)) {
          map.panTo(ll);
        }
        const at = marker.getLatLng();
        el.dataset.lat = String(at.lat);
        el.dataset.lon = String(at.lng);
      },
      // addTrail appends a point to the trail, keeping the newest ones.
      addTrail(lat, lon) {
        const pts = trail.getLatLngs();
        pts.push(L.latLng(lat, lon));
        if (pts.length > TRAIL_POINTS) pts.splice(0, pts.length - TRAIL_POINTS);
        trail.setLatLngs(pts);
      },
      // clear removes the marker and the trail.
      clear() {
        trail.setLatLngs([]);
        marker.remove();
        accuracy.remove();
        placed = false;
        delete el.dataset.lat;
        delete el.dataset.lon;
      },
      // setStale dims the marker while the position is not current.
      setStale(stale) {
        marker.setStyle({ fillColor: stale ? "#9ca3af" : "#1d4ed8" });
      },
      leaflet: map,
    };
  };
})((window.RTLS = window.RTLS || {}));
