// Notices on one canvas per layer, drawn in one pass: ten thousand volumes are a few paths
// per style (no object per shape, as Leaflet's own vector layers would make), culled to the
// view, redrawn at most once a frame. Clicks are hit-tested here (circles by distance,
// polygons by the even-odd rule). Rendering only.

import { radiusMetres } from "./geo.js";

/* global L */

const EQUATOR_M = 40075016.686;

export const NoticeCanvas = L.Layer.extend({
  initialize(style, onSelect) {
    this.style = style;
    this.onSelect = onSelect;
    this.items = new Map(); // id -> {notice, box: [w, s, e, n]}
    this.selected = null;
    this.frame = 0;
  },

  onAdd(map) {
    this._map = map;
    this.canvas = L.DomUtil.create("canvas", "notice-canvas");
    this.canvas.setAttribute("aria-hidden", "true");
    map.getPanes().overlayPane.appendChild(this.canvas);
    map.on("moveend zoomend resize viewreset", this.redraw, this);
    map.on("zoomstart", this.hide, this);
    map.on("click", this.click, this);
    this.redraw();
  },

  onRemove(map) {
    map.off("moveend zoomend resize viewreset", this.redraw, this);
    map.off("zoomstart", this.hide, this);
    map.off("click", this.click, this);
    this.canvas.remove();
    this._map = null;
  },

  // A new notice is painted over what is drawn (a live filing costs one shape, not ten
  // thousand); a changed one, or one already drawn selected, redraws the layer.
  set(notice) {
    const fresh = !this.items.has(notice.id);
    this.items.set(notice.id, { notice, box: bounds(notice) });
    if (fresh && this.drawnView && !this.frame && this._map && notice.id !== this.selected
        && this.drawnView === viewKey(this._map)) {
      this.paint(this.canvas.getContext("2d"), [notice], false);
      return;
    }
    this.redraw();
  },

  delete(id) {
    if (this.items.delete(id)) this.redraw();
  },

  clear() {
    this.items.clear();
    this.redraw();
  },

  select(id) {
    this.selected = id;
    this.redraw();
  },

  hide() {
    if (this.canvas) this.canvas.style.visibility = "hidden";
  },

  redraw() {
    if (!this._map || this.frame) return;
    this.frame = requestAnimationFrame(() => { this.frame = 0; this.draw(); });
  },

  // Draw now (the benchmark's and the first render's path; `redraw` batches to a frame).
  draw() {
    const map = this._map;
    if (!map) return;
    const size = map.getSize();
    const ratio = window.devicePixelRatio || 1;
    const c = this.canvas;
    c.width = size.x * ratio;
    c.height = size.y * ratio;
    c.style.width = `${size.x}px`;
    c.style.height = `${size.y}px`;
    L.DomUtil.setPosition(c, map.containerPointToLayerPoint([0, 0]));
    c.style.visibility = "visible";
    const ctx = c.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    const view = map.getBounds();
    const [vw, vs, ve, vn] = [view.getWest(), view.getSouth(), view.getEast(), view.getNorth()];
    const shown = [];
    let selected = null;
    for (const { notice, box } of this.items.values()) {
      if (box[0] > ve || box[2] < vw || box[1] > vn || box[3] < vs) continue;
      if (notice.id === this.selected) selected = notice; else shown.push(notice);
    }
    this.paint(ctx, shown, false);
    if (selected) this.paint(ctx, [selected], true);
    this.drawnView = viewKey(map);
  },

  paint(ctx, notices, selected) {
    const map = this._map;
    const zoomScale = 256 * 2 ** map.getZoom();
    const path = new Path2D();
    for (const n of notices) trace(path, n, map, zoomScale);
    const st = this.style;
    ctx.lineWidth = selected ? 4 : st.weight;
    ctx.strokeStyle = st.color;
    ctx.fillStyle = st.color;
    ctx.setLineDash(st.dashArray ? st.dashArray.split(" ").map(Number) : []);
    ctx.globalAlpha = selected ? Math.min(1, st.fillOpacity * 2) : st.fillOpacity;
    ctx.fill(path, "nonzero");
    ctx.globalAlpha = 1;
    ctx.stroke(path);
  },

  click(e) {
    if (this._map.accordDrawing) return; // a corner or a centre being drawn
    const p = e.containerPoint;
    const zoomScale = 256 * 2 ** this._map.getZoom();
    const hits = [];
    for (const { notice, box } of this.items.values()) {
      const ll = e.latlng;
      const pad = 0.5;
      if (ll.lng < box[0] - pad || ll.lng > box[2] + pad || ll.lat < box[1] - pad || ll.lat > box[3] + pad) continue;
      if (hit(notice, p, this._map, zoomScale)) hits.push(notice);
    }
    if (hits.length) this.onSelect({ notice: hits[hits.length - 1].id });
  },
});

function viewKey(map) {
  const c = map.getCenter(), z = map.getZoom(), sz = map.getSize();
  return `${c.lat},${c.lng},${z},${sz.x},${sz.y}`;
}

// A circular footprint on screen: its centre (container point) and radius in pixels, at
// least `minPx`.
function circlePx(fp, map, zoomScale, minPx) {
  const c = map.latLngToContainerPoint([fp.center[1], fp.center[0]]);
  const metresPerPx = (EQUATOR_M * Math.cos((fp.center[1] * Math.PI) / 180)) / zoomScale;
  return [c, Math.max(minPx, radiusMetres(fp.radius) / metresPerPx)];
}

function trace(path, notice, map, zoomScale) {
  for (const v of notice.volumes) {
    const fp = v.footprint;
    if (fp.type === "Circle") {
      const [c, r] = circlePx(fp, map, zoomScale, 1);
      path.moveTo(c.x + r, c.y);
      path.arc(c.x, c.y, r, 0, 2 * Math.PI);
    } else {
      for (const ring of fp.coordinates) {
        ring.forEach(([x, y], i) => {
          const q = map.latLngToContainerPoint([y, x]);
          if (i === 0) path.moveTo(q.x, q.y); else path.lineTo(q.x, q.y);
        });
        path.closePath();
      }
    }
  }
}

function hit(notice, p, map, zoomScale) {
  for (const v of notice.volumes) {
    const fp = v.footprint;
    if (fp.type === "Circle") {
      const [c, r] = circlePx(fp, map, zoomScale, 4); // at least 4 px: a tiny one stays clickable
      if ((p.x - c.x) ** 2 + (p.y - c.y) ** 2 <= r * r) return true;
    } else {
      let inside = false;
      for (const ring of fp.coordinates) {
        const pts = ring.map(([x, y]) => map.latLngToContainerPoint([y, x]));
        for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
          if ((pts[i].y > p.y) !== (pts[j].y > p.y)
              && p.x < ((pts[j].x - pts[i].x) * (p.y - pts[i].y)) / (pts[j].y - pts[i].y) + pts[i].x) inside = !inside;
        }
      }
      if (inside) return true;
    }
  }
  return false;
}

function bounds(notice) {
  let w = 180, s = 90, e = -180, n = -90;
  for (const v of notice.volumes) {
    const fp = v.footprint;
    if (fp.type === "Circle") {
      const dLat = radiusMetres(fp.radius) / 111320;
      const dLon = dLat / Math.max(0.01, Math.cos((fp.center[1] * Math.PI) / 180));
      w = Math.min(w, fp.center[0] - dLon); e = Math.max(e, fp.center[0] + dLon);
      s = Math.min(s, fp.center[1] - dLat); n = Math.max(n, fp.center[1] + dLat);
    } else {
      for (const [x, y] of fp.coordinates[0]) {
        w = Math.min(w, x); e = Math.max(e, x); s = Math.min(s, y); n = Math.max(n, y);
      }
    }
  }
  return [w, s, e, n];
}

export { bounds as noticeBounds };
