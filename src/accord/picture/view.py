"""What each party may see: the agreement's disclosure rules applied to the picture and the log.

A party sees all of its own statements, the agreement, and what is addressed to it (findings
naming it, messages to it, escalations about it). Other parties' notices it sees as far as
their owner's disclosure allows: `full` (everything but the private part, which never leaves
its owner) or `volumes` (where, when and what kind, without the title). Entries it may not
read in full are shown as their index and leaf hash only, which is all a party needs to check
that the log is consistent. Pure: imports only the core.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from accord.errors import InvalidInput
from accord.geo.box import Box4, box_time, volume_box
from accord.geo.volume import footprint_geojson
from accord.log.event import ALL_PARTIES, OPERATOR, Entry
from accord.picture.fold import PictureReads
from accord.rules.agreement import Agreement
from accord.rules.hotline import Message
from accord.rules.notice import Finding, Notice
from accord.timefmt import format_time, parse_time

_TITLE_FREE = ("notice.file", "notice.amend")


@dataclass(frozen=True, slots=True)
class Area:
    """A filter on the picture: a lon/lat box and a time window, either optional."""

    lon_min: float = -180.0
    lat_min: float = -90.0
    lon_max: float = 180.0
    lat_max: float = 90.0
    start: datetime | None = None
    end: datetime | None = None

    @staticmethod
    def parse(bbox: str | None, start: str | None, end: str | None) -> Area | None:
        """The filter from query parameters or CLI options; None when none is given."""
        if bbox is None and start is None and end is None:
            return None
        kw: dict[str, Any] = {}
        if bbox is not None:
            try:
                lon0, lat0, lon1, lat1 = (float(x) for x in bbox.split(","))
            except ValueError:
                raise InvalidInput(f"{bbox!r} is not a box", field="bbox",
                                   accepted="lon_min,lat_min,lon_max,lat_max") from None
            if not (-180 <= lon0 <= lon1 <= 180 and -90 <= lat0 <= lat1 <= 90):
                raise InvalidInput(f"{bbox!r} is not a box", field="bbox",
                                   accepted="-180 <= lon_min <= lon_max <= 180, likewise "
                                            "latitudes")
            kw.update(lon_min=lon0, lat_min=lat0, lon_max=lon1, lat_max=lat1)
        if start is not None:
            kw["start"] = parse_time(start, "start")
        if end is not None:
            kw["end"] = parse_time(end, "end")
        return Area(**kw)

    def box(self) -> Box4:
        """The area as a 4D box for the index (every altitude; open ends of time far out)."""
        return Box4(self.lon_min, self.lon_max, self.lat_min, self.lat_max, -1e9, 1e9,
                    box_time(self.start) if self.start is not None else -1e15,
                    box_time(self.end) if self.end is not None else 1e15)

    def meets(self, notice: Notice) -> bool:
        for v in notice.volumes:
            b = volume_box(v)
            if (b.lon_min <= self.lon_max and b.lon_max >= self.lon_min
                    and b.lat_min <= self.lat_max and b.lat_max >= self.lat_min
                    and (self.end is None or v.start < self.end)
                    and (self.start is None or v.end > self.start)):
                return True
        return False


def reader(agreement: Agreement | None, party: str | None) -> str | None:
    """Whom to show things as: an observer of the agreement reads what the operator reads
    (None), private parts aside; anyone else as themselves."""
    if party is not None and agreement is not None and party in agreement.observers:
        return None
    return party


def disclosure(agreement: Agreement | None, owner: str) -> str:
    return "full" if agreement is None else agreement.disclosed(owner)


def notice_for(notice: Notice, party: str | None, picture: PictureReads,
               at: datetime) -> dict[str, Any]:
    """A notice as `party` may see it (None: the operator, who sees all), with its state."""
    out = dict(picture.notice_json(notice))
    out["state"] = picture.state(notice, at)
    party = reader(picture.agreement, party)
    if (party is not None and notice.party != party
            and disclosure(picture.agreement, notice.party) == "volumes"):
        out.pop("title", None)
        out["redacted"] = ["title"]
    return out


def finding_visible(finding: Finding, party: str | None) -> bool:
    return party is None or party in finding.parties


def message_visible(msg: dict[str, Any], party: str | None) -> bool:
    return party is None or party == msg["from"] or party in msg["to"]


def escalation_visible(esc: dict[str, Any], party: str | None) -> bool:
    return party is None or party in (esc["party"], esc["from"])


def _in_area(picture: PictureReads, at: datetime, area: Area | None,
             candidates: Iterable[Notice] | None) -> list[Notice]:
    """Live notices meeting `area`, by start; `candidates` (from the 4D index: every notice
    whose box meets the area's, and perhaps more) spares looking at all the others."""
    if candidates is None:
        return [n for n in picture.live_notices(at) if area is None or area.meets(n)]
    return sorted((n for n in candidates if n.live(at) and (area is None or area.meets(n))),
                  key=lambda n: (n.start, n.id))


def picture_for(picture: PictureReads, party: str | None, at: datetime,
                area: Area | None = None,
                candidates: Iterable[Notice] | None = None) -> dict[str, Any]:
    """The picture as `party` sees it at `at`: live notices, zones, its open findings, its
    hotline traffic."""
    a = picture.agreement
    seen_as = reader(a, party)
    notices = _in_area(picture, at, area, candidates)
    # In log order: the read model's maps are not ordered by insertion.
    messages = [m.to_json() for m in sorted(picture.messages.values(), key=lambda m: m.entry)]
    return {
        "at": format_time(at, micro=True), "party": party, "entries": picture.size,
        "agreement": None if a is None else {"id": a.id, "version": a.version},
        "notices": [notice_for(n, party, picture, at) for n in notices],
        "zones": [] if a is None else [{"id": z.id, "name": z.name,
                                        "protects": sorted(z.protects), "action": z.action}
                                       for z in a.zones],
        "findings": [f.to_json() for f in picture.open_findings(at)
                     if finding_visible(f, seen_as)],
        "messages": [m for m in messages if message_visible(m, seen_as)],
        "escalations": [e for e in sorted(picture.escalations.values(),
                                          key=lambda e: int(e["entry"]))
                        if escalation_visible(e, seen_as)],
        "alerts": [a for a in sorted(picture.alerts.values(), key=lambda a: int(a["entry"]))
                   if a["state"] == "open" and (seen_as is None or seen_as in a["parties"])],
    }


def picture_geojson(picture: PictureReads, party: str | None, at: datetime,
                    area: Area | None = None,
                    candidates: Iterable[Notice] | None = None) -> dict[str, Any]:
    """Live notice volumes and zones as a GeoJSON FeatureCollection (RFC 7946)."""
    features = []
    for n in _in_area(picture, at, area, candidates):
        seen = notice_for(n, party, picture, at)
        for i, v in enumerate(n.volumes):
            props = {"notice": n.id, "party": n.party, "kind": n.kind, "version": n.version,
                     "volume": i, "state": seen["state"], "lower_m": v.altitude.lower_m,
                     "upper_m": v.altitude.upper_m, "reference": v.altitude.reference,
                     "start": format_time(v.start), "end": format_time(v.end)}
            if "title" in seen:
                props["title"] = seen["title"]
            features.append({"type": "Feature", "geometry": footprint_geojson(v.footprint),
                             "properties": props})
    if picture.agreement is not None:
        for z in picture.agreement.zones:
            for v in z.volumes:
                features.append({"type": "Feature", "geometry": footprint_geojson(v.footprint),
                                 "properties": {"zone": z.id, "name": z.name,
                                                "lower_m": v.altitude.lower_m,
                                                "upper_m": v.altitude.upper_m}})
    return {"type": "FeatureCollection", "features": features}


def entry_audience(entry: Entry, messages: Mapping[str, Message]) -> frozenset[str] | None:
    """The parties that may read `entry` in full; None means every party in force.

    A message's audience is what was recorded when it was sent (`Message.to`, resolved from
    the agreement in force then), never the agreement in force now: a party added later does
    not read earlier broadcasts. An entry the picture does not know (it cannot happen for a
    picture at least as new as the entry) is shown to its signer only."""
    ev = entry.event
    body = ev.body
    if ev.party == ALL_PARTIES:
        return None
    if ev.party == OPERATOR:
        if ev.type == "clock":
            return None  # a step of the operator's clock concerns every receive time
        if ev.type == "finding":
            return frozenset(p for p in body.get("parties", ()) if isinstance(p, str))
        if ev.type == "alert":
            return frozenset(p for p in body.get("parties", ()) if isinstance(p, str))
        if ev.type == "escalation":
            return frozenset(p for p in (body.get("party"), body.get("from"))
                             if isinstance(p, str))
        return frozenset()
    if ev.type == "message":
        msg = messages.get(str(body.get("message")))
        if msg is None or msg.sender != ev.party or msg.sent_at != entry.received_at:
            return frozenset((ev.party,))
        return frozenset((ev.party, *msg.to))
    if ev.type == "message.ack":
        acked = messages.get(str(body.get("message")))
        return (frozenset((ev.party, acked.sender)) if acked is not None
                else frozenset((ev.party,)))
    return None  # notices, cancellations, acknowledgements: given to every party


def entry_for(index: int, data: bytes, leaf: bytes, entry: Entry, party: str,
              agreement: Agreement | None,
              messages: Mapping[str, Message]) -> dict[str, Any]:
    """An entry as `party` may read it: in full, with the title withheld, or hidden.

    `messages` is the picture's (at least as new as the entry): it holds who each message was
    sent to."""
    audience = entry_audience(entry, messages)
    out: dict[str, Any] = {"index": index,
                           "leaf_hash": base64.b64encode(leaf).decode("ascii")}
    if agreement is not None and party in agreement.observers:
        out["entry"] = data.decode("utf-8")  # an observer reads every entry as it is
        out["value"] = entry.to_json()
        return out
    if audience is not None and party not in audience:
        out["hidden"] = True
        return out
    obj = entry.to_json()
    ev = entry.event
    if (ev.type in _TITLE_FREE and ev.party != party
            and disclosure(agreement, ev.party) == "volumes" and "title" in ev.body):
        obj["event"] = dict(obj["event"], body={k: v for k, v in ev.body.items() if k != "title"})
        out["redacted"] = ["event.body.title"]
    else:
        out["entry"] = data.decode("utf-8")  # the exact signed bytes: verifiable as they are
    out["value"] = obj
    return out


def entry_visible(entry: Entry, party: str, messages: Mapping[str, Message]) -> bool:
    """May `party` read `entry` at all (in full or redacted)? Hidden entries are index and
    leaf hash only, everywhere: entries, the stream, receipts."""
    audience = entry_audience(entry, messages)
    return audience is None or party in audience
