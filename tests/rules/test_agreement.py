"""The agreement parser: what it accepts, and a clear refusal naming the field otherwise."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

from accord.errors import AccordError, InvalidInput, UnknownKind, UnknownParty
from accord.keys import PARTY_KEY, KeyFile
from accord.rules.agreement import Agreement
from support import agreement_doc

KEYS = {p: KeyFile.generate(PARTY_KEY, p) for p in ("A", "B")}


def doc(**over: Any) -> dict[str, Any]:
    return copy.deepcopy(agreement_doc(KEYS, **over))


def test_parses_the_rules() -> None:
    a = Agreement.from_json(doc())
    assert a.party_ids == ("A", "B") and a.version == 1
    strike = a.kind("strike")
    assert strike.hazard and strike.lead_time == timedelta(minutes=15)
    assert strike.ack_required and strike.ack_deadline == timedelta(minutes=5)
    assert a.kind("drill").late_action == "reject"
    assert a.separation.horizontal_m == 5000 and a.separation.vertical_m == 300
    base, no_a = a.zones
    assert base.rule.hazard_only and base.protects == frozenset({"B"})
    assert base.rule.applies("A", strike) and not base.rule.applies("A", a.kind("transit"))
    assert no_a.rule.parties == frozenset({"A"}) and no_a.action == "reject"
    assert a.limits.max_volumes == 4 and a.limits.max_window == timedelta(hours=6)


def test_lookups_name_what_is_accepted() -> None:
    a = Agreement.from_json(doc())
    with pytest.raises(UnknownParty) as p:
        a.party("Z", "event.party")
    assert p.value.field == "event.party" and p.value.accepted == "A, B"
    with pytest.raises(UnknownKind) as k:
        a.kind("bombing")
    assert "strike" in (k.value.accepted or "")


def _set(d: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    target: Any = d
    *head, last = path.split(".")
    for k in head:
        target = target[int(k)] if isinstance(target, list) else target[k]
    if value is _DEL:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return d


_DEL = object()

BAD: dict[str, tuple[str, Any, str]] = {
    "one party": ("parties", [{"id": "A", "key": KEYS["A"].public_b64}], "agreement.parties"),
    "duplicate party": ("parties.1.id", "A", "agreement.parties"),
    "same key twice": ("parties.1.key", KEYS["A"].public_b64, "agreement.parties"),
    "bad key": ("parties.0.key", "not base64!", "agreement.parties[0].key"),
    "short key": ("parties.0.key", "AAAA", "agreement.parties[0].key"),
    "reserved id": ("parties.0.id", "operator", "agreement.parties[0].id"),
    "negative separation": ("separation.horizontal_m", -1, "agreement.separation.horizontal_m"),
    "missing separation": ("separation", _DEL, "agreement.separation"),
    "no kinds": ("kinds", {}, "agreement.kinds"),
    "ack without deadline": ("kinds.strike.ack_deadline_minutes", _DEL,
                             "agreement.kinds.strike.ack_deadline_minutes"),
    "unknown action": ("kinds.strike.late", "shoot", "agreement.kinds.strike.late"),
    "unknown kind key": ("kinds.strike.colour", "red", "agreement.kinds.strike"),
    "zone for unknown party": ("zones.0.protects", ["Z"], "agreement.zones[0].protects"),
    "zone for unknown kind": ("zones.0.applies_to", {"kinds": ["nope"]},
                              "agreement.zones[0].applies_to.kinds"),
    "zone with bad footprint": ("zones.0.footprint", {"type": "Point"},
                                "agreement.zones[0].footprint.type"),
    "unknown top-level key": ("colour", "red", "agreement"),
    "version 2 without replaces": ("version", 2, "agreement.replaces"),
    "bad limits": ("limits.max_volumes", 0, "agreement.limits.max_volumes"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_refusals_name_the_field(name: str) -> None:
    path, value, field = BAD[name]
    with pytest.raises(AccordError) as exc:
        Agreement.from_json(_set(doc(), path, value))
    assert isinstance(exc.value, InvalidInput | UnknownParty)
    assert exc.value.field == field, exc.value.field
    assert exc.value.detail


def test_tactical_rules_default_to_the_separation_and_can_be_set() -> None:
    a = Agreement.from_json(doc())
    t = a.tactical_rules()
    assert (t.horizontal_m, t.vertical_m, t.lookahead_s, t.corrective_s, t.warning_s) == (
        5000, 300, 300, 120, 60)
    b = Agreement.from_json(doc(tactical={"horizontal_m": 1852, "lookahead_s": 120}))
    t = b.tactical_rules()
    assert (t.horizontal_m, t.vertical_m, t.lookahead_s, t.corrective_s, t.warning_s) == (
        1852, 300, 120, 120, 60)
    with pytest.raises(InvalidInput) as exc:
        Agreement.from_json(doc(tactical={"lookahead_s": 60, "warning_s": 90}))
    assert exc.value.field == "agreement.tactical"
