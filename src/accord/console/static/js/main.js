// Wiring: sign-in, loading, the live stream, timers, the time slider and the forms. The
// logic lives in model.js, crypto.js and api.js; drawing in map.js and panels.js.

import { Api, ApiError } from "./api.js";
import { importKeyFile, parseVerifierKey, secure, signEvent, verifyReceipt } from "./crypto.js";
import { canonicalize } from "./jcs.js";
import { $, h, replace } from "./dom.js";
import { Drawing } from "./draw.js";
import { MapView } from "./map.js";
import { Model } from "./model.js";
import * as panels from "./panels.js";
import { both, iso, local, utc } from "./timefmt.js";

const SKEW_MS = 5000;
const S = {
  api: null, model: null, map: null, drawing: null, key: null, verifier: null, verifierFromService: false,
  offset: 0, scenario: false, live: true, history: null, stop: null, since: null, tracks: [],
  selection: null, amending: null, dirty: new Set(), frame: 0, playing: null, minTime: 0,
  lastUpdateMs: [], settings: {}, proofs: new Map(),
};
window.accordConsole = S; // for the browser tests and the benchmark (reads only)
// What the benchmark reads: when the first full render was done, how long each live update
// took to apply and draw, and the main thread's long tasks (over 50 ms).
S.timings = { signin: 0, firstRender: 0 };
S.trackUpdateMs = [];
S.longTasks = [];
if (window.PerformanceObserver && PerformanceObserver.supportedEntryTypes.includes("longtask")) {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      S.longTasks.push({ start: e.startTime, duration: e.duration });
      if (S.longTasks.length > 5000) S.longTasks.splice(0, 1000);
    }
  }).observe({ type: "longtask", buffered: true });
}

const now = () => Date.now() + S.offset;

function say(el, text, kind = "info") {
  replace(el, text);
  el.className = `note ${kind}`;
}

function problemText(e) {
  if (e instanceof ApiError) {
    const p = e.problem || {};
    return `${p.title || "Refused"}: ${p.detail || e.message}${p.field ? ` (field ${p.field})` : ""}`;
  }
  return String(e.message || e);
}

// -- sign-in ----------------------------------------------------------------------------------

function setupSignIn() {
  if (!secure()) {
    $("#insecure").hidden = false;
  }
  const stored = sessionStorage.getItem("accord.token");
  if (stored) $("#token").value = stored;
  const vkey = sessionStorage.getItem("accord.logkey");
  if (vkey) $("#logkey").value = vkey;
  const hint = new URLSearchParams(location.search).get("party");
  if (hint && /^[A-Za-z0-9_.:-]{1,64}$/.test(hint)) replace($("#signin-party"), ` for ${hint}`);
  $("#signin-form").addEventListener("submit", (e) => { e.preventDefault(); signIn(); });
  $("#signout").addEventListener("click", signOut);
  if (stored) signIn();
}

async function signIn() {
  const msg = $("#signin-msg");
  const token = $("#token").value.trim();
  if (!token) { say(msg, "Enter the token of your party.", "bad"); return; }
  say(msg, "Signing in…");
  S.timings.signin = performance.now();
  S.api = new Api(token);
  try {
    const me = await S.api.get("/v1/me");
    const agreement = await S.api.get("/v1/agreement");
    let key = null;
    const file = $("#keyfile").files[0];
    if (file) {
      if (!secure()) throw new Error("this page is not in a secure context: the key cannot be used here");
      if (file.size > 1 << 20) throw new Error("that file is too large to be a key file");
      key = await importKeyFile(await file.text());
      if (key.party !== me.party) throw new Error(`the key file is ${key.party}'s, the token ${me.party}'s`);
      const named = agreement.agreement.parties.find((p) => p.id === me.party);
      if (!named || named.key !== key.public) throw new Error("the key file does not hold the key the agreement names for your party");
    }
    sessionStorage.setItem("accord.token", token);
    const vkeyText = $("#logkey").value.trim();
    if (vkeyText) sessionStorage.setItem("accord.logkey", vkeyText); else sessionStorage.removeItem("accord.logkey");
    S.key = key;
    $("#keyfile").value = "";
    await start(me, agreement, vkeyText);
    say(msg, "");
  } catch (e) {
    S.api = null;
    say(msg, problemText(e), "bad");
    if (e instanceof ApiError && e.status === 401) sessionStorage.removeItem("accord.token");
  }
}

function signOut() {
  if (S.stop) S.stop();
  S.stop = null;
  clearInterval(S.ticker);
  clearInterval(S.trackTimer);
  sessionStorage.removeItem("accord.token");
  S.key = null;
  S.api = null;
  location.reload();
}

// -- start ------------------------------------------------------------------------------------

async function start(me, agreement, vkeyText) {
  S.model = new Model(me.party);
  S.model.setAgreement(agreement.agreement);
  if (secure()) {
    if (vkeyText) {
      S.verifier = await parseVerifierKey(vkeyText);
      S.verifierFromService = false;
    } else {
      const cp = await S.api.get("/v1/log/checkpoint").catch(() => null);
      S.verifier = cp ? await parseVerifierKey(cp.log_key) : null;
      S.verifierFromService = true;
    }
  }
  S.timings.start = performance.now();
  const picturePromise = S.api.get("/v1/picture"); // the largest read: under way at once
  await syncClock();
  $("#signin").hidden = true;
  $("#console").hidden = false;
  $("#timebar").hidden = false;
  $("#signout").hidden = false;
  replace($("#who"), `${me.party} · log ${me.log}`);
  $("#readonly").hidden = Boolean(S.key);
  $("#keynote").hidden = !S.verifierFromService || !S.verifier;
  if (!S.map) {
    S.settings = await fetch("/console/settings.json").then((r) => r.json());
    S.map = new MapView($("#map"), S.settings, select);
    S.drawing = new Drawing(S.map, S.map.map, S.map.layers.draft, (fp) => {
      $("#footprint").value = JSON.stringify(fp);
    });
    S.baseLoaded = S.map.loadBase();
  }
  setupForms();
  const picture = await picturePromise;
  S.timings.fetched = performance.now();
  S.model.load(picture);
  S.timings.loaded = performance.now();
  renderAll(true);
  S.timings.drawn = performance.now();
  await S.baseLoaded;
  requestAnimationFrame(() => { S.timings.firstRender = performance.now(); });
  const first = await S.api.get("/v1/log/entries?start=0&limit=1").catch(() => []);
  S.minTime = first.length && first[0].value ? Date.parse(first[0].value.received_at) : now() - 86400000;
  updateSlider();
  S.stop = S.api.follow(picture.entries - 1, onEntry, onStream);
  S.ticker = setInterval(tick, 1000);
  S.trackTimer = setInterval(pollTracks, 1000);
  S.clockTimer = setInterval(syncClock, 30000);
  pollTracks();
  tick();
}

async function syncClock() {
  const t0 = Date.now();
  const t = await S.api.get("/v1/time");
  const t1 = Date.now();
  S.offset = Date.parse(t.now) - (t0 + t1) / 2;
  S.scenario = t.scenario;
  const skew = $("#skew");
  if (t.scenario) {
    skew.hidden = false;
    skew.className = "banner info";
    replace(skew, `The service runs a scenario clock (now ${utc(t.now)}); every time shown is the service's.`);
  } else if (Math.abs(S.offset) > SKEW_MS) {
    skew.hidden = false;
    skew.className = "banner warn";
    replace(skew, `This computer's clock is ${(Math.abs(S.offset) / 1000).toFixed(1)} s ${S.offset > 0 ? "behind" : "ahead of"} the service's. Times and countdowns here follow the service's clock; fix this computer's time (NTP).`);
  } else {
    skew.hidden = true;
  }
}

// -- live -------------------------------------------------------------------------------------

function onStream(status) {
  const banner = $("#disconnected");
  if (status.connected) {
    banner.hidden = true;
    S.since = null;
    document.body.dataset.stream = "connected";
    return;
  }
  S.since = status.since;
  document.body.dataset.stream = "disconnected";
  banner.hidden = false;
  replace(banner, `Disconnected from the service since ${utc(status.since)} (${local(status.since)} local)` +
    (status.fatal ? `: ${status.error}. Sign in again.` : "; reconnecting, nothing will be missed."));
}

function onEntry(index, item) {
  const t0 = performance.now();
  const change = S.model.apply(index, item);
  if (!change) return;
  S.changed = true;
  if (change.kind === "agreement") { reloadAgreement(); return; }
  if (change.kind === "clock") {
    const b = $("#clockstep");
    b.hidden = false;
    replace(b, `The operator's clock stepped by ${(change.step_us / 1e6).toFixed(1)} s (entry ${index}).`);
  }
  if (change.kind === "notice") { S.dirty.add(change.id); S.listDirty = true; }
  if (change.kind !== "message") S.overlaysDirty = true; // findings and alerts are drawn
  if ((change.kind === "alert" && !change.cleared && (S.model.alerts.get(change.id) || {}).level >= 3) || change.kind === "escalation") beep();
  schedule(t0);
}

async function reloadAgreement() {
  const agreement = await S.api.get("/v1/agreement");
  S.model.setAgreement(agreement.agreement);
  await fullRefresh();
}

// The whole picture again from the service, drawn from scratch: after an amendment of the
// agreement, and the benchmark's baseline for a live update.
async function fullRefresh() {
  S.model.load(await S.api.get("/v1/picture"));
  renderAll(false);
}
S.fullRefresh = fullRefresh;

// Renders are batched to one per animation frame, however many entries arrive.
function schedule(t0) {
  S.pending = S.pending === undefined || S.pending === null ? t0 : Math.min(S.pending, t0);
  if (S.frame) return;
  S.frame = requestAnimationFrame(() => {
    S.frame = 0;
    renderLive();
    const took = performance.now() - S.pending;
    S.pending = null;
    S.lastUpdateMs.push(took);
    if (S.lastUpdateMs.length > 5000) S.lastUpdateMs.splice(0, 1000);
  });
}

function noticeKind(n) {
  if (S.model.hazard(n)) return "hazard";
  return n.party === S.model.party ? "own" : "other";
}

function renderLive() {
  if (!S.live) { S.dirty.clear(); renderLists(); return; }
  const t = now();
  for (const id of S.dirty) {
    const n = S.model.notices.get(id);
    if (n && S.model.live(n, t)) S.map.notice(n, noticeKind(n)); else S.map.removeNotice(id);
  }
  S.dirty.clear();
  if (S.overlaysDirty) renderFindingsAndAlerts();
  renderLists();
}

function renderAll(fit) {
  const t = now();
  S.listDirty = true;
  const m = S.model;
  S.map.clearNotices();
  const live = m.liveNotices(t);
  if (fit && live.length) S.map.fit(live);
  for (const n of live) S.map.notice(n, noticeKind(n));
  S.map.zones(m.agreement ? m.agreement.zones || [] : []);
  renderOverlays();
  renderLists();
}

function positions() {
  const out = new Map();
  for (const a of S.model.alerts.values()) for (const s of a.samples || []) out.set(s.aircraft, [s.lat, s.lon]);
  for (const t of S.tracks) out.set(`${t.party}/${t.aircraft}`, [t.lat, t.lon]);
  return out;
}

// Conflicts and alerts: redrawn when an entry changed them (or the aircraft moved).
function renderFindingsAndAlerts() {
  const m = S.model;
  S.overlaysDirty = false;
  const zones = m.agreement ? m.agreement.zones || [] : [];
  S.map.findings(m.openFindings(now()), m.notices, zones);
  S.map.alerts([...m.alerts.values()], positions());
}

function renderOverlays() {
  const m = S.model;
  renderFindingsAndAlerts();
  const alerted = new Set();
  for (const a of m.alerts.values()) {
    const ac = a.details.aircraft;
    for (const x of Array.isArray(ac) ? ac : [ac]) alerted.add(x);
  }
  S.map.tracks(S.tracks, alerted, m.party);
}

// The panels are rebuilt when an entry changed them (`S.changed`), and by the clock only
// where time shows: the hotline while a countdown runs, the rest every 10 s (a state moves
// on). Rebuilding every panel every second made the page lay out ten times more than needed.
function renderLists(clock = false) {
  const t = now();
  const m = S.model;
  const actions = { select, canSign, ackNotice, ackMessage, amend, cancel, verify };
  const slow = t - (S.slowAt || 0) > 10000;
  if (slow) S.slowAt = t;
  const changed = !clock || S.changed;
  S.changed = false;
  if (changed || slow) panels.renderAlerts($("#alerts-list"), m, t, select);
  if (changed || slow || S.countingDown) {
    S.countingDown = panels.renderHotline($("#awaiting"), $("#messages"), m, t, actions);
  }
  if (S.live && (S.listDirty || slow)) {
    S.listDirty = false;
    panels.renderNoticeList($("#notices-list"), m.liveNotices(t), (n) => m.state(n, t), m.party, select, $("#notice-filter").value);
  }
  if (S.selection && (changed || slow)) showDetails(S.selection);
}

async function pollTracks() {
  if (!S.api || !S.live) return;
  try {
    const got = await S.api.get("/v1/tracks");
    const t0 = performance.now();
    S.tracks = got.tracks;
    renderOverlays();
    // applied and drawn: the next frame is painted with the aircraft moved
    requestAnimationFrame(() => {
      S.trackUpdateMs.push(performance.now() - t0);
      if (S.trackUpdateMs.length > 5000) S.trackUpdateMs.splice(0, 1000);
    });
  } catch { /* the stream's banner says when the service is gone */ }
}

function tick() {
  const t = now();
  replace($("#clock-utc"), utc(t));
  replace($("#clock-local"), `${local(t)} local`);
  if (S.since) {
    const b = $("#disconnected");
    b.dataset.for = String(Math.round((Date.now() - S.since.getTime()) / 1000));
  }
  if (S.live) updateSlider();
  renderLists(true);
}

// -- details ----------------------------------------------------------------------------------

// Selecting anything from a list shows it on the map too: a notice (or a finding's notice)
// is outlined and brought into view, an alert's aircraft is centred.
function select(what, fit = false) {
  S.selection = what;
  const f = what && what.finding ? S.model.findings.get(what.finding) : null;
  const notice = what && (what.notice || (f && f.notice));
  if (notice) S.map.select(notice, fit || Boolean(f)); else S.map.select(null);
  if (what && what.alert) {
    const a = S.model.alerts.get(what.alert);
    const names = a ? [].concat(a.details.aircraft) : [];
    const at = names.map((n) => positions().get(n)).find(Boolean);
    if (at) S.map.map.panTo(at);
  }
  showDetails(what);
}

function showDetails(what) {
  const el = $("#details");
  const m = S.model;
  const actions = { select, canSign, ackNotice, ackMessage, amend, cancel, verify };
  let node = null;
  if (what.notice) {
    const n = (S.history ? S.history.notices.get(what.notice) : null) || m.notices.get(what.notice);
    node = n ? panels.noticeDetails(n, S.history || m, S.history ? S.historyAt : now(), actions) : h("p", {}, `No notice ${what.notice} in this picture.`);
  } else if (what.finding) {
    const f = m.findings.get(what.finding);
    node = f ? panels.findingDetails(f, m, actions) : null;
  } else if (what.alert) {
    const a = m.alerts.get(what.alert);
    node = a ? panels.alertDetails(a, m, actions) : h("p", {}, `Alert ${what.alert} has cleared.`);
  } else if (what.aircraft) {
    const t = S.tracks.find((x) => `${x.party}/${x.aircraft}` === what.aircraft);
    node = t ? panels.aircraftDetails(t) : h("p", {}, `${what.aircraft} is no longer tracked.`);
  } else if (what.zone) {
    const z = (m.agreement.zones || []).find((x) => x.id === what.zone);
    node = z ? h("div", { class: "details" }, h("h3", {}, `Zone ${z.name}`), h("p", {}, `Protects ${(z.protects || []).join(", ") || "—"}; action ${z.action || "finding"}`)) : null;
  }
  if (!node) return;
  for (const p of node.querySelectorAll(".proof")) {
    const got = S.proofs.get(Number(p.dataset.entry));
    if (!got) continue;
    p.className = got.cls;
    if (got.result) p.dataset.result = got.result;
    replace(p, got.text);
  }
  const focused = document.activeElement && el.contains(document.activeElement) ? document.activeElement.textContent : null;
  replace(el, node);
  if (focused) {
    const again = [...el.querySelectorAll("button")].find((b) => b.textContent === focused);
    if (again) again.focus();
  }
}

// -- receipts, verified here --------------------------------------------------------------------

// Results are kept by entry index (S.proofs) and drawn by the details panel, which the
// clock re-renders every second.
async function verify(index) {
  S.proofs.set(index, { cls: "proof pending", text: "verifying…" });
  if (S.selection) showDetails(S.selection);
  let result;
  try {
    if (!S.verifier) throw new Error("no log key to verify with (this page needs a secure context)");
    const receipt = await S.api.get(`/v1/log/receipt/${index}`);
    const shown = S.model.entries.get(index);
    const proved = await verifyReceipt(receipt, S.verifier, shown && shown.text ? shown.text : undefined);
    result = { cls: "proof ok", result: "verified",
      text: `✓ verified in this browser: signed checkpoint of size ${proved.size}, inclusion proof, ` +
        (proved.entry ? "leaf = hash of the entry shown" : "leaf hash only (the entry is not disclosed to you)") +
        (S.verifierFromService ? " (against the log key the service sent: enter the key you hold to be sure)" : "") };
  } catch (e) {
    result = { cls: "proof bad", result: "failed",
      text: `✗ does not verify${e.step ? ` (${e.step})` : ""}: ${problemText(e)}` };
  }
  S.proofs.set(index, result);
  if (S.selection) showDetails(S.selection);
}

// -- writing ----------------------------------------------------------------------------------

function canSign() {
  return Boolean(S.key) && S.live;
}

async function submit(type, body) {
  if (!S.key) throw new Error("load your key file to write (the console is read-only without it)");
  const me = await S.api.get("/v1/me");
  const event = { v: 2, log: me.log, agreement: me.agreement, type, party: me.party, seq: me.next_seq,
    issued_at: iso(now()), body };
  const sig = await signEvent(S.key.key, event);
  const answer = await S.api.post("/v1/events", { event, sig });
  // The receipt is proved here before anything says "filed".
  if (S.verifier) {
    const proved = await verifyReceipt(answer.receipt, S.verifier);
    const logged = JSON.parse(proved.entry);
    if (canonicalize(logged.event) !== canonicalize(event) || logged.sig !== sig || proved.index !== answer.index) {
      throw new Error(`the receipt for entry ${answer.index} does not prove the event you signed`);
    }
  }
  return answer;
}

async function ackNotice(n) {
  const out = $("#action-msg");
  try {
    const a = await submit("notice.ack", { notice: n.id, version: n.version });
    say(out, `Acknowledged ${n.id} v${n.version}: entry ${a.index}, receipt verified.`, "ok");
  } catch (e) { say(out, problemText(e), "bad"); }
}

async function ackMessage(m) {
  const out = $("#action-msg");
  try {
    const a = await submit("message.ack", { message: m.id });
    say(out, `Acknowledged message ${m.id}: entry ${a.index}, receipt verified.`, "ok");
  } catch (e) { say(out, problemText(e), "bad"); }
}

async function cancel(n) {
  const out = $("#action-msg");
  if (!confirm(`Cancel ${n.id} v${n.version}? This is signed and logged.`)) return;
  try {
    const a = await submit("notice.cancel", { notice: n.id, version: n.version });
    say(out, `Cancelled ${n.id}: entry ${a.index}, receipt verified.`, "ok");
  } catch (e) { say(out, problemText(e), "bad"); }
}

function amend(n) {
  S.amending = n;
  const v = n.volumes[0];
  $("#f-notice").value = n.id;
  $("#f-notice").readOnly = true;
  $("#f-kind").value = n.kind;
  $("#f-kind").disabled = true;
  $("#f-title").value = n.title || "";
  $("#f-lower").value = v.altitude.lower;
  $("#f-upper").value = v.altitude.upper;
  $("#f-units").value = v.altitude.units;
  $("#f-ref").value = v.altitude.reference;
  $("#f-start").value = v.start;
  $("#f-end").value = v.end;
  $("#footprint").value = JSON.stringify(v.footprint);
  S.drawing.show(v.footprint);
  replace($("#f-mode"), `Amending ${n.id}: replaces version ${n.version}`);
  $("#f-reset").hidden = false;
  $("#f-notice").focus();
}

function resetForm() {
  S.amending = null;
  $("#file-form").reset();
  $("#f-notice").readOnly = false;
  $("#f-kind").disabled = false;
  replace($("#f-mode"), "New notice");
  $("#f-reset").hidden = true;
  replace($("#check-result"));
  S.drawing.show(null);
  defaultTimes();
}

function defaultTimes() {
  const t = Math.ceil(now() / 60000) * 60000;
  $("#f-start").value = iso(t + 20 * 60000);
  $("#f-end").value = iso(t + 80 * 60000);
  showLocalTimes();
}

function showLocalTimes() {
  for (const id of ["f-start", "f-end"]) {
    const t = Date.parse($(`#${id}`).value);
    replace($(`#${id}-local`), Number.isNaN(t) ? "not an RFC 3339 UTC time" : `${local(t)} local`);
  }
}

function documentFromForm() {
  let footprint;
  try { footprint = JSON.parse($("#footprint").value); } catch { throw new Error("draw a footprint on the map (or type its GeoJSON)"); }
  const units = $("#f-units").value;
  const num = (id) => {
    const v = Number($(id).value);
    if ($(id).value === "" || !Number.isFinite(v)) throw new Error(`${$(id).labels[0].textContent} must be a number`);
    return v;
  };
  const doc = { kind: S.amending ? S.amending.kind : $("#f-kind").value,
    volumes: [{ footprint, altitude: { lower: num("#f-lower"), upper: num("#f-upper"), units, reference: $("#f-ref").value },
      start: $("#f-start").value.trim(), end: $("#f-end").value.trim() }] };
  const title = $("#f-title").value.trim();
  if (title) doc.title = title;
  const id = $("#f-notice").value.trim();
  if (id) doc.notice = id;
  return doc;
}

function showFindings(findings, intro) {
  const el = $("#check-result");
  replace(el, h("p", {}, intro), findings.length
    ? h("ul", {}, findings.map((f) => h("li", { class: `finding kind-${f.kind}`, dataset: { kind: f.kind } },
      h("span", { class: "badge" }, f.kind.replace("_", " ")), ` (${f.action}) `, panels.findingText(f))))
    : h("p", { class: "ok" }, "No findings."));
}

async function check() {
  const out = $("#action-msg");
  try {
    const doc = documentFromForm();
    if (S.amending) delete doc.notice; // checked as a new filing of the new volumes
    const res = await S.api.post("/v1/check", { notice: doc });
    showFindings(res.findings, `Check of ${S.amending ? `the amendment of ${S.amending.id}` : "this notice"} (nothing filed):`);
    say(out, "");
  } catch (e) { say(out, problemText(e), "bad"); }
}

async function signAndFile() {
  const out = $("#action-msg");
  try {
    const doc = documentFromForm();
    const body = { notice: doc.notice || `${S.model.party}-${[...crypto.getRandomValues(new Uint8Array(4))].map((b) => b.toString(16).padStart(2, "0")).join("")}`,
      kind: doc.kind, volumes: doc.volumes };
    if (doc.title) body.title = doc.title;
    let answer;
    if (S.amending) {
      body.replaces = S.amending.version;
      answer = await submit("notice.amend", body);
    } else {
      answer = await submit("notice.file", body);
    }
    showFindings(answer.findings.map((x) => x.finding), `${S.amending ? "Amended" : "Filed"} ${body.notice}: entry ${answer.index}, received ${both(answer.received_at)}, receipt verified in this browser.`);
    say(out, `${S.amending ? "Amended" : "Filed"} ${body.notice}.`, "ok");
    const keep = $("#check-result").cloneNode(true);
    resetForm();
    $("#check-result").replaceWith(keep);
    select({ notice: body.notice }, true);
  } catch (e) { say(out, problemText(e), "bad"); }
}

async function sendMessage() {
  const out = $("#action-msg");
  try {
    const text = $("#m-text").value.trim();
    if (!text) throw new Error("write the message first");
    // A message id is under its sender's prefix (PARTY:...), as the service requires.
    const body = { message: `${S.model.party}:M-${Date.now().toString(36)}`, text, priority: $("#m-priority").value };
    const to = $("#m-to").value;
    if (to !== "*") body.to = [to];
    const a = await submit("message", body);
    $("#m-text").value = "";
    say(out, `Sent ${body.message}: entry ${a.index}, receipt verified.`, "ok");
  } catch (e) { say(out, problemText(e), "bad"); }
}

let formsReady = false;
function setupForms() {
  const kinds = Object.keys(S.model.kinds);
  replace($("#f-kind"), kinds.map((k) => h("option", { value: k }, `${k}${S.model.kinds[k].hazard ? " (hazard)" : ""}`)));
  replace($("#m-to"), h("option", { value: "*" }, "all parties"),
    S.model.parties.filter((p) => p !== S.model.party).map((p) => h("option", { value: p }, p)));
  for (const el of document.querySelectorAll(".write")) el.disabled = !S.key;
  if (formsReady) return;
  formsReady = true;
  defaultTimes();
  $("#f-start").addEventListener("input", showLocalTimes);
  $("#f-end").addEventListener("input", showLocalTimes);
  $("#draw-polygon").addEventListener("click", () => { S.drawing.start("polygon"); say($("#action-msg"), "Click the corners on the map, then Finish shape."); });
  $("#draw-circle").addEventListener("click", () => { S.drawing.start("circle"); say($("#action-msg"), "Click the centre on the map, then a point on the edge."); });
  $("#draw-finish").addEventListener("click", () => { if (!S.drawing.finish()) say($("#action-msg"), "A polygon needs at least three corners.", "bad"); });
  $("#footprint").addEventListener("change", () => { try { S.drawing.show(JSON.parse($("#footprint").value)); } catch { /* shown on Check */ } });
  $("#f-check").addEventListener("click", check);
  $("#file-form").addEventListener("submit", (e) => { e.preventDefault(); signAndFile(); });
  $("#f-reset").addEventListener("click", resetForm);
  $("#send-form").addEventListener("submit", (e) => { e.preventDefault(); sendMessage(); });
  $("#slider").addEventListener("input", onSlider);
  $("#notice-filter").addEventListener("input", () => { S.listDirty = true; if (S.live) renderLists(); else if (S.history) showAt(S.historyAt); });
  $("#live-btn").addEventListener("click", goLive);
  $("#play-btn").addEventListener("click", play);
}

// -- time slider ----------------------------------------------------------------------------------

function updateSlider() {
  const s = $("#slider");
  const max = Math.floor(now() / 1000);
  s.min = String(Math.floor(S.minTime / 1000));
  s.max = String(max);
  if (S.live) s.value = String(max);
  const t = Number(s.value) * 1000;
  replace($("#slider-utc"), utc(t));
  replace($("#slider-local"), `${local(t)} local`);
  s.setAttribute("aria-valuetext", `${utc(t)}${S.live ? " (live)" : ""}`);
}

let sliderTimer = 0;
function onSlider() {
  const s = $("#slider");
  if (Number(s.value) >= Number(s.max)) { goLive(); return; }
  S.live = false;
  updateSlider();
  clearTimeout(sliderTimer);
  sliderTimer = setTimeout(() => showAt(Number(s.value) * 1000), 200);
}

async function showAt(t) {
  const at = iso(t);
  const picture = await S.api.get(`/v1/picture?at=${encodeURIComponent(at)}`);
  if (S.live) return;
  const hist = new Model(S.model.party);
  hist.setAgreement(S.model.agreement);
  hist.load(picture);
  S.history = hist;
  S.historyAt = Date.parse(picture.at);
  document.body.dataset.view = "history";
  document.body.dataset.at = at;
  const banner = $("#history");
  banner.hidden = false;
  replace(banner, `The picture as of ${utc(t)} (${local(t)} local), rebuilt from the log: history, not live. Writing is off.`);
  S.map.clearNotices();
  const notices = hist.liveNotices(S.historyAt);
  for (const n of notices) S.map.notice(n, S.model.hazard(n) ? "hazard" : n.party === S.model.party ? "own" : "other");
  S.map.findings(hist.openFindings(S.historyAt), hist.notices, S.model.agreement.zones || []);
  S.map.alerts([...hist.alerts.values()], new Map());
  S.map.tracks([], new Set(), S.model.party);
  panels.renderNoticeList($("#notices-list"), notices, (n) => hist.state(n, S.historyAt), S.model.party, select, $("#notice-filter").value);
  panels.renderAlerts($("#history-findings"), hist, S.historyAt, select);
  $("#history-panel").hidden = false;
  for (const el of document.querySelectorAll(".write")) el.disabled = true;
}

function goLive() {
  if (S.playing) { clearInterval(S.playing); S.playing = null; replace($("#play-btn"), "Play"); }
  S.live = true;
  S.history = null;
  document.body.dataset.view = "live";
  delete document.body.dataset.at;
  $("#history").hidden = true;
  $("#history-panel").hidden = true;
  for (const el of document.querySelectorAll(".write")) el.disabled = !S.key;
  updateSlider();
  renderAll(false);
  pollTracks();
}

function play() {
  if (S.playing) { clearInterval(S.playing); S.playing = null; replace($("#play-btn"), "Play"); return; }
  const s = $("#slider");
  if (S.live) s.value = String(Number(s.min));
  S.live = false;
  replace($("#play-btn"), "Pause");
  const step = () => {
    const next = Number(s.value) + Number($("#play-speed").value);
    if (next >= Number(s.max)) { goLive(); return; }
    s.value = String(next);
    updateSlider();
    showAt(next * 1000);
  };
  step();
  S.playing = setInterval(step, 1000);
}

// -- sound ------------------------------------------------------------------------------------

let audio = null;
function beep() {
  if (!$("#sound").checked) return;
  try {
    audio = audio || new AudioContext();
    const o = audio.createOscillator();
    const g = audio.createGain();
    o.frequency.value = 880;
    g.gain.value = 0.15;
    o.connect(g).connect(audio.destination);
    o.start();
    o.stop(audio.currentTime + 0.4);
  } catch { /* no audio device: the list still shows it */ }
}

setupSignIn();
