"""The writer end to end on a real SQLite store: lifecycle, findings, receipts, refusals."""

from __future__ import annotations

import copy
import math
from datetime import timedelta
from typing import Any

import pytest

from accord.errors import (
    AccordError,
    BadSignature,
    Conflict,
    InvalidGeometry,
    InvalidInput,
    InvalidTime,
    LimitExceeded,
    ReplayedSeq,
    RuleBreach,
    StaleVersion,
    UnknownKind,
    UnknownParty,
)
from accord.log.event import Event
from accord.log.note import NoteVerifier
from accord.log.receipt import verify_receipt
from accord.service.writer import Submission, load_picture, rebuild_picture
from accord.verify import verify_store
from support import T0, World, iso, volume


def vkey(w: World) -> str:
    return (w.dir / "log.pub").read_text().strip()


def test_file_amend_ack_cancel_lifecycle(world: World) -> None:
    a = world.file("A", {"kind": "transit", "volumes": [volume(35.0, 35.0)]}, notice="A-1")
    assert a.notice is not None and a.notice.version == 1 and a.findings == []
    n = world.writer.picture.notices["A-1"]
    assert world.writer.picture.state(n, T0) == "filed"
    amended = world.amend("A", "A-1", 1, {"kind": "transit", "volumes": [volume(35.1, 35.0)]})
    assert amended.notice is not None and amended.notice.version == 2
    ack = world.ref("B", "notice.ack", "A-1", 2)
    assert world.writer.picture.notices["A-1"].acks == frozenset({"B"})
    world.ref("A", "notice.cancel", "A-1", 2)
    n = world.writer.picture.notices["A-1"]
    assert n.cancelled_at is not None
    assert world.writer.picture.state(n, world.clock.now()) == "cancelled"
    assert world.store.near(_box_of(amended)) == set()  # cancelled notices leave the index
    assert ack.receipt is not None


def _box_of(outcome: Any) -> Any:
    from accord.geo.box import volume_box

    return volume_box(outcome.notice.volumes[0])


def test_strike_needs_every_other_party_to_acknowledge(world: World) -> None:
    world.file("A", {"kind": "strike", "volumes": [volume(35.0, 35.0)]}, notice="S")
    p = world.writer.picture
    assert p.state(p.notices["S"], T0) == "filed"
    world.ref("B", "notice.ack", "S", 1)
    assert p.state(p.notices["S"], T0) == "acknowledged"
    assert p.state(p.notices["S"], T0 + timedelta(hours=2, minutes=1)) == "active"
    assert p.state(p.notices["S"], T0 + timedelta(hours=4)) == "ended"


def test_conflict_finding_names_both_parties_with_figures(world: World) -> None:
    world.file("B", {"kind": "transit", "volumes": [volume(35.0, 35.0, half=0.02)]}, notice="B-1")
    # 0.1 deg of longitude at 35N is about 9.1 km; half-widths 0.02 and 0.02 leave ~5.5 km.
    r = world.file("A", {"kind": "transit", "volumes": [volume(35.08, 35.0, half=0.02,
                                                                lower=3200, upper=4000)]})
    # vertical gap 200 m < 300 m, horizontal ~3.6 km < 5 km: a conflict.
    [(f, receipt)] = r.findings
    assert f.kind == "conflict" and f.parties == ("A", "B")
    assert f.details["other"] == "B-1" and f.details["vertical_m"] == pytest.approx(200)
    assert 3000 < f.details["horizontal_m"] < 4000
    assert receipt is not None and receipt.index == f.entry
    verify_receipt(receipt, NoteVerifier.parse(vkey(world)))


def test_separated_notices_raise_nothing(world: World) -> None:
    world.file("B", {"kind": "transit", "volumes": [volume(35.0, 35.0, half=0.02)]})
    far = world.file("A", {"kind": "transit", "volumes": [volume(35.2, 35.0, half=0.02)]})
    above = world.file("A", {"kind": "transit", "volumes": [volume(35.0, 35.0, lower=3300,
                                                                    upper=5000)]})
    later = world.file("A", {"kind": "transit", "volumes": [
        volume(35.0, 35.0, start=T0 + timedelta(hours=3))]})  # [start, end) touch, no overlap
    assert far.findings == above.findings == later.findings == []


def test_same_party_notices_do_not_conflict(world: World) -> None:
    world.file("A", {"kind": "transit", "volumes": [volume()]})
    assert world.file("A", {"kind": "transit", "volumes": [volume()]}).findings == []


def test_late_notice_measured_from_receive_time(world: World) -> None:
    start = T0 + timedelta(minutes=1)
    r = world.file("A", {"kind": "strike", "volumes": [volume(start=start)]})
    [(f, _)] = r.findings
    assert f.kind == "late_notice" and f.details["lead_s"] == pytest.approx(60, abs=0.01)
    assert f.details["required_s"] == 900


def test_late_notice_with_reject_action_is_refused_and_not_logged(world: World) -> None:
    size = world.store.size()
    with pytest.raises(RuleBreach) as exc:
        world.file("A", {"kind": "drill", "volumes": [volume(start=T0 + timedelta(minutes=5))]})
    assert exc.value.problem()["findings"][0]["kind"] == "late_notice"
    assert world.store.size() == size


def test_amendment_keeps_unchanged_volumes_out_of_late_check(world: World) -> None:
    first = volume(start=T0 + timedelta(minutes=30))
    world.file("A", {"kind": "strike", "volumes": [first]}, notice="S")
    world.clock.set(T0 + timedelta(minutes=25))
    r = world.amend("A", "S", 1, {"kind": "strike", "volumes": [
        first, volume(36.5, 35.0, start=T0 + timedelta(minutes=40))]})
    kinds = [f.kind for f, _ in r.findings]
    assert kinds == ["late_notice"]  # only the new volume is late
    assert r.findings[0][0].details["start"] == iso(T0 + timedelta(minutes=40))


def test_zone_violation_finding_and_rejecting_zone(world: World) -> None:
    r = world.file("A", {"kind": "strike", "volumes": [volume(36.0, 36.0, half=0.01)]})
    zone = [f for f, _ in r.findings if f.kind == "zone_violation"]
    assert zone and zone[0].details["zone"] == "base" and zone[0].parties == ("A", "B")
    # B is the protected party: its own hazard activity at its base raises nothing.
    own = world.file("B", {"kind": "strike", "volumes": [volume(36.0, 36.0, half=0.01)]})
    assert not [f for f, _ in own.findings if f.kind == "zone_violation"]
    with pytest.raises(RuleBreach):
        world.file("A", {"kind": "transit", "volumes": [volume(37.0, 37.0, half=0.01)]})


def test_findings_close_when_a_notice_is_amended_away(world: World) -> None:
    world.file("B", {"kind": "transit", "volumes": [volume()]}, notice="B-1")
    world.file("A", {"kind": "transit", "volumes": [volume()]}, notice="A-1")
    p = world.writer.picture
    assert [f.kind for f in p.open_findings(T0)] == ["conflict"]
    world.amend("A", "A-1", 1, {"kind": "transit", "volumes": [volume(38.0, 35.0)]})
    assert p.open_findings(T0) == []


def test_private_part_is_committed_not_logged(world: World) -> None:
    r = world.file("A", {"kind": "transit", "volumes": [volume()],
                         "private": {"callsign": "SECRET-1"}}, notice="P")
    entry = world.store.entry(r.index)
    assert b"SECRET-1" not in entry and b"private_digest" in entry
    assert world.store.private("P", 1) is not None
    assert verify_store(world.store, vkey(world)).ok


def test_receipts_verify_and_live_picture_equals_rebuilt(world: World) -> None:
    for i in range(5):
        world.file("A" if i % 2 else "B", {"kind": "transit",
                                           "volumes": [volume(35 + i * 0.03, 35.0)]})
    live = world.writer.picture.snapshot()
    key = NoteVerifier.parse(vkey(world)).public_key.public_bytes_raw()
    assert rebuild_picture(world.store, key, verify=True).snapshot() == live
    assert load_picture(world.store, key).snapshot() == live
    report = verify_store(world.store, vkey(world))
    assert report.ok, report.problems


def test_batch_commits_once_and_refusals_stay_out(world: World) -> None:
    good1 = world.sub("A", "notice.file", {"notice": "G1", "kind": "transit",
                                          "volumes": [volume()]})
    bad = world.sub("A", "notice.file", {"notice": "X", "kind": "nope", "volumes": [volume()]},
                    seq=world.writer.picture.next_seq("A") + 1)
    good2 = world.sub("B", "notice.file", {"notice": "G2", "kind": "transit",
                                          "volumes": [volume(39.0, 35.0)]})
    before = len(list(world.store.checkpoints()))
    results = world.writer.submit_batch([good1, bad, good2])
    assert isinstance(results[1], UnknownKind)
    assert [type(r).__name__ for r in results] == ["Outcome", "UnknownKind", "Outcome"]
    assert len(list(world.store.checkpoints())) == before + 1
    ok = [r for r in results if not isinstance(r, AccordError)]
    assert ok[0].receipt.checkpoint == ok[1].receipt.checkpoint  # type: ignore[union-attr]


# -- every bad input: a clear error naming the field, and nothing changes ----------------------


def _vol(**kw: Any) -> dict[str, Any]:
    v = volume()
    for path, value in kw.items():
        target = v
        *head, last = path.split("__")
        for k in head:
            target = target[k]
        target[last] = value
    return v


def _ring(*pts: tuple[float, float]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[list(p) for p in pts]]}


BAD_VOLUMES: dict[str, tuple[dict[str, Any], type[AccordError]]] = {
    "self-intersecting polygon": (_vol(footprint=_ring((35, 35), (35.1, 35.1), (35.1, 35),
                                                       (35, 35.1), (35, 35))), InvalidGeometry),
    "fewer than 3 distinct vertices": (_vol(footprint=_ring((35, 35), (35.1, 35), (35, 35),
                                                            (35.1, 35))), InvalidGeometry),
    "NaN coordinate": (_vol(footprint=_ring((35, 35), (math.nan, 35), (35.1, 35.1),
                                            (35, 35))), InvalidInput),
    "latitude above 90": (_vol(footprint=_ring((35, 89), (35.1, 91), (35.2, 89), (35, 89))),
                          InvalidGeometry),
    "across the antimeridian": (_vol(footprint=_ring((179.9, 10), (-179.9, 10), (-179.9, 10.1),
                                                     (179.9, 10.1), (179.9, 10))),
                                InvalidGeometry),
    "reversed time window": (_vol(start=iso(T0 + timedelta(hours=3)),
                                  end=iso(T0 + timedelta(hours=2))), InvalidTime),
    "over-long time window": (_vol(end=iso(T0 + timedelta(hours=20))), AccordError),
    "time without Z": (_vol(start="2030-06-01T14:00:00+02:00"), InvalidTime),
    "lower above upper": (_vol(altitude__lower=5000), InvalidInput),
    "unknown altitude unit": (_vol(altitude__units="furlong"), InvalidInput),
}


def _assert_unchanged(world: World, fn: Any, expected: type[AccordError]) -> AccordError:
    size = world.store.size()
    snap = copy.deepcopy(world.writer.picture.snapshot())
    stored = list(world.store.notices_json())
    with pytest.raises(expected) as exc:
        fn()
    err = exc.value
    assert err.field, f"{type(err).__name__} names no field: {err.detail}"
    problem = err.problem()
    assert problem["type"].startswith("https://") and problem["status"] >= 400
    assert problem["detail"] and problem["title"]
    assert world.store.size() == size
    assert world.writer.picture.snapshot() == snap
    assert list(world.store.notices_json()) == stored
    return err


@pytest.mark.parametrize("name", sorted(BAD_VOLUMES))
def test_bad_volume_refused_and_nothing_changes(world: World, name: str) -> None:
    world.file("B", {"kind": "transit", "volumes": [volume()]}, notice="B-1")
    vol, expected = BAD_VOLUMES[name]
    err = _assert_unchanged(world, lambda: world.file("A", {"kind": "transit",
                                                            "volumes": [vol]}), expected)
    assert err.field.startswith("event.body.volumes[0]")  # type: ignore[union-attr]
    assert err.accepted


def test_too_many_volumes_refused(world: World) -> None:
    _assert_unchanged(world, lambda: world.file("A", {"kind": "transit",
                                                      "volumes": [volume()] * 5}), LimitExceeded)


def test_unknown_kind_refused(world: World) -> None:
    _assert_unchanged(world, lambda: world.file("A", {"kind": "bombing",
                                                      "volumes": [volume()]}), UnknownKind)


def test_unknown_party_refused(world: World) -> None:
    from accord.keys import PARTY_KEY, KeyFile

    world.keys["Z"] = KeyFile.generate(PARTY_KEY, "Z")
    _assert_unchanged(world, lambda: world.file("Z", {"kind": "transit",
                                                      "volumes": [volume()]}), UnknownParty)


def test_bad_signature_refused(world: World) -> None:
    sub = world.sub("A", "notice.file", {"notice": "N", "kind": "transit",
                                        "volumes": [volume()]})
    forged = Submission(event=sub.event, sig=world.keys["B"].sign(Event.from_json(sub.event)))
    _assert_unchanged(world, lambda: world.writer.submit(forged), BadSignature)
    tampered = dict(sub.event, body=dict(sub.event["body"], kind="strike"))
    _assert_unchanged(world, lambda: world.writer.submit(Submission(event=tampered,
                                                                     sig=sub.sig)), BadSignature)


def test_replayed_seq_refused(world: World) -> None:
    sub = world.sub("A", "notice.file", {"notice": "N", "kind": "transit",
                                        "volumes": [volume()]})
    world.writer.submit(sub)
    _assert_unchanged(world, lambda: world.writer.submit(sub), ReplayedSeq)


def test_stale_version_refused(world: World) -> None:
    world.file("A", {"kind": "transit", "volumes": [volume()]}, notice="N")
    world.amend("A", "N", 1, {"kind": "transit", "volumes": [volume(35.2, 35)]})
    _assert_unchanged(world, lambda: world.amend("A", "N", 1, {"kind": "transit",
                                                               "volumes": [volume()]}),
                      StaleVersion)
    _assert_unchanged(world, lambda: world.ref("B", "notice.ack", "N", 1), StaleVersion)


def test_acting_on_another_partys_notice_refused(world: World) -> None:
    world.file("A", {"kind": "transit", "volumes": [volume()]}, notice="N")
    _assert_unchanged(world, lambda: world.ref("B", "notice.cancel", "N", 1), UnknownParty)
    _assert_unchanged(world, lambda: world.ref("A", "notice.ack", "N", 1), InvalidInput)


def test_duplicate_notice_id_refused(world: World) -> None:
    world.file("A", {"kind": "transit", "volumes": [volume()]}, notice="N")
    _assert_unchanged(world, lambda: world.file("B", {"kind": "transit",
                                                      "volumes": [volume()]}, notice="N"),
                      Conflict)


def test_window_already_ended_or_beyond_horizon_refused(world: World) -> None:
    past = volume(start=T0 - timedelta(hours=2))
    _assert_unchanged(world, lambda: world.file("A", {"kind": "transit", "volumes": [past]}),
                      InvalidTime)
    far = volume(start=T0 + timedelta(days=9))
    _assert_unchanged(world, lambda: world.file("A", {"kind": "transit", "volumes": [far]}),
                      InvalidTime)


def test_private_part_must_match_its_digest(world: World) -> None:
    body = {"notice": "N", "kind": "transit", "volumes": [volume()],
            "private_digest": "A" * 43 + "="}
    sub = world.sub("A", "notice.file", body,
                    private={"salt": "AAAAAAAAAAAAAAAAAAAAAA==", "data": {"x": 1}})
    _assert_unchanged(world, lambda: world.writer.submit(sub), InvalidInput)


def test_malformed_event_refused(world: World) -> None:
    good = world.sub("A", "notice.file", {"notice": "N", "kind": "transit",
                                         "volumes": [volume()]})
    for event in ({**good.event, "v": 3}, {**good.event, "v": 1}, {**good.event, "seq": -1},
                  {k: v for k, v in good.event.items() if k != "body"},
                  {**good.event, "issued_at": "yesterday"}, {**good.event, "extra": 1}):
        _assert_unchanged(world, lambda e=event: world.writer.submit(  # type: ignore[misc]
            Submission(event=e, sig=good.sig)), InvalidInput)



def test_one_writer_per_deployment(world: World) -> None:
    from accord.errors import DeploymentError
    from accord.service.deployment import WriterLock

    first = WriterLock(world.dir)
    first.acquire()
    try:
        with pytest.raises(DeploymentError) as exc:
            WriterLock(world.dir).acquire(timeout=0.2)
        assert "another writer" in exc.value.detail
    finally:
        first.release()
    second = WriterLock(world.dir)
    second.acquire(timeout=0.2)
    second.release()
