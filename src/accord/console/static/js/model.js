// The party's live picture in the browser: loaded once from GET /v1/picture, then kept up to
// date entry by entry from the stream, as the service's fold would (docs/design.md, Events).
// Pure logic: no DOM, no fetch. States and deadlines follow accord.rules (notice.state,
// PictureReads.is_open, the hotline's deadlines); the time is always the caller's (the
// service's clock, corrected for the browser's skew), never Date.now() read here.

const MINUTE = 60000;
const SPANS = new WeakMap();

export const ms = (t) => (t ? Date.parse(t) : NaN);

export class Model {
  constructor(party) {
    this.party = party;
    this.clear();
  }

  clear() {
    this.agreement = null;
    this.size = 0;
    this.notices = new Map();
    this.findings = new Map();
    this.messages = new Map();
    this.escalations = new Map();
    this.alerts = new Map();
    this.entries = new Map(); // index -> {text, value} of entries this party read in full
    this.concerns = new Map(); // notice id -> Set of entry indices that concern it
  }

  // The agreement in force (GET /v1/agreement's `agreement`).
  setAgreement(agreement) {
    this.agreement = agreement;
    this.kinds = agreement ? agreement.kinds || {} : {};
    // Observers (investigators) read everything and act on nothing: they owe no
    // acknowledgement and broadcasts leave them out.
    this.parties = agreement ? agreement.parties.filter((p) => p.role !== "observer").map((p) => p.id) : [];
  }

  load(picture) {
    const keepAgreement = this.agreement;
    this.clear();
    this.setAgreement(keepAgreement);
    this.size = picture.entries;
    for (const n of picture.notices) this.notices.set(n.id, { ...n });
    for (const f of picture.findings) this.findings.set(f.finding, { ...f });
    for (const m of picture.messages) this.messages.set(m.id, { ...m });
    for (const e of picture.escalations) this.escalations.set(e.escalation, { ...e });
    for (const a of picture.alerts) this.alerts.set(a.alert, { ...a });
    for (const n of this.notices.values()) this.concern(n.id, n.entry);
    for (const f of this.findings.values()) this.findingConcerns(f);
  }

  concern(notice, index) {
    if (!notice || index === undefined || index === null) return;
    if (!this.concerns.has(notice)) this.concerns.set(notice, new Set());
    this.concerns.get(notice).add(index);
  }

  findingConcerns(f) {
    this.concern(f.notice, f.entry);
    if (f.details && f.details.other) this.concern(f.details.other, f.entry);
  }

  // Apply one stream item ({index, leaf_hash, entry?, value, redacted?}); returns what changed:
  // {kind, id} with kind notice | finding | message | escalation | alert | agreement | clock.
  apply(index, item) {
    this.size = Math.max(this.size, index + 1);
    const value = item.value;
    if (!value || !value.event) return null;
    if (item.entry !== undefined) this.entries.set(index, { text: item.entry, value });
    else this.entries.set(index, { text: null, value });
    const ev = value.event;
    const body = ev.body || {};
    const at = value.received_at;
    switch (ev.type) {
      case "notice.file":
      case "notice.amend": {
        const old = ev.type === "notice.amend" ? this.notices.get(body.notice) : null;
        const n = { id: body.notice, party: ev.party,
          version: ev.type === "notice.amend" ? (body.replaces || 0) + 1 : 1,
          kind: body.kind, volumes: body.volumes, filed_at: old ? old.filed_at : at,
          updated_at: at, entry: index, acks: [] };
        if (body.title !== undefined) n.title = body.title;
        if (item.redacted) n.redacted = ["title"];
        this.notices.set(n.id, n);
        this.concern(n.id, index);
        return { kind: "notice", id: n.id };
      }
      case "notice.cancel": {
        const n = this.notices.get(body.notice);
        if (n) this.notices.set(n.id, { ...n, cancelled_at: at });
        this.concern(body.notice, index);
        return { kind: "notice", id: body.notice };
      }
      case "notice.ack": {
        const n = this.notices.get(body.notice);
        if (n && n.version === body.version && !n.acks.includes(ev.party)) {
          this.notices.set(n.id, { ...n, acks: [...n.acks, ev.party].sort() });
        }
        this.concern(body.notice, index);
        return { kind: "notice", id: body.notice };
      }
      case "finding": {
        const f = { ...body, entry: index, raised_at: at };
        this.findings.set(f.finding, f);
        this.findingConcerns(f);
        return { kind: "finding", id: f.finding };
      }
      case "message": {
        const minutes = body.ack_minutes !== undefined && body.ack_minutes !== null
          ? body.ack_minutes
          : ((this.agreement && this.agreement.hotline && this.agreement.hotline.ack_deadline_minutes) || 5);
        const to = body.to || this.parties.filter((p) => p !== ev.party);
        const m = { id: body.message, from: ev.party, to, text: body.text,
          priority: body.priority || "routine", sent_at: at,
          deadline: new Date(ms(at) + minutes * MINUTE).toISOString(), entry: index, acks: [] };
        if (body.ref) m.ref = body.ref;
        this.messages.set(m.id, m);
        return { kind: "message", id: m.id };
      }
      case "message.ack": {
        const m = this.messages.get(body.message);
        if (m && !m.acks.includes(ev.party)) this.messages.set(m.id, { ...m, acks: [...m.acks, ev.party].sort() });
        return { kind: "message", id: body.message };
      }
      case "escalation": {
        const e = { ...body, entry: index, raised_at: at };
        this.escalations.set(e.escalation, e);
        if (e.about && e.about.notice) this.concern(e.about.notice, index);
        return { kind: "escalation", id: e.escalation };
      }
      case "alert": {
        const held = this.alerts.get(body.alert);
        const a = { ...body, entry: index, updated_at: at,
          raised_at: held && body.change !== "raised" ? held.raised_at : at,
          state: body.change === "cleared" ? "cleared" : "open" };
        if (a.state === "cleared") this.alerts.delete(a.alert);
        else this.alerts.set(a.alert, a);
        return { kind: "alert", id: a.alert, cleared: a.state === "cleared" };
      }
      case "agreement":
        return { kind: "agreement" };
      case "clock":
        return { kind: "clock", step_us: body.step_us };
      default:
        return null;
    }
  }

  // -- derived, at a time `now` (milliseconds) -------------------------------------------

  // [start, end] of a notice in milliseconds; cached per notice object (a change of a
  // notice makes a new object, so the cache never goes stale).
  span(n) {
    let got = SPANS.get(n);
    if (!got) {
      got = [Math.min(...n.volumes.map((v) => ms(v.start))), Math.max(...n.volumes.map((v) => ms(v.end)))];
      SPANS.set(n, got);
    }
    return got;
  }

  requiredAcks(n) {
    const kind = this.kinds[n.kind] || {};
    return kind.ack_required ? this.parties.filter((p) => p !== n.party) : [];
  }

  state(n, now) {
    const [start, end] = this.span(n);
    if (n.cancelled_at && ms(n.cancelled_at) <= now) return "cancelled";
    if (now >= end) return "ended";
    if (now >= start) return "active";
    const req = this.requiredAcks(n);
    if (req.length && req.every((p) => n.acks.includes(p))) return "acknowledged";
    return "filed";
  }

  live(n, now) {
    return !n.cancelled_at && now < this.span(n)[1];
  }

  hazard(n) {
    return Boolean((this.kinds[n.kind] || {}).hazard);
  }

  liveNotices(now) {
    return [...this.notices.values()].filter((n) => this.live(n, now))
      .sort((a, b) => this.span(a)[0] - this.span(b)[0] || (a.id < b.id ? -1 : 1));
  }

  isOpen(f, now) {
    if (!f.notice) {
      const m = this.messages.get((f.details || {}).message);
      return Boolean(m) && !m.acks.includes(f.details.party);
    }
    const n = this.notices.get(f.notice);
    if (!n || n.version !== f.version || !this.live(n, now)) return false;
    if (f.kind === "unacknowledged") return !n.acks.includes(f.details.party);
    if (f.kind === "conflict") {
      const o = this.notices.get(f.details.other);
      if (!o || o.version !== f.details.other_version || !this.live(o, now)) return false;
    }
    return true;
  }

  openFindings(now) {
    return [...this.findings.values()].filter((f) => this.isOpen(f, now))
      .sort((a, b) => b.entry - a.entry);
  }

  // Notices other parties filed that wait for this party's acknowledgement, with deadlines.
  awaitingMyAck(now) {
    const out = [];
    for (const n of this.notices.values()) {
      if (n.party === this.party || !this.live(n, now) || n.acks.includes(this.party)) continue;
      const kind = this.kinds[n.kind] || {};
      if (!kind.ack_required) continue;
      const minutes = kind.ack_deadline_minutes;
      const deadline = minutes ? ms(n.updated_at) + minutes * MINUTE : null;
      out.push({ notice: n, deadline });
    }
    return out.sort((a, b) => (a.deadline || Infinity) - (b.deadline || Infinity));
  }

  // Messages, newest first, each with whether this party still owes an acknowledgement.
  hotline() {
    return [...this.messages.values()].sort((a, b) => b.entry - a.entry).map((m) => ({
      message: m, incoming: m.from !== this.party,
      owed: m.from !== this.party && m.to.includes(this.party) && !m.acks.includes(this.party),
    }));
  }
}
