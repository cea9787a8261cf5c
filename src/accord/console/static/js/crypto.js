// What the console proves and signs, with WebCrypto (Ed25519, SHA-256) and nothing else:
// the party's key file, event signatures (accord/event/v2 + JCS), C2SP signed-note
// checkpoints, and RFC 9162 inclusion proofs. The formats are those of accord.keys,
// accord.log.event, accord.log.note and accord.log.receipt; no step trusts the service.

import { canonicalize, utf8 } from "./jcs.js";

export const EVENT_DOMAIN = "accord/event/v2\n";
const PARTY_KEY = "accord-party-key";

export class ProofFailure extends Error {
  constructor(step, message) { super(message); this.step = step; }
}

export function secure() {
  return Boolean(window.isSecureContext && window.crypto && window.crypto.subtle);
}

export function b64decode(text, what = "value") {
  if (typeof text !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4) {
    throw new ProofFailure(what, `${what} is not standard base64`);
  }
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  if (b64encode(out) !== text) throw new ProofFailure(what, `${what} is not canonical base64`);
  return out;
}

export function b64encode(bytes) {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

const b64url = (bytes) => b64encode(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

function equal(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

export async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

// -- the party's key file (accord.keys: {"type", "name", "ed25519_seed", "public"}) ---------

export async function importKeyFile(text) {
  let obj;
  try { obj = JSON.parse(text); } catch { throw new Error("this is not a key file (not JSON)"); }
  if (!obj || obj.type !== PARTY_KEY || typeof obj.name !== "string") {
    throw new Error("this is not an Accord party key file (written by `accord keygen`)");
  }
  const seed = b64decode(obj.ed25519_seed, "ed25519_seed");
  const pub = b64decode(obj.public, "public");
  if (seed.length !== 32 || pub.length !== 32) throw new Error("the key file's key is not Ed25519");
  const jwk = { kty: "OKP", crv: "Ed25519", d: b64url(seed), x: b64url(pub), ext: false };
  const key = await crypto.subtle.importKey("jwk", jwk, { name: "Ed25519" }, false, ["sign"]);
  // The file names its public key: sign once and check, so a file whose halves disagree is
  // refused here rather than by the service.
  const probe = utf8("accord/console/key-check\n");
  const sig = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key, probe));
  const verifier = await crypto.subtle.importKey("raw", pub, { name: "Ed25519" }, false, ["verify"]);
  if (!(await crypto.subtle.verify({ name: "Ed25519" }, verifier, sig, probe))) {
    throw new Error("the key file's seed and public key do not belong together");
  }
  return { party: obj.name, key, public: obj.public };
}

export async function signEvent(key, event) {
  const bytes = utf8(EVENT_DOMAIN + canonicalize(event));
  return b64encode(new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key, bytes)));
}

// -- signed notes and checkpoints (accord.log.note) -----------------------------------------

export async function parseVerifierKey(vkey) {
  // name+keyid+base64: the base64 may hold "+" itself, so split at the first two only.
  const text = typeof vkey === "string" ? vkey.trim() : "";
  const a = text.indexOf("+"), b = a < 0 ? -1 : text.indexOf("+", a + 1);
  const [name, hexId, material] = b < 0 ? ["", "", ""] : [text.slice(0, a), text.slice(a + 1, b), text.slice(b + 1)];
  if (!name || !/^[0-9a-fA-F]{8}$/.test(hexId)) {
    throw new ProofFailure("key", "the log key is not name+keyid+key");
  }
  const raw = b64decode(material, "log key");
  if (raw.length !== 33 || raw[0] !== 0x01) throw new ProofFailure("key", "the log key is not an Ed25519 note key");
  const id = (await sha256(concat(utf8(name + "\n"), raw))).subarray(0, 4);
  if ([...id].map((b) => b.toString(16).padStart(2, "0")).join("") !== hexId.toLowerCase()) {
    throw new ProofFailure("key", "the log key's ID does not match its name and key");
  }
  const key = await crypto.subtle.importKey("raw", raw.subarray(1), { name: "Ed25519" }, false, ["verify"]);
  return { name, id, key };
}

export async function openCheckpoint(note, verifier) {
  const fail = (m) => { throw new ProofFailure("checkpoint", m); };
  if (typeof note !== "string" || !note.endsWith("\n")) fail("the checkpoint is not a signed note");
  if (/[\u0000-\u0009\u000b-\u001f]/.test(note)) fail("the checkpoint holds a control character");
  const cut = note.lastIndexOf("\n\n");
  if (cut < 0) fail("the checkpoint has no signature block");
  const text = note.slice(0, cut + 1);
  const lines = note.slice(cut + 2).split("\n").slice(0, -1);
  let verified = false;
  for (const line of lines) {
    if (!line.startsWith("\u2014 ")) fail("malformed signature line");
    const [name, sigB64, ...rest] = line.slice(2).split(" ");
    if (rest.length || !name || !sigB64) fail("malformed signature line");
    const raw = b64decode(sigB64, "signature");
    if (raw.length < 5) fail("signature too short");
    if (name !== verifier.name || !equal(raw.subarray(0, 4), verifier.id)) continue;
    const ok = raw.length === 68 && await crypto.subtle.verify({ name: "Ed25519" }, verifier.key,
      raw.subarray(4), utf8(text));
    if (!ok) fail(`the signature by ${verifier.name} does not verify`);
    verified = true;
  }
  if (!verified) fail(`the checkpoint carries no signature by the log key ${verifier.name}`);
  const body = text.slice(0, -1).split("\n");
  if (body.length < 3 || !/^(0|[1-9][0-9]*)$/.test(body[1])) fail("the note is not a checkpoint");
  if (body[0] !== verifier.name) fail(`the checkpoint is for log ${body[0]}, not ${verifier.name}`);
  const root = b64decode(body[2], "root");
  if (root.length !== 32) fail("the checkpoint's root is not 32 bytes");
  return { origin: body[0], size: Number(body[1]), root };
}

// -- Merkle proofs (RFC 9162) -----------------------------------------------------------------

export async function leafHash(data) {
  return sha256(concat(new Uint8Array([0]), data));
}

async function nodeHash(left, right) {
  return sha256(concat(new Uint8Array([1]), left, right));
}

export async function verifyInclusion(leaf, index, size, proof, root) {
  const fail = (m) => { throw new ProofFailure("inclusion", m); };
  if (!(index >= 0 && index < size)) fail(`entry ${index} is not in a tree of size ${size}`);
  let fn = index, sn = size - 1, r = leaf;
  for (const p of proof) {
    if (sn === 0) fail("the inclusion proof is longer than the tree is deep");
    if ((fn % 2 === 1) || fn === sn) {
      r = await nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    } else {
      r = await nodeHash(r, p);
    }
    fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
  }
  if (sn !== 0) fail("the inclusion proof is shorter than the tree is deep");
  if (!equal(r, root)) fail("the inclusion proof does not lead to the checkpoint's root");
}

// -- receipts (accord.log.receipt) ----------------------------------------------------------

// Check a receipt against the log key: the checkpoint's signature, the inclusion proof, and
// that the leaf is the hash of the entry shown (`shown`: the entry's exact text as the
// console displays it; else the receipt's own bytes). Resolves to what was proved; rejects
// with a ProofFailure naming the step that failed.
export async function verifyReceipt(receipt, verifier, shown) {
  if (!receipt || typeof receipt !== "object") throw new ProofFailure("receipt", "no receipt");
  const cp = await openCheckpoint(receipt.checkpoint, verifier);
  const leaf = b64decode(receipt.leaf_hash, "leaf_hash");
  if (leaf.length !== 32) throw new ProofFailure("leaf", "the leaf hash is not 32 bytes");
  const proof = (receipt.inclusion_proof || []).map((h, i) => b64decode(h, `inclusion_proof[${i}]`));
  await verifyInclusion(leaf, receipt.index, cp.size, proof, cp.root);
  let entry = null;
  if (receipt.entry !== undefined) entry = b64decode(receipt.entry, "entry");
  if (shown !== undefined && shown !== null) {
    const bytes = utf8(shown);
    if (entry !== null && !equal(entry, bytes)) {
      throw new ProofFailure("entry", "the receipt's entry is not the entry shown");
    }
    entry = bytes;
  }
  if (entry === null) {
    return { index: receipt.index, size: cp.size, entry: null };
  }
  if (!equal(await leafHash(entry), leaf)) {
    throw new ProofFailure("entry", "the entry does not hash to the receipt's leaf");
  }
  return { index: receipt.index, size: cp.size, entry: new TextDecoder().decode(entry) };
}
