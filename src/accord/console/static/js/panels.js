// The side panels: rendering only (lists and details from the model, as DOM built by h()).
// Every string from the service or another party is a text node.

import { h, replace } from "./dom.js";
import { band } from "./geo.js";
import { both, countdown, local, utc } from "./timefmt.js";

const LEVEL = { 1: "level 1 (advisory)", 2: "level 2 (corrective)", 3: "level 3 (warning)" };

export function findingText(f) {
  const d = f.details || {};
  switch (f.kind) {
    case "conflict":
      return `${f.notice} v${f.version} conflicts with ${d.other} v${d.other_version} (${d.other_party})` +
        (d.horizontal_m !== undefined ? `: ${(d.horizontal_m / 1000).toFixed(1)} km, ${Math.round(d.vertical_m)} m apart` : "");
    case "late_notice":
      return `${f.notice} v${f.version} was filed late: ${Math.round(d.lead_s)} s before its window (needs ${Math.round((d.required_s || 0) / 60)} min)`;
    case "zone_violation":
      return `${f.notice} v${f.version} enters zone ${d.zone_name || d.zone}`;
    case "unacknowledged":
      return `${d.party} has not acknowledged ${f.notice ? `${f.notice} v${f.version}` : `message ${d.message}`}`;
    default:
      return `${f.kind} about ${f.notice || d.message || "—"}`;
  }
}

export function alertText(a) {
  const d = a.details || {};
  const ac = Array.isArray(d.aircraft) ? d.aircraft.join(" and ") : d.aircraft;
  switch (a.kind) {
    case "separation": return `Separation: ${ac}`;
    case "hazard": return `Hazard entry: ${ac} into ${d.notice || "a hazard volume"}`;
    case "nonconformance": return `Nonconformance: ${ac} outside ${d.notice || "its notice"}`;
    default: return `${a.kind}: ${ac || ""}`;
  }
}

// Alerts (open) and open findings, and escalations, newest first.
export function renderAlerts(el, model, now, onSelect) {
  const items = [];
  for (const a of model.alerts.values()) {
    items.push({ at: a.entry, node: h("li", { class: `item alert level-${a.level}`, dataset: { alert: a.alert, level: a.level } },
      h("button", { type: "button", class: "link", onclick: () => onSelect({ alert: a.alert }) },
        h("span", { class: "badge" }, LEVEL[a.level] || `level ${a.level}`), " ", alertText(a)),
      h("span", { class: "meta" }, `${a.alert} · ${a.change} ${utc(a.updated_at)} (${local(a.updated_at)})`)) });
  }
  for (const f of model.openFindings(now)) {
    const level = f.kind === "conflict" || f.kind === "unacknowledged" || f.kind === "zone_violation" ? 3 : 2;
    items.push({ at: f.entry, node: h("li", { class: `item finding level-${level} kind-${f.kind}`, dataset: { finding: f.finding, kind: f.kind } },
      h("button", { type: "button", class: "link", onclick: () => onSelect({ finding: f.finding }) },
        h("span", { class: "badge" }, f.kind.replace("_", " ")), " ", findingText(f)),
      h("span", { class: "meta" }, `${f.finding} · entry ${f.entry} · ${utc(f.raised_at)} (${local(f.raised_at)})`)) });
  }
  for (const e of model.escalations.values()) {
    items.push({ at: e.entry, node: h("li", { class: "item escalation level-3", dataset: { escalation: e.escalation } },
      h("span", { class: "badge" }, "escalation"), " ",
      `${e.escalation}: ${e.text || `${e.party} owes an acknowledgement`} (escalated to ${e.contact})`,
      h("span", { class: "meta" }, `entry ${e.entry} · ${utc(e.raised_at)} (${local(e.raised_at)})`)) });
  }
  items.sort((a, b) => b.at - a.at);
  replace(el, items.length ? items.map((i) => i.node) : h("li", { class: "empty" }, "Nothing open."));
}

export function renderHotline(awaitEl, listEl, model, now, actions) {
  const awaiting = model.awaitingMyAck(now);
  replace(awaitEl, awaiting.length ? h("ul", { class: "awaiting" }, awaiting.map(({ notice, deadline }) =>
    h("li", { class: `item ${deadline !== null && deadline < now ? "overdue" : "due"}`, dataset: { awaiting: notice.id } },
      h("button", { type: "button", class: "link", onclick: () => actions.select({ notice: notice.id }) },
        `${notice.id} v${notice.version} (${notice.party}, ${notice.kind})`),
      deadline !== null ? h("span", { class: "countdown" }, ` ack ${countdown(deadline - now)}`) : null,
      actions.canSign() ? h("button", { type: "button", class: "act", onclick: () => actions.ackNotice(notice) }, `Acknowledge ${notice.id}`) : null)))
    : h("p", { class: "empty" }, "No notice waits for your acknowledgement."));
  const rows = model.hotline().map(({ message: m, incoming, owed }) => {
    const left = Date.parse(m.deadline) - now;
    const pendingOthers = !incoming ? m.to.filter((p) => !m.acks.includes(p)) : [];
    return h("li", { class: `item msg ${incoming ? "in" : "out"} ${m.priority} ${owed && left < 0 ? "overdue" : ""}`, dataset: { message: m.id } },
      h("span", { class: "meta" }, `${incoming ? `from ${m.from}` : `to ${m.to.join(", ")}`} · ${m.priority} · ${utc(m.sent_at)} (${local(m.sent_at)})`),
      h("p", { class: "text" }, m.text),
      owed ? h("span", { class: "countdown" }, `ack ${countdown(left)}`) : null,
      owed && actions.canSign() ? h("button", { type: "button", class: "act", onclick: () => actions.ackMessage(m) }, `Acknowledge ${m.id}`) : null,
      !incoming ? h("span", { class: "meta" }, pendingOthers.length ? `awaiting ${pendingOthers.join(", ")} (${countdown(left)})` : "acknowledged by all") : null,
      incoming && !owed ? h("span", { class: "meta" }, "acknowledged") : null);
  });
  replace(listEl, rows.length ? rows : h("li", { class: "empty" }, "No messages."));
  // whether a countdown is shown (then the clock redraws this panel every second)
  return awaiting.some((a) => a.deadline !== null) || model.hotline().some((x) => x.owed || (!x.incoming && x.message.to.some((p) => !x.message.acks.includes(p))));
}

// The notices list (the keyboard's way to every notice): the soonest first, at most
// `LIST_MAX` of them, narrowed by the filter (id, party or kind).
export const LIST_MAX = 300;
export function renderNoticeList(el, notices, state, party, onSelect, filter = "") {
  const f = filter.trim().toLowerCase();
  const shown = f ? notices.filter((n) => `${n.id} ${n.party} ${n.kind}`.toLowerCase().includes(f)) : notices;
  const rows = shown.slice(0, LIST_MAX).map((n) => h("li", { dataset: { notice: n.id, state: state(n), version: n.version } },
    h("button", { type: "button", class: `link ${n.party === party ? "own" : "other"}`, onclick: () => onSelect({ notice: n.id }, true) },
      `${n.id} v${n.version}`), ` ${n.party} · ${n.kind} · ${state(n)}`));
  if (shown.length > LIST_MAX) {
    rows.push(h("li", { class: "empty" }, `and ${(shown.length - LIST_MAX).toLocaleString("en-GB")} more: narrow the list with the filter`));
  }
  replace(el, rows.length ? rows : h("li", { class: "empty" }, f ? "No live notice matches." : "No live notices."));
}

// Details of a notice: band, window (UTC and local), version, state, and the entries that
// concern it, each with a button that verifies its receipt in the browser.
export function noticeDetails(n, model, now, actions) {
  const own = n.party === model.party;
  const entries = [...(model.concerns.get(n.id) || [])].sort((a, b) => a - b);
  return h("div", { class: "details", dataset: { notice: n.id } },
    h("h3", {}, `${n.id} v${n.version}`),
    h("dl", {},
      h("dt", {}, "Party"), h("dd", {}, n.party),
      h("dt", {}, "Kind"), h("dd", {}, `${n.kind}${model.hazard(n) ? " (hazard)" : ""}`),
      n.title !== undefined ? [h("dt", {}, "Title"), h("dd", {}, n.title)] : null,
      n.redacted ? [h("dt", {}, "Title"), h("dd", {}, "withheld by its owner's disclosure")] : null,
      h("dt", {}, "State"), h("dd", { class: "state" }, model.state(n, now)),
      h("dt", {}, "Filed"), h("dd", {}, both(n.filed_at)),
      n.version > 1 ? [h("dt", {}, "Amended"), h("dd", {}, both(n.updated_at))] : null,
      n.cancelled_at ? [h("dt", {}, "Cancelled"), h("dd", {}, both(n.cancelled_at))] : null,
      h("dt", {}, "Acknowledged by"), h("dd", {}, n.acks.length ? n.acks.join(", ") : "nobody yet")),
    h("ol", { class: "volumes" }, n.volumes.map((v, i) => h("li", {},
      h("strong", {}, `Volume ${i + 1}: `), `${band(v.altitude)}; `,
      `${utc(v.start)} to ${utc(v.end)} (local ${local(v.start, false)} to ${local(v.end, false)}); `,
      v.footprint.type === "Circle" ? `circle of ${v.footprint.radius.value} ${v.footprint.radius.units} around ${v.footprint.center[1]}, ${v.footprint.center[0]}` : `polygon of ${v.footprint.coordinates[0].length - 1} corners`))),
    h("div", { class: "actions" },
      own && actions.canSign() && !n.cancelled_at ? h("button", { type: "button", onclick: () => actions.amend(n) }, `Amend ${n.id}`) : null,
      own && actions.canSign() && !n.cancelled_at ? h("button", { type: "button", onclick: () => actions.cancel(n) }, `Cancel ${n.id}`) : null,
      !own && actions.canSign() && !n.acks.includes(model.party) && model.requiredAcks(n).includes(model.party)
        ? h("button", { type: "button", onclick: () => actions.ackNotice(n) }, `Acknowledge ${n.id}`) : null),
    entriesBlock(entries, model, actions));
}

export function entriesBlock(entries, model, actions) {
  return h("div", { class: "entries" }, h("h4", {}, "Entries that concern it"),
    h("ul", {}, entries.map((i) => {
      const e = model.entries.get(i);
      const what = e ? `${e.value.event.party} ${e.value.event.type} seq ${e.value.event.seq}, received ${utc(e.value.received_at)}` : "";
      const result = h("span", { class: "proof", role: "status", dataset: { entry: i } });
      return h("li", { dataset: { entry: i } }, `Entry ${i} `, what ? `(${what}) ` : "",
        h("button", { type: "button", class: "verify", onclick: () => actions.verify(i) }, `Verify receipt of entry ${i}`), " ", result);
    })));
}

export function findingDetails(f, model, actions) {
  const entries = [f.entry];
  return h("div", { class: "details", dataset: { finding: f.finding } },
    h("h3", {}, `${f.finding}: ${f.kind.replace("_", " ")}`),
    h("p", {}, findingText(f)),
    h("dl", {},
      h("dt", {}, "Parties"), h("dd", {}, f.parties.join(", ")),
      h("dt", {}, "Action"), h("dd", {}, f.action),
      h("dt", {}, "Raised"), h("dd", {}, both(f.raised_at))),
    h("div", { class: "actions" },
      f.notice ? h("button", { type: "button", onclick: () => actions.select({ notice: f.notice }, true) }, `Show ${f.notice}`) : null,
      f.details && f.details.other ? h("button", { type: "button", onclick: () => actions.select({ notice: f.details.other }, true) }, `Show ${f.details.other}`) : null),
    entriesBlock(entries, model, actions));
}

export function alertDetails(a, model, actions) {
  return h("div", { class: "details", dataset: { alert: a.alert } },
    h("h3", {}, `${a.alert}: ${a.kind} alert, ${LEVEL[a.level] || a.level}`),
    h("p", {}, alertText(a)),
    h("dl", {},
      h("dt", {}, "Parties"), h("dd", {}, a.parties.join(", ")),
      h("dt", {}, "Raised"), h("dd", {}, both(a.raised_at)),
      h("dt", {}, "Last change"), h("dd", {}, `${a.change} ${both(a.updated_at)}`)),
    h("ul", {}, (a.samples || []).map((s) => h("li", {},
      `${s.aircraft}: ${s.lat.toFixed(4)}, ${s.lon.toFixed(4)}, ${Math.round(s.alt_m)} m ${s.reference || "AMSL"}, ${Math.round(s.gs_mps)} m/s track ${Math.round(s.trk_deg)}° at ${utc(s.time)}`))),
    entriesBlock([a.entry], model, actions));
}

export function aircraftDetails(t) {
  return h("div", { class: "details", dataset: { aircraft: `${t.party}/${t.aircraft}` } },
    h("h3", {}, `${t.aircraft}${t.callsign ? ` (${t.callsign})` : ""}`),
    h("dl", {},
      h("dt", {}, "Party"), h("dd", {}, t.party),
      h("dt", {}, "Position"), h("dd", {}, `${t.lat.toFixed(4)}, ${t.lon.toFixed(4)}`),
      h("dt", {}, "Altitude"), h("dd", {}, `${Math.round(t.alt_m)} m ${t.reference}`),
      h("dt", {}, "Speed, track"), h("dd", {}, `${Math.round(t.gs_mps)} m/s, ${Math.round(t.trk_deg)}°`),
      h("dt", {}, "Reported"), h("dd", {}, both(t.time))));
}
