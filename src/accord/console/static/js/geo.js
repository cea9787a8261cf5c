// Footprints, altitude bands and paths as the console draws and describes them. Pure.

const LENGTH = { m: 1, km: 1000, NM: 1852, ft: 0.3048 };
const EARTH_M = 6371008.8;

export function radiusMetres(radius) {
  return radius.value * (LENGTH[radius.units] || NaN);
}

export function band(alt) {
  if (!alt) return "—";
  const ref = alt.reference || "AMSL";
  if (alt.units === "FL") return `FL${alt.lower} to FL${alt.upper} (${ref})`;
  const fmt = (v) => Number(v).toLocaleString("en-GB", { maximumFractionDigits: 1 });
  return `${fmt(alt.lower)} to ${fmt(alt.upper)} ${alt.units || "m"} ${ref}`;
}

// [lat, lng] rings for Leaflet from a GeoJSON Polygon footprint.
export function latLngRings(fp) {
  return fp.coordinates.map((ring) => ring.map(([lon, lat]) => [lat, lon]));
}

export function centre(fp) {
  if (fp.type === "Circle") return [fp.center[1], fp.center[0]];
  const ring = fp.coordinates[0];
  let x = 0, y = 0;
  const n = ring.length - 1 || 1;
  for (let i = 0; i < n; i++) { x += ring[i][0]; y += ring[i][1]; }
  return [y / n, x / n];
}

// Where an aircraft is after flying `seconds` along its track (a great circle: the
// state-based assumption the service's detection makes too).
export function ahead(lat, lon, trkDeg, gs, seconds) {
  const d = (gs * seconds) / EARTH_M;
  const p1 = (lat * Math.PI) / 180, l1 = (lon * Math.PI) / 180, th = (trkDeg * Math.PI) / 180;
  const p2 = Math.asin(Math.sin(p1) * Math.cos(d) + Math.cos(p1) * Math.sin(d) * Math.cos(th));
  const l2 = l1 + Math.atan2(Math.sin(th) * Math.sin(d) * Math.cos(p1), Math.cos(d) - Math.sin(p1) * Math.sin(p2));
  return [(p2 * 180) / Math.PI, ((((l2 * 180) / Math.PI) + 540) % 360) - 180];
}

// A polygon footprint from drawn [lat, lng] points (closed, counter-clockwise as RFC 7946
// asks; the service normalises the orientation anyway).
export function polygonFootprint(points) {
  const ring = points.map(([lat, lng]) => [round(lng), round(lat)]);
  let area = 0;
  for (let i = 0; i < ring.length; i++) {
    const [x1, y1] = ring[i], [x2, y2] = ring[(i + 1) % ring.length];
    area += x1 * y2 - x2 * y1;
  }
  if (area < 0) ring.reverse();
  return { type: "Polygon", coordinates: [[...ring, ring[0]]] };
}

export function circleFootprint([lat, lng], metres) {
  return { type: "Circle", center: [round(lng), round(lat)],
    radius: { value: Math.round(metres) / 1000, units: "km" } };
}

const round = (v) => Math.round(v * 1e5) / 1e5;
