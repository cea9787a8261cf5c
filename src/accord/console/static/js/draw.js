// Drawing a footprint on the map: a polygon (click each corner, then Finish) or a circle
// (click the centre, then a point on its edge). The result goes into the filing form's
// footprint field as GeoJSON, which can also be typed or edited there (keyboard users).

import { circleFootprint, polygonFootprint } from "./geo.js";

/* global L */

export class Drawing {
  constructor(view, map, layer, onShape) {
    this.view = view;
    this.map = map;
    this.layer = layer;
    this.onShape = onShape;
    this.mode = null;
    this.points = [];
    map.on("click", (e) => this.click(e.latlng));
  }

  start(mode) {
    this.clear();
    this.mode = mode;
    this.view.drawing = true;
    this.map.accordDrawing = true;
    this.map.getContainer().classList.add("drawing");
  }

  clear() {
    this.mode = null;
    this.points = [];
    this.layer.clearLayers();
    this.view.drawing = false;
    this.map.accordDrawing = false;
    this.map.getContainer().classList.remove("drawing");
  }

  click(ll) {
    if (!this.mode) return;
    this.points.push([ll.lat, ll.lng]);
    this.layer.clearLayers();
    if (this.mode === "circle" && this.points.length === 2) {
      const [c, edge] = this.points;
      const r = this.map.distance(c, edge);
      this.finishWith(circleFootprint(c, r));
      return;
    }
    for (const p of this.points) L.circleMarker(p, { radius: 4, color: "#000", interactive: false }).addTo(this.layer);
    if (this.points.length > 1) L.polyline(this.points, { color: "#000", dashArray: "4 4", interactive: false }).addTo(this.layer);
  }

  finish() {
    if (this.mode === "polygon" && this.points.length >= 3) {
      this.finishWith(polygonFootprint(this.points));
      return true;
    }
    return false;
  }

  finishWith(fp) {
    this.clear();
    this.show(fp);
    this.onShape(fp);
  }

  show(fp) {
    this.layer.clearLayers();
    if (!fp) return;
    const style = { color: "#000", weight: 2, dashArray: "4 4", fillOpacity: 0.1, interactive: false };
    if (fp.type === "Circle") {
      const km = fp.radius.units === "km" ? 1000 : fp.radius.units === "NM" ? 1852 : 1;
      L.circle([fp.center[1], fp.center[0]], { ...style, radius: fp.radius.value * km }).addTo(this.layer);
    } else if (fp.type === "Polygon") {
      L.polygon(fp.coordinates.map((r) => r.map(([x, y]) => [y, x])), style).addTo(this.layer);
    }
  }
}
