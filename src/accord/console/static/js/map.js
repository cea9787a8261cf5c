// The map: rendering only. An offline base map (Natural Earth outlines shipped with the
// package: world-atlas 1:50m, and a 1:10m extract for the eastern Mediterranean), or the
// deployment's own tiles; layers for notices (own, others', hazards), standing zones,
// conflicts, aircraft with their predicted paths, and alerts. Drawn on one canvas so that
// ten thousand notices stay fast; every feature reports clicks to `onSelect`.

import { ahead, centre, latLngRings, radiusMetres } from "./geo.js";
import { NoticeCanvas, noticeBounds } from "./noticecanvas.js";

/* global L, topojson */

const STYLE = {
  own: { color: "#1f5fbf", weight: 1.5, fillOpacity: 0.12 },
  other: { color: "#8a4b00", weight: 1.5, fillOpacity: 0.12 },
  hazard: { color: "#c0161b", weight: 2, dashArray: "6 4", fillOpacity: 0.18 },
  zone: { color: "#555", weight: 1.5, dashArray: "2 4", fillOpacity: 0.06 },
};

export class MapView {
  constructor(el, settings, onSelect) {
    this.onSelect = onSelect;
    this.renderer = L.canvas({ padding: 0.2, tolerance: 4 });
    this.map = L.map(el, { renderer: this.renderer, preferCanvas: true, zoomControl: true,
      worldCopyJump: false, attributionControl: true, keyboard: true })
      .setView([35.2, 35.8], 8);
    this.settings = settings;
    // Aircraft and alerts on a canvas of their own: they move every second, and redrawing
    // them must not redraw ten thousand notices.
    this.map.createPane("moving").style.zIndex = 450;
    this.moving = L.canvas({ pane: "moving", padding: 0.2, tolerance: 4 });
    const pick = (what) => this.onSelect(what);
    this.layers = {
      own: new NoticeCanvas(STYLE.own, pick), other: new NoticeCanvas(STYLE.other, pick),
      hazard: new NoticeCanvas(STYLE.hazard, pick), zones: L.layerGroup(),
      conflicts: L.layerGroup(), aircraft: L.layerGroup(), alerts: L.layerGroup(), draft: L.layerGroup(),
    };
    this.byNotice = new Map(); // id -> the layer (kind) it is drawn in
    this.aircraft = new Map(); // party/aircraft -> {dot, path}
    this.drawing = false; // set while a footprint is drawn: clicks go to the drawing
    this.map.accordDrawing = false;
    for (const name of ["zones", "own", "other", "hazard", "conflicts", "alerts", "aircraft", "draft"]) {
      this.layers[name].addTo(this.map);
    }
    L.control.layers(null, {
      "Own notices": this.layers.own, "Other parties' notices": this.layers.other,
      "Hazard volumes": this.layers.hazard, "Standing zones": this.layers.zones,
      "Conflicts and violations": this.layers.conflicts, "Aircraft": this.layers.aircraft,
      "Alerts": this.layers.alerts,
    }, { collapsed: false }).addTo(this.map);
    L.control.scale({ imperial: false }).addTo(this.map);
  }

  async loadBase() {
    if (this.settings.tile_url) {
      L.tileLayer(this.settings.tile_url, { attribution: this.settings.tile_attribution || "" }).addTo(this.map);
      return;
    }
    const base = { color: "#7a8a99", weight: 0.8, fillColor: "#eef1ec", fillOpacity: 1, interactive: false };
    const [world, region] = await Promise.all([
      fetch("/console/vendor/world-atlas/countries-50m.json").then((r) => r.json()),
      fetch("/console/vendor/natural-earth-east-med/countries-10m-east-med.json").then((r) => r.json()),
    ]);
    const coarse = L.geoJSON(topojson.feature(world, world.objects.countries), { style: base, renderer: this.renderer });
    const fine = L.geoJSON(region, { style: { ...base, fillOpacity: 0 }, renderer: this.renderer });
    coarse.addTo(this.map);
    fine.addTo(this.map);
    coarse.bringToBack();
    this.map.attributionControl.addAttribution("Natural Earth (public domain), world-atlas");
  }

  shape(fp, style, data) {
    const opts = { ...style, renderer: this.renderer };
    const layer = fp.type === "Circle"
      ? L.circle([fp.center[1], fp.center[0]], { ...opts, radius: radiusMetres(fp.radius) })
      : L.polygon(latLngRings(fp), opts);
    layer.on("click", (e) => {
      if (this.drawing) return; // the click bubbles to the map: a corner or a centre
      L.DomEvent.stopPropagation(e);
      this.onSelect(data);
    });
    return layer;
  }

  // Add or replace one notice's volumes (`kind`: own | other | hazard).
  notice(n, kind) {
    const held = this.byNotice.get(n.id);
    if (held && held !== kind) this.layers[held].delete(n.id);
    this.layers[kind].set(n);
    this.byNotice.set(n.id, kind);
  }

  removeNotice(id) {
    const held = this.byNotice.get(id);
    if (held) { this.layers[held].delete(id); this.byNotice.delete(id); }
  }

  clearNotices() {
    for (const name of ["own", "other", "hazard"]) this.layers[name].clear();
    this.byNotice.clear();
  }

  zones(zones) {
    this.layers.zones.clearLayers();
    for (const z of zones) {
      const vols = z.volumes || [{ footprint: z.footprint }];
      for (const v of vols) this.shape(v.footprint, STYLE.zone, { zone: z.id }).addTo(this.layers.zones);
    }
  }

  // Conflicts and zone violations: the volumes concerned outlined, joined by a line.
  findings(findings, notices, zones) {
    this.layers.conflicts.clearLayers();
    for (const f of findings) {
      const a = notices.get(f.notice);
      if (!a) continue;
      let b = null;
      if (f.kind === "conflict") b = notices.get(f.details.other);
      const zone = f.kind === "zone_violation" ? zones.find((z) => z.id === f.details.zone) : null;
      const style = { color: "#d0008f", weight: 3, fill: false };
      const targets = [a, b].filter(Boolean);
      for (const n of targets) for (const v of n.volumes) this.shape(v.footprint, style, { finding: f.finding }).addTo(this.layers.conflicts);
      const ends = [centre(a.volumes[0].footprint)];
      if (b) ends.push(centre(b.volumes[0].footprint));
      if (zone) ends.push(centre((zone.volumes ? zone.volumes[0] : zone).footprint));
      if (ends.length === 2) {
        const line = L.polyline(ends, { color: "#d0008f", weight: 3, dashArray: "8 6", renderer: this.renderer });
        line.on("click", () => this.onSelect({ finding: f.finding }));
        line.addTo(this.layers.conflicts);
      }
    }
  }

  // Aircraft: a dot and the path predicted over the next two minutes. `alerted` names the
  // aircraft of open alerts (drawn red). Markers are moved, not rebuilt, on each update.
  tracks(tracks, alerted, party) {
    const seen = new Set();
    for (const t of tracks) {
      const key = `${t.party}/${t.aircraft}`;
      seen.add(key);
      const own = t.party === party;
      const colour = alerted.has(key) ? "#c0161b" : own ? "#137333" : "#8a4b00";
      const path = [[t.lat, t.lon], ahead(t.lat, t.lon, t.trk_deg, t.gs_mps, 120)];
      let held = this.aircraft.get(key);
      if (!held) {
        const dot = L.circleMarker([t.lat, t.lon], { radius: 5, color: colour, fillOpacity: 0.9, renderer: this.moving });
        const line = L.polyline(path, { color: colour, weight: 1, opacity: 0.8, renderer: this.moving, interactive: false });
        dot.on("click", () => this.onSelect({ aircraft: key }));
        dot.addTo(this.layers.aircraft);
        line.addTo(this.layers.aircraft);
        held = { dot, line, colour };
        this.aircraft.set(key, held);
      } else {
        held.dot.setLatLng([t.lat, t.lon]);
        held.line.setLatLngs(path);
        if (held.colour !== colour) {
          held.dot.setStyle({ color: colour });
          held.line.setStyle({ color: colour });
          held.colour = colour;
        }
      }
    }
    for (const [key, held] of this.aircraft) {
      if (!seen.has(key)) {
        this.layers.aircraft.removeLayer(held.dot);
        this.layers.aircraft.removeLayer(held.line);
        this.aircraft.delete(key);
      }
    }
  }

  // Alert geometry: a line between the aircraft of a separation alert, a ring around the
  // aircraft of the others; drawn where the aircraft are now (tracks) or were (samples).
  alerts(alerts, positions) {
    this.layers.alerts.clearLayers();
    for (const a of alerts) {
      const names = Array.isArray(a.details.aircraft) ? a.details.aircraft : [a.details.aircraft];
      const pts = names.map((n) => positions.get(n)).filter(Boolean);
      const colour = a.level >= 3 ? "#c0161b" : a.level === 2 ? "#d97706" : "#b59f00";
      if (pts.length === 2) {
        L.polyline(pts, { color: colour, weight: 4, renderer: this.moving })
          .on("click", () => this.onSelect({ alert: a.alert })).addTo(this.layers.alerts);
      }
      for (const p of pts) {
        L.circleMarker(p, { radius: 12, color: colour, weight: 3, fill: false, renderer: this.moving })
          .on("click", () => this.onSelect({ alert: a.alert })).addTo(this.layers.alerts);
      }
    }
  }

  select(id, fit = false) {
    for (const name of ["own", "other", "hazard"]) this.layers[name].select(id);
    const kind = id ? this.byNotice.get(id) : null;
    if (fit && kind) {
      const [w, s, e, n] = noticeBounds(this.layers[kind].items.get(id).notice);
      this.map.fitBounds([[s, w], [n, e]], { maxZoom: 10, padding: [30, 30] });
    }
  }

  // Fit the view to the notices from their footprints alone: done before they are drawn,
  // so ten thousand shapes are projected once, not once here and again after a zoom.
  fit(notices) {
    let w = 180, s = 90, e = -180, n = -90;
    for (const notice of notices) {
      const box = noticeBounds(notice);
      w = Math.min(w, box[0]); s = Math.min(s, box[1]); e = Math.max(e, box[2]); n = Math.max(n, box[3]);
    }
    if (w <= e && s <= n) this.map.fitBounds([[s, w], [n, e]], { maxZoom: 9, padding: [20, 20], animate: false });
  }
}
