"""The agreement: the parties, their keys and the rules they all signed.

The agreement's JSON form is the body of an `agreement` event; `Agreement.from_json` is the one
parser for it, used when a proposal is written, when it is adopted and when the log is folded.
Pure: imports only the core (`geo`, `errors`, `timefmt`, `log.event`, `log.cosignature`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from accord.errors import InvalidInput, UnknownKind, UnknownParty
from accord.geo.volume import Volume, VolumeLimits, parse_volume
from accord.log.cosignature import WitnessPolicy
from accord.log.event import ALL_PARTIES, OPERATOR, unb64
from accord.rules.text import check_text

Action = Literal["finding", "reject"]
Disclosure = Literal["full", "volumes"]
_ACTIONS = ("finding", "reject")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
ZONE_FOREVER = ("2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z")


ROLES = ("party", "observer")


@dataclass(frozen=True, slots=True)
class Party:
    """A party to the agreement. An `observer` (an investigator the parties admit) signs the
    agreement like the others and reads every entry in full, but files nothing, is sent no
    message and owes no acknowledgement."""

    id: str
    name: str
    key: bytes
    escalation: str | None = None
    role: str = "party"


@dataclass(frozen=True, slots=True)
class Kind:
    """An activity kind and its rules. A hazard kind declares space others must keep clear of."""

    name: str
    hazard: bool = False
    lead_time: timedelta = timedelta(0)
    late_action: Action = "finding"
    ack_required: bool = False
    ack_deadline: timedelta | None = None


@dataclass(frozen=True, slots=True)
class ZoneRule:
    """Which notices a zone forbids: None means any party or any kind."""

    parties: frozenset[str] | None = None
    kinds: frozenset[str] | None = None
    hazard_only: bool = False

    def applies(self, party: str, kind: Kind) -> bool:
        return ((self.parties is None or party in self.parties)
                and (self.kinds is None or kind.name in self.kinds)
                and (kind.hazard or not self.hazard_only))


@dataclass(frozen=True, slots=True)
class Zone:
    id: str
    name: str
    volumes: tuple[Volume, ...]
    rule: ZoneRule
    protects: frozenset[str]
    action: Action = "finding"


@dataclass(frozen=True, slots=True)
class Separation:
    horizontal_m: float
    vertical_m: float


@dataclass(frozen=True, slots=True)
class Limits:
    max_volumes: int = 16
    max_vertices: int = 1000
    max_window: timedelta = timedelta(hours=24)
    horizon: timedelta = timedelta(days=30)

    def volume_limits(self) -> VolumeLimits:
        return VolumeLimits(max_vertices=self.max_vertices, max_window=self.max_window)


@dataclass(frozen=True, slots=True)
class Tactical:
    """Live-track alerting: minima between aircraft (default: the strategic separation),
    the look-ahead, and the times to violation that make an alert corrective or a warning."""

    horizontal_m: float
    vertical_m: float
    lookahead_s: float = 300.0
    corrective_s: float = 120.0
    warning_s: float = 60.0


@dataclass(frozen=True, slots=True)
class Hotline:
    """How long a party has to acknowledge a hotline message, unless the sender says."""

    ack_deadline: timedelta = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Agreement:
    id: str
    title: str
    version: int
    parties: tuple[Party, ...]
    kinds: tuple[Kind, ...]
    separation: Separation
    conflict_action: Action
    zones: tuple[Zone, ...]
    limits: Limits
    disclosure: tuple[tuple[str, Disclosure], ...]
    replaces: str | None = None
    hotline: Hotline = Hotline()
    tactical: Tactical | None = None  # None: the separation minima, 300 s, 120 s, 60 s
    witnesses: WitnessPolicy | None = None  # None: checkpoints are not witnessed

    def tactical_rules(self) -> Tactical:
        return self.tactical or Tactical(self.separation.horizontal_m,
                                         self.separation.vertical_m)

    def party(self, party_id: str, field: str = "party") -> Party:
        for p in self.parties:
            if p.id == party_id:
                return p
        raise UnknownParty(f"{party_id!r} is not a party to agreement {self.id!r}",
                           field=field, accepted=", ".join(p.id for p in self.parties))

    def kind(self, name: str, field: str = "kind") -> Kind:
        for k in self.kinds:
            if k.name == name:
                return k
        raise UnknownKind(f"{name!r} is not an activity kind of agreement {self.id!r}",
                          field=field, accepted=", ".join(k.name for k in self.kinds))

    @property
    def party_ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.parties)

    @property
    def observers(self) -> frozenset[str]:
        """The parties that read everything and act on nothing (role `observer`)."""
        return frozenset(p.id for p in self.parties if p.role == "observer")

    @property
    def acting_ids(self) -> tuple[str, ...]:
        """The parties that file, send and acknowledge (every party but the observers)."""
        return tuple(p.id for p in self.parties if p.role != "observer")

    def disclosed(self, party_id: str) -> Disclosure:
        return dict(self.disclosure).get(party_id, "full")

    @staticmethod
    def from_json(obj: Any, field: str = "agreement") -> Agreement:
        o = _obj(obj, field, {"id", "title", "version", "replaces", "parties", "separation",
                              "kinds", "conflicts", "zones", "limits", "disclosure", "hotline",
                              "tactical", "witnesses"})
        agreement_id = identifier(o.get("id"), f"{field}.id")
        version = _int(o.get("version", 1), f"{field}.version", 1)
        replaces = o.get("replaces")
        if version > 1:
            unb64(replaces, f"{field}.replaces", 32)
        elif replaces is not None:
            raise InvalidInput("the first version replaces nothing", field=f"{field}.replaces",
                               accepted="no replaces on version 1")
        parties = _parties(o.get("parties"), f"{field}.parties")
        limits = _limits(o.get("limits", {}), f"{field}.limits")
        kinds = _kinds(o.get("kinds"), f"{field}.kinds")
        sep = _obj(o.get("separation"), f"{field}.separation", {"horizontal_m", "vertical_m"})
        separation = Separation(_num(sep.get("horizontal_m"), f"{field}.separation.horizontal_m"),
                                _num(sep.get("vertical_m"), f"{field}.separation.vertical_m"))
        conflicts = _obj(o.get("conflicts", {}), f"{field}.conflicts", {"action"})
        conflict_action = _action(conflicts.get("action", "finding"), f"{field}.conflicts.action")
        ids = {p.id for p in parties}
        kind_names = {k.name for k in kinds}
        zones_raw = o.get("zones", [])
        if not isinstance(zones_raw, list):
            raise InvalidInput("zones must be a list", field=f"{field}.zones",
                               accepted="a list of zone tables")
        zones = tuple(_zone(z, f"{field}.zones[{i}]", ids, kind_names)
                      for i, z in enumerate(zones_raw))
        if len({z.id for z in zones}) != len(zones):
            raise InvalidInput("zone ids must be unique", field=f"{field}.zones")
        disc = _obj(o.get("disclosure", {}), f"{field}.disclosure", None)
        disclosure: list[tuple[str, Disclosure]] = []
        for pid, level in sorted(disc.items()):
            if pid not in ids:
                raise UnknownParty(f"{pid!r} is not a party", field=f"{field}.disclosure.{pid}",
                                   accepted=", ".join(sorted(ids)))
            if level not in ("full", "volumes"):
                raise InvalidInput(f"unknown disclosure {level!r}",
                                   field=f"{field}.disclosure.{pid}", accepted="full, volumes")
            disclosure.append((pid, level))
        hl = _obj(o.get("hotline", {}), f"{field}.hotline", {"ack_deadline_minutes"})
        ack_deadline = _positive_minutes(hl.get("ack_deadline_minutes", 5),
                                         f"{field}.hotline.ack_deadline_minutes")
        tactical = None
        if "tactical" in o:
            tf = f"{field}.tactical"
            t = _obj(o["tactical"], tf, {"horizontal_m", "vertical_m", "lookahead_s",
                                         "corrective_s", "warning_s"})
            look = _num(t.get("lookahead_s", 300), f"{tf}.lookahead_s")
            corrective = _num(t.get("corrective_s", min(120.0, look)), f"{tf}.corrective_s")
            warning = _num(t.get("warning_s", min(60.0, corrective)), f"{tf}.warning_s")
            if not 0 < warning <= corrective <= look <= 3600:
                raise InvalidInput("tactical times must satisfy 0 < warning_s <= corrective_s "
                                   "<= lookahead_s <= 3600", field=tf,
                                   accepted="e.g. lookahead_s = 300, corrective_s = 120, "
                                            "warning_s = 60")
            tactical = Tactical(
                _num(t.get("horizontal_m", separation.horizontal_m), f"{tf}.horizontal_m"),
                _num(t.get("vertical_m", separation.vertical_m), f"{tf}.vertical_m"),
                look, corrective, warning)
        witnesses = (WitnessPolicy.from_json(o["witnesses"], f"{field}.witnesses")
                     if "witnesses" in o else None)
        title = o.get("title", agreement_id)
        check_text(title, f"{field}.title", 200)
        return Agreement(id=agreement_id, title=title, version=version, parties=parties,
                         kinds=kinds, separation=separation, conflict_action=conflict_action,
                         zones=zones, limits=limits, disclosure=tuple(disclosure),
                         replaces=replaces if isinstance(replaces, str) else None,
                         hotline=Hotline(ack_deadline), tactical=tactical,
                         witnesses=witnesses)


def _obj(value: Any, field: str, allowed: set[str] | None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput("expected a table/object", field=field, accepted="a table of keys")
    if allowed is not None:
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise InvalidInput(f"unknown key(s) {unknown}", field=field,
                               accepted=", ".join(sorted(allowed)))
    return value


def identifier(value: Any, field: str) -> str:
    """A party, kind or zone id: short, plain, and not one of the reserved signer names."""
    if not isinstance(value, str) or not _ID.match(value) or value in (OPERATOR, ALL_PARTIES):
        raise InvalidInput(f"{value!r} is not a valid identifier", field=field,
                           accepted="1-32 letters, digits, '_', '.', '-', starting with a letter "
                                    "or digit; not 'operator'")
    return value


def _int(value: Any, field: str, minimum: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise InvalidInput(f"expected an integer >= {minimum}, got {value!r}", field=field,
                           accepted=f"an integer >= {minimum}")
    return value


def _num(value: Any, field: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value < 1e7:
        raise InvalidInput(f"expected a non-negative number, got {value!r}", field=field,
                           accepted="a number of metres from 0 to 10,000,000")
    return float(value)


def _action(value: Any, field: str) -> Action:
    if value == "finding":
        return "finding"
    if value == "reject":
        return "reject"
    raise InvalidInput(f"unknown action {value!r}", field=field, accepted="finding, reject")


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"expected true or false, got {value!r}", field=field,
                           accepted="true, false")
    return value


def _parties(value: Any, field: str) -> tuple[Party, ...]:
    if not isinstance(value, list) or len(value) < 2:
        raise InvalidInput("an agreement needs at least two parties", field=field,
                           accepted="a list of at least two parties")
    out: list[Party] = []
    for i, raw in enumerate(value):
        f = f"{field}[{i}]"
        p = _obj(raw, f, {"id", "name", "key", "escalation", "role"})
        pid = identifier(p.get("id"), f"{f}.id")
        key = unb64(p.get("key"), f"{f}.key", 32)
        name = p.get("name", pid)
        esc = p.get("escalation")
        check_text(name, f"{f}.name", 200)
        if esc is not None:
            check_text(esc, f"{f}.escalation", 200)
        role = p.get("role", "party")
        if role not in ROLES:
            raise InvalidInput(f"unknown role {role!r}", field=f"{f}.role",
                               accepted="party (the default) or observer (reads everything, "
                                        "files nothing)")
        out.append(Party(id=pid, name=name, key=key, escalation=esc, role=role))
    if sum(p.role == "party" for p in out) < 2:
        raise InvalidInput("an agreement needs at least two parties besides its observers",
                           field=field, accepted="at least two parties with role party")
    if len({p.id for p in out}) != len(out):
        raise InvalidInput("party ids must be unique", field=field)
    if len({p.key for p in out}) != len(out):
        raise InvalidInput("each party needs its own key", field=field)
    return tuple(out)


def _kinds(value: Any, field: str) -> tuple[Kind, ...]:
    kinds = _obj(value, field, None)
    if not kinds:
        raise InvalidInput("at least one activity kind is needed", field=field)
    out: list[Kind] = []
    for name, raw in sorted(kinds.items()):
        f = f"{field}.{name}"
        identifier(name, f)
        k = _obj(raw, f, {"hazard", "lead_time_minutes", "late", "ack_required",
                          "ack_deadline_minutes"})
        ack = _bool(k.get("ack_required", False), f"{f}.ack_required")
        deadline = k.get("ack_deadline_minutes")
        if ack and deadline is None:
            raise InvalidInput("a kind that needs acknowledgement needs a deadline",
                               field=f"{f}.ack_deadline_minutes", accepted="minutes, e.g. 5")
        out.append(Kind(
            name=name,
            hazard=_bool(k.get("hazard", False), f"{f}.hazard"),
            lead_time=timedelta(minutes=_num(k.get("lead_time_minutes", 0),
                                             f"{f}.lead_time_minutes")),
            late_action=_action(k.get("late", "finding"), f"{f}.late"),
            ack_required=ack,
            ack_deadline=(_positive_minutes(deadline, f"{f}.ack_deadline_minutes")
                          if deadline is not None else None),
        ))
    return tuple(out)


def _positive_minutes(value: Any, field: str) -> timedelta:
    minutes = _num(value, field)
    if not 0 < minutes <= 1440:
        raise InvalidInput(f"{minutes} minutes is not a usable deadline", field=field,
                           accepted="minutes greater than 0, at most 1440")
    return timedelta(minutes=minutes)


def _limits(value: Any, field: str) -> Limits:
    lim = _obj(value, field, {"max_volumes", "max_vertices", "max_window_hours", "horizon_days"})
    d = Limits()
    return Limits(
        max_volumes=_int(lim.get("max_volumes", d.max_volumes), f"{field}.max_volumes", 1),
        max_vertices=_int(lim.get("max_vertices", d.max_vertices), f"{field}.max_vertices", 3),
        max_window=timedelta(hours=_num(lim.get("max_window_hours", 24),
                                        f"{field}.max_window_hours")),
        horizon=timedelta(days=_num(lim.get("horizon_days", 30), f"{field}.horizon_days")),
    )


def _zone(value: Any, field: str, parties: set[str], kinds: set[str]) -> Zone:
    z = _obj(value, field, {"id", "name", "footprint", "altitude", "start", "end",
                            "applies_to", "protects", "action"})
    zid = identifier(z.get("id"), f"{field}.id")
    vol = {"footprint": z.get("footprint"), "altitude": z.get("altitude"),
           "start": z.get("start", ZONE_FOREVER[0]), "end": z.get("end", ZONE_FOREVER[1])}
    volume = parse_volume(vol, field=field, limits=VolumeLimits(max_window=timedelta(days=50_000)))
    app = _obj(z.get("applies_to", {}), f"{field}.applies_to", {"parties", "kinds", "hazard"})
    rule = ZoneRule(
        parties=_names(app.get("parties"), f"{field}.applies_to.parties", parties),
        kinds=_names(app.get("kinds"), f"{field}.applies_to.kinds", kinds),
        hazard_only=_bool(app.get("hazard", False), f"{field}.applies_to.hazard"),
    )
    protects = _names(z.get("protects", []), f"{field}.protects", parties) or frozenset()
    name = check_text(z.get("name", zid), f"{field}.name", 200)
    return Zone(id=zid, name=name, volumes=(volume,), rule=rule, protects=protects,
                action=_action(z.get("action", "finding"), f"{field}.action"))


def _names(value: Any, field: str, known: set[str]) -> frozenset[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput("expected a list of names", field=field,
                           accepted=", ".join(sorted(known)))
    for v in value:
        if v not in known:
            raise InvalidInput(f"{v!r} is not defined in the agreement", field=field,
                               accepted=", ".join(sorted(known)))
    return frozenset(value)
