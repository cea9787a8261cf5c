// RFC 8785 JSON Canonicalization (JCS) for the values Accord's events hold: objects, arrays,
// strings, finite numbers, booleans and null. ES2015's JSON.stringify already writes strings
// and numbers exactly as RFC 8785 asks (it is defined by them); what is left is the key
// order (UTF-16 code units, which is what Array.prototype.sort compares) and refusing what
// JSON cannot carry. The bytes must equal Python's accord.log.event.canonical: a signature is
// over them (tests/console/test_jcs.py compares the two on many samples in the browser).

export class CanonicalError extends Error {}

export function canonicalize(value) {
  const out = [];
  write(value, out, 0);
  return out.join("");
}

function write(v, out, depth) {
  if (depth > 64) throw new CanonicalError("nested more than 64 levels");
  if (v === null || v === true || v === false) { out.push(String(v)); return; }
  switch (typeof v) {
    case "string": out.push(JSON.stringify(v)); return;
    case "number":
      if (!Number.isFinite(v)) throw new CanonicalError("NaN and infinity are not JSON");
      out.push(JSON.stringify(v)); return;
    case "object": break;
    default: throw new CanonicalError(`cannot encode a ${typeof v}`);
  }
  if (Array.isArray(v)) {
    out.push("[");
    v.forEach((item, i) => { if (i) out.push(","); write(item, out, depth + 1); });
    out.push("]");
    return;
  }
  const keys = Object.keys(v).sort();
  out.push("{");
  keys.forEach((k, i) => {
    if (v[k] === undefined) throw new CanonicalError(`${k} is undefined`);
    if (i) out.push(",");
    out.push(JSON.stringify(k), ":");
    write(v[k], out, depth + 1);
  });
  out.push("}");
}

export function utf8(text) {
  return new TextEncoder().encode(text);
}
