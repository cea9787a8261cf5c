// Development only (scripts/console-vendor): cut the regional 1:10m extract the Latakia
// demo needs (eastern Mediterranean, Syria) out of world-atlas countries-10m, as GeoJSON
// with coordinates rounded to 1e-4 degrees (about 10 m). Each ring is clipped to the box
// (Sutherland-Hodgman: right for display, which is all the base map is for).
import { readFileSync, writeFileSync } from "node:fs";
import { feature } from "topojson-client";

const [src, out] = process.argv.slice(2);
const BOX = { west: 25.0, south: 29.0, east: 43.5, north: 38.5 };
const topo = JSON.parse(readFileSync(src, "utf8"));
const all = feature(topo, topo.objects.countries);
const round = (c) => (typeof c[0] === "number"
  ? [Math.round(c[0] * 1e4) / 1e4, Math.round(c[1] * 1e4) / 1e4] : c.map(round));
function bounds(coords, b = [180, 90, -180, -90]) {
  if (typeof coords[0] === "number") {
    b[0] = Math.min(b[0], coords[0]); b[1] = Math.min(b[1], coords[1]);
    b[2] = Math.max(b[2], coords[0]); b[3] = Math.max(b[3], coords[1]);
    return b;
  }
  for (const c of coords) bounds(c, b);
  return b;
}
function clipRing(ring) {
  const edges = [[(p) => p[0] >= BOX.west, (a, b) => cut(a, b, 0, BOX.west)],
    [(p) => p[0] <= BOX.east, (a, b) => cut(a, b, 0, BOX.east)],
    [(p) => p[1] >= BOX.south, (a, b) => cut(a, b, 1, BOX.south)],
    [(p) => p[1] <= BOX.north, (a, b) => cut(a, b, 1, BOX.north)]];
  let pts = ring.slice(0, -1);
  for (const [inside, at] of edges) {
    const out = [];
    for (let i = 0; i < pts.length; i++) {
      const cur = pts[i], prev = pts[(i + pts.length - 1) % pts.length];
      if (inside(cur)) { if (!inside(prev)) out.push(at(prev, cur)); out.push(cur); }
      else if (inside(prev)) out.push(at(prev, cur));
    }
    pts = out;
    if (!pts.length) return null;
  }
  return pts.length >= 3 ? [...pts, pts[0]] : null;
}
function cut(a, b, axis, v) {
  const t = (v - a[axis]) / (b[axis] - a[axis]);
  const p = [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])];
  p[axis] = v;
  return p;
}
function clip(geometry) {
  const polys = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
  const out = polys.map((rings) => rings.map(clipRing).filter(Boolean)).filter((r) => r.length);
  return out.length ? { type: "MultiPolygon", coordinates: out } : null;
}
const keep = all.features.filter((f) => {
  if (!f.geometry) return false;
  const [w, s, e, n] = bounds(f.geometry.coordinates);
  return w <= BOX.east && e >= BOX.west && s <= BOX.north && n >= BOX.south;
}).map((f) => ({ f, g: clip(f.geometry) })).filter(({ g }) => g).map(({ f, g }) => ({
  type: "Feature", properties: { name: f.properties.name },
  geometry: { type: g.type, coordinates: round(g.coordinates) } }));
writeFileSync(out, JSON.stringify({ type: "FeatureCollection", bbox: [BOX.west, BOX.south,
  BOX.east, BOX.north], features: keep }));
console.log(`${keep.length} countries -> ${out}`);
