"""The evidence bundle's report: one self-contained HTML page made from verified entries only.

A timeline (UTC and the bundle's local offset), who could read each entry when it was
logged, the three time bounds of each filing (the party's own signed `issued_at`, the
operator's receive time, the witnesses' "no later than"), the agreements, and an inline SVG
map of the notice's volumes. Every text is escaped; no script, no external resource (a strict
Content-Security-Policy says so to the browser too). Deterministic: `verify_bundle` renders it
again and compares. Pure.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from html import escape
from typing import Any

from accord.evidence.bundle import Proven, Verified, local_time
from accord.geo.volume import LENGTH_UNITS
from accord.log.event import b64
from accord.timefmt import format_time

_CSS = ("body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#111}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;"
        "padding:3px 6px;text-align:left;vertical-align:top}th{background:#eee}"
        ".ok{color:#060}.warn{color:#a40}code{font-size:12px;word-break:break-all}"
        ".bounds td:first-child{font-weight:bold}svg{border:1px solid #bbb;background:#f8f8ff}")


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _stamp(t: datetime, offset: str) -> str:
    return f"{format_time(t, micro=True)} ({local_time(t, offset)} {offset})"


def _posix(seconds: int, offset: str) -> str:
    return _stamp(datetime.fromtimestamp(seconds, UTC), offset)


def _known_to(p: Proven, messages: dict[str, dict[str, Any]]) -> str:
    ev = p.entry.event
    body = ev.body
    if ev.type in ("finding", "alert"):
        return ", ".join(str(x) for x in body.get("parties", []))
    if ev.type == "escalation":
        return ", ".join(str(x) for x in (body.get("party"), body.get("from")) if x)
    if ev.type == "message":
        to = body.get("to")
        return f"{ev.party}, " + (", ".join(str(x) for x in to) if isinstance(to, list)
                                  else "every other party")
    if ev.type == "message.ack":
        sender = messages.get(str(body.get("message")), {}).get("from", "its sender")
        return f"{ev.party}, {sender}"
    return "every party"


def _summary(p: Proven) -> str:
    ev = p.entry.event
    b = ev.body
    if ev.type in ("notice.file", "notice.amend"):
        return f"{b.get('notice')} {b.get('kind')}, {len(b.get('volumes', []))} volume(s)" + (
            f": {b['title']}" if isinstance(b.get("title"), str) else "")
    if ev.type in ("notice.ack", "notice.cancel"):
        return f"{b.get('notice')} v{b.get('version')}"
    if ev.type == "message":
        return f"{b.get('message')}: {b.get('text')}"
    if ev.type == "finding":
        return f"{b.get('finding')} {b.get('kind')} ({b.get('action')})"
    if ev.type == "escalation":
        return f"{b.get('escalation')}: {b.get('text')}"
    if ev.type == "alert":
        return f"{b.get('alert')} {b.get('change')} {b.get('kind')} level {b.get('level')}"
    if ev.type == "agreement":
        return f"{b.get('id')} version {b.get('version', 1)}"
    return str(b.get("message") or b.get("notice") or "")


def _rings(volume: Any) -> list[list[tuple[float, float]]]:
    """The footprint's rings in degrees; nothing for a shape it cannot read (a bundle's
    entries passed the fold when logged, but the report never fails on what it draws)."""
    try:
        return _rings_of(volume)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        return []


def _rings_of(volume: Any) -> list[list[tuple[float, float]]]:
    fp = volume.get("footprint", {}) if isinstance(volume, dict) else {}
    if fp.get("type") == "Polygon":
        return [[(float(x), float(y)) for x, y, *_ in ring] for ring in fp.get("coordinates", [])]
    if fp.get("type") == "Circle":
        lon, lat = (float(v) for v in fp["center"][:2])
        r = float(fp["radius"]["value"]) * LENGTH_UNITS.get(fp["radius"]["units"], 1.0)
        dlat = r / 111_320.0
        dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
        return [[(lon + dlon * math.cos(a * math.pi / 32), lat + dlat * math.sin(a * math.pi / 32))
                 for a in range(65)]]
    return []


def _map(versions: list[tuple[int, list[Any]]]) -> str:
    """The volumes of each version of the notice, in an equirectangular frame scaled by the
    cosine of the mean latitude (shapes true to within a few percent at these sizes)."""
    shapes = [(v, ring) for v, vols in versions for vol in vols for ring in _rings(vol)]
    points = [pt for _, ring in shapes for pt in ring if all(map(math.isfinite, pt))]
    if not points:
        return "<p>No volumes to draw.</p>"
    lons, lats = [p[0] for p in points], [p[1] for p in points]
    k = math.cos(math.radians((min(lats) + max(lats)) / 2))
    w = max((max(lons) - min(lons)) * k, 1e-6)
    h = max(max(lats) - min(lats), 1e-6)
    scale = 560 / max(w, h)
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w * scale + 40:.0f}" '
           f'height="{h * scale + 40:.0f}" role="img" aria-label="map of the volumes">']
    for v, ring in shapes:
        pts = " ".join(f"{(x - min(lons)) * k * scale + 20:.1f},"
                       f"{(max(lats) - y) * scale + 20:.1f}" for x, y in ring)
        c = colours[(v - 1) % len(colours)]
        out.append(f'<polygon points="{pts}" fill="{c}" fill-opacity="0.2" stroke="{c}">'
                   f"<title>version {v}</title></polygon>")
    out.append(f'<text x="4" y="14" font-size="11">{min(lats):.4f}..{max(lats):.4f} N, '
               f"{min(lons):.4f}..{max(lons):.4f} E</text></svg>")
    legend = ", ".join(f'<span style="color:{colours[(v - 1) % len(colours)]}">version {v}'
                       f"</span>" for v, _ in versions)
    return "".join(out) + f"<p>{legend}</p>"


def render(v: Verified) -> str:
    o = v.utc_offset
    rows: list[str] = []
    messages: dict[str, dict[str, Any]] = {}
    filings: list[Proven] = []
    versions: list[tuple[int, list[Any]]] = []
    agreements: list[str] = []
    for p in v.entries:
        ev = p.entry.event
        if ev.type == "message":
            messages[str(ev.body.get("message"))] = {"from": ev.party}
        if ev.type == "agreement":
            agreements.append(f"<li>entry {p.index}: {_e(_summary(p))}, parties "
                              f"{_e(', '.join(x.get('id', '?') for x in ev.body['parties']))}"
                              "</li>")
            continue
        if ev.type in ("notice.file", "notice.amend") and ev.body.get("notice") == v.notice:
            filings.append(p)
            versions.append((len(versions) + 1, list(ev.body.get("volumes", []))))
        bound = v.bound_of(p.index)
        rows.append(f"<tr><td>{p.index}</td><td>{_e(_stamp(p.entry.received_at, o))}</td>"
                    f"<td>{_e(ev.issued_at)}</td><td>"
                    f"{_e(_posix(bound.no_later_than, o)) if bound else 'not witnessed'}</td>"
                    f"<td>{_e(ev.party)}</td><td>{_e(ev.type)}</td>"
                    f"<td>{_e(_summary(p))}</td><td>{_e(_known_to(p, messages))}</td></tr>")
    w = v.witnessed
    if w is not None:
        names = ", ".join(f"{_e(c.witness)} at {_e(_posix(c.timestamp, o))}"
                          for c in w.cosignatures)
        witness = (f'<p class="ok">Witnessed: cosigned by {len(w.cosignatures)} of the '
                   f"agreement's witnesses (quorum {w.quorum}): {names}.</p>")
    else:
        witness = (f'<p class="warn">The checkpoint is not witnessed: '
                   f"{_e(v.witness_problem)}.</p>")
    if v.bounds:
        witness += (f"<p>{len(v.bounds)} earlier witnessed checkpoint(s), each proved "
                    "consistent with it, give the entries before them an earlier bound.</p>")
    bounds: list[str] = []
    for p in filings:
        ev = p.entry.event
        b = v.bound_of(p.index)
        later = None if b is None else _e(_posix(b.no_later_than, o))
        each = "" if b is None else "".join(
            f"<tr><td>cosigned by {_e(c.witness)} (checkpoint of size {b.checkpoint.size})"
            f"</td><td>no later than {_e(_posix(c.timestamp, o))}</td></tr>"
            for c in b.cosignatures)
        bounds.append(
            f'<h3>{_e(ev.type)} by {_e(ev.party)} (entry {p.index})</h3><table class="bounds">'
            f"<tr><td>issued by {_e(ev.party)} (its own signed time)</td><td>"
            f"{_e(_stamp(ev.issued, o))}</td></tr>"
            f"<tr><td>received by the operator</td><td>{_e(_stamp(p.entry.received_at, o))}"
            f"</td></tr>"
            + (f"<tr><td>in the log, by the witnesses (quorum)</td><td>no later than {later}"
               f"</td></tr>" if later else "<tr><td>in the log, by the witnesses</td><td>not "
               "witnessed: only the operator's signed checkpoint</td></tr>") + each
            + "</table>")
    withheld = ("" if not v.withheld else
                "<h2>Withheld from this party</h2><p>Entries about the notice whose content "
                f"{_e(v.party)} may not read in full, proved as leaf hashes only: "
                f"{_e(', '.join(str(i) for i in v.withheld))}.</p>")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        'style-src \'unsafe-inline\'; img-src data:">'
        f"<title>Evidence: notice {_e(v.notice)}</title><style>{_CSS}</style></head><body>"
        f"<h1>Evidence: notice {_e(v.notice)}</h1>"
        f"<p>Log <code>{_e(v.origin)}</code>, as {_e(v.party)} reads it: {len(v.entries)} "
        f"entries proved to the checkpoint of size {v.checkpoint.size} (root "
        f"<code>{_e(b64(v.checkpoint.root))}</code>) signed with the log key "
        f"<code>{_e(v.log_key)}</code>. Local times at UTC{_e(o)}.</p>{witness}"
        f"<h2>Time bounds</h2>{''.join(bounds) or '<p>No filing in the bundle.</p>'}"
        "<h2>Timeline</h2><table><tr><th>entry</th><th>received (UTC, local)</th>"
        "<th>issued_at (signed)</th><th>witnessed no later than</th><th>by</th><th>type</th>"
        "<th>what</th><th>known to</th></tr>"
        f"{''.join(rows)}</table>{withheld}"
        f"<h2>Map of the volumes</h2>{_map(versions)}"
        f"<h2>Agreements</h2><ul>{''.join(agreements)}</ul>"
        "<p>Check this bundle offline: <code>accord verify --bundle FILE</code>. It proves "
        "each entry shown is in the log as shown; it cannot prove that no other entry about "
        "the notice exists.</p></body></html>\n")
