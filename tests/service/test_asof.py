"""The picture as of T from the nearest snapshot plus the tail equals the fold from entry 0.

A hypothesis state machine drives a real writer (a snapshot every 3 entries) with filings,
amendments, cancellations, acknowledgements, messages, time passing (notices ending and
acknowledgements falling overdue) and refused commands; at any step it asks for the picture
as of a random time, whole or within an area, and compares what every party and the operator
would be shown with the same view of the fold from entry 0. At the end every stored snapshot
must be the one made from scratch from the fold of its prefix, and `accord verify` passes.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from accord import commands
from accord.errors import AccordError
from accord.log.note import NoteVerifier
from accord.picture.snapshot import Snapshot, decode_text, encode_text, snapshot_of
from accord.picture.view import Area, picture_for, picture_geojson
from accord.service.asof import boundary, fold_from_zero, picture_at
from accord.service.writer import rebuild_picture
from accord.verify import verify_store
from support import T0, World, make_world, volume

PARTIES = ("A", "B")
lons = st.floats(34.8, 35.2)
kinds = st.sampled_from(["transit", "strike", "drill"])
AREA = Area(34.9, 34.9, 35.05, 35.1)


def views(p: Any, at: Any, area: Area | None) -> list[Any]:
    return [json.dumps(picture_for(p, party, at, area), sort_keys=True)
            for party in (None, *PARTIES)] + [json.dumps(picture_geojson(p, "A", at, area),
                                                         sort_keys=True)]


class HistoryMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp())
        self.world = make_world(self.tmp / "dep")
        self.world.writer.snapshot_every = 3
        self.vkey = (self.world.dir / "log.pub").read_text().strip()
        self.key = NoteVerifier.parse(self.vkey).public_key.public_bytes_raw()
        self.n = 0

    def teardown(self) -> None:
        try:
            store = self.world.store
            for size in store.snapshot_sizes():
                data = store.snapshot_at_or_before(size)[1]  # type: ignore[index]
                prefix = fold_from_zero(store, self.key, store.meta("origin") or "", size)
                assert decode_text(data) == decode_text(snapshot_of(prefix)), size
            report = verify_store(store, self.vkey)
            assert report.ok, report.problems
        finally:
            self.world.writer.store.close()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _try(self, fn: Any) -> None:
        with contextlib.suppress(AccordError):
            fn()

    def _notices(self) -> list[str]:
        return sorted(self.world.writer.picture.notices)

    @rule(party=st.sampled_from(PARTIES), kind=kinds, lon=lons, minutes=st.integers(1, 300))
    def file(self, party: str, kind: str, lon: float, minutes: int) -> None:
        self.n += 1
        start = max(T0, self.world.clock.now()) + timedelta(minutes=minutes)
        doc = {"kind": kind, "volumes": [volume(lon, 35.0, start=start, minutes=60)]}
        self._try(lambda: self.world.file(party, doc, notice=f"N{self.n}"))

    @precondition(lambda self: self._notices())
    @rule(data=st.data(), lon=lons, minutes=st.integers(1, 120))
    def amend(self, data: st.DataObject, lon: float, minutes: int) -> None:
        nid = data.draw(st.sampled_from(self._notices()))
        n = self.world.writer.picture.notices[nid]
        start = self.world.clock.now() + timedelta(minutes=minutes)
        doc = {"kind": n.kind, "volumes": [volume(lon, 35.0, start=start, minutes=30)]}
        self._try(lambda: self.world.amend(n.party, nid, n.version, doc))

    @precondition(lambda self: self._notices())
    @rule(data=st.data(), party=st.sampled_from(PARTIES),
          what=st.sampled_from(["notice.cancel", "notice.ack"]))
    def ref(self, data: st.DataObject, party: str, what: str) -> None:
        nid = data.draw(st.sampled_from(self._notices()))
        version = self.world.writer.picture.notices[nid].version
        self._try(lambda: self.world.ref(party, what, nid, version))

    @rule(party=st.sampled_from(PARTIES), minutes=st.integers(1, 10))
    def message(self, party: str, minutes: int) -> None:
        self.n += 1
        body = {"message": f"M{self.n}", "text": "hotline", "ack_minutes": minutes}
        self._try(lambda: self.world.writer.submit(self.world.sub(party, "message", body)))

    @precondition(lambda self: self.world.writer.picture.messages)
    @rule(data=st.data(), party=st.sampled_from(PARTIES))
    def message_ack(self, data: st.DataObject, party: str) -> None:
        mid = data.draw(st.sampled_from(sorted(self.world.writer.picture.messages)))
        self._try(lambda: self.world.writer.submit(
            self.world.sub(party, "message.ack", {"message": mid})))

    @rule(minutes=st.integers(0, 90))
    def time_passes(self, minutes: int) -> None:
        self.world.clock.advance(timedelta(minutes=minutes))
        self.world.writer.escalate()

    @rule(back=st.integers(-60, 12 * 3600), within=st.booleans())
    def picture_as_of(self, back: int, within: bool) -> None:
        store = self.world.store
        at = self.world.clock.now() - timedelta(seconds=back)
        area = AREA if within else None
        got = picture_at(store, self.key, at, area=area)
        want = rebuild_picture(store, self.key, before=at)
        assert got.size == want.size == boundary(store, at)
        assert views(got, at, area) == views(want, at, area)


HistoryMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=40,
                                            deadline=None,
                                            suppress_health_check=[HealthCheck.too_slow])
TestHistory = HistoryMachine.TestCase


@pytest.fixture
def busy(tmp_path: Path) -> World:
    """A world with a snapshot every 4 entries and a few notices, one of them ended."""
    w = make_world(tmp_path / "dep")
    w.writer.snapshot_every = 4
    for i in range(8):
        w.file("A", {"kind": "transit", "volumes": [volume(35.0, 35.0, minutes=60)]},
               notice=f"N{i}")
    return w


def test_an_ended_notice_amended_after_the_snapshot_is_live_again(busy: World) -> None:
    """The snapshot leaves out what has ended; the tail that amends it brings it back, with
    its filing time from the projection."""
    w = busy
    w.clock.advance(timedelta(hours=4))  # every notice has ended
    w.writer.snapshot_every = 1  # a snapshot with the next entry, then none in the tail
    w.file("B", {"kind": "transit", "volumes": [volume(36.0, 36.0, minutes=60,
                                                       start=w.clock.now() + timedelta(hours=1))]},
           notice="X")
    w.writer.snapshot_every = 1000
    w.ref("B", "notice.ack", "N1", 1)
    w.amend("A", "N2", 1, {"kind": "transit",
                           "volumes": [volume(35.0, 35.0, minutes=30,
                                              start=w.clock.now() + timedelta(minutes=30))]})
    w.ref("A", "notice.cancel", "N3", 1)
    at = w.clock.now() + timedelta(seconds=1)
    store = w.store
    key = w.writer.operator_key
    snap = store.snapshot_at_or_before(boundary(store, at))
    assert snap is not None and "N2" not in Snapshot.read(snap[1]).notices
    got = picture_at(store, key, at)
    assert sorted(got.notices) == ["N2", "X"]
    assert got.notices["N2"].filed_at == w.writer.picture.notices["N2"].filed_at
    assert views(got, at, None) == views(rebuild_picture(store, key, before=at), at, None)


def test_a_snapshot_written_in_a_batch_that_fails_is_rolled_back_with_it(
        busy: World, monkeypatch: pytest.MonkeyPatch) -> None:
    w = busy.writer
    store = busy.store
    size = store.size()
    last = store.snapshot_at_or_before(size)
    assert last is not None
    real = w._snapshot

    def then_fail() -> int:
        written = real()
        assert written == w.picture.size > size  # written, inside the transaction
        assert store.snapshot_at_or_before(written) is not None
        raise OSError("disk full")

    monkeypatch.setattr(w, "_snapshot", then_fail)
    doc = {"kind": "transit", "volumes": [volume(35.0, 35.0)]}
    subs = [busy.sub("B", "notice.file", commands.notice_body(doc, "B", notice=f"Y{i}")[0],
                     seq=i + 1) for i in range(4)]
    with pytest.raises(OSError):
        w.submit_batch(subs)
    assert store.size() == size
    assert store.snapshot_at_or_before(size + 1000) == last
    monkeypatch.undo()
    w.submit_batch(subs)  # the same commands, now committed with their snapshot
    assert store.size() > size + 4  # and their findings
    got = store.snapshot_at_or_before(store.size())
    assert got is not None and got[0] == store.size()
    prefix = fold_from_zero(store, w.operator_key, w.origin, got[0])
    assert decode_text(got[1]) == decode_text(snapshot_of(prefix))


def test_a_snapshot_that_does_not_fit_the_log_falls_back_to_the_fold(
        busy: World, caplog: pytest.LogCaptureFixture) -> None:
    store = busy.store
    size, _ = store.snapshot_at_or_before(store.size())  # type: ignore[misc]
    store.add_snapshot(size, b"garbage")
    at = busy.clock.now() + timedelta(seconds=1)
    key = busy.writer.operator_key
    got = picture_at(store, key, at)
    assert "not usable" in caplog.text
    assert views(got, at, None) == views(rebuild_picture(store, key, before=at), at, None)


def test_before_the_first_entry_the_picture_is_empty(busy: World) -> None:
    got = picture_at(busy.store, busy.writer.operator_key, T0 - timedelta(days=1))
    assert got.size == 0 and not got.notices and got.agreement is None


def _problems(w: World) -> list[str]:
    report = verify_store(w.store, (w.dir / "log.pub").read_text().strip())
    return [str(p) for p in report.problems]


def test_verify_compares_every_snapshot_with_the_fold_of_its_prefix(busy: World) -> None:
    report = verify_store(busy.store, (busy.dir / "log.pub").read_text().strip())
    assert report.ok, report.problems
    assert report.snapshots == len(busy.store.snapshot_sizes()) >= 2


def test_verify_names_a_tampered_snapshot(busy: World) -> None:
    store = busy.store
    first, second = store.snapshot_sizes()[:2]
    data = store.snapshot_at_or_before(second)[1]  # type: ignore[index]
    # A well-formed snapshot that hides a live notice (the first notice line removed).
    lines = decode_text(data).split("\n")
    hidden = next(i for i, line in enumerate(lines) if line.startswith("N "))
    store.add_snapshot(second, encode_text("\n".join(lines[:hidden] + lines[hidden + 1:])))
    assert _problems(busy) == [f"snapshot at size {second}: differs from the fold of the "
                               f"log's first {second} entries"]
    store.add_snapshot(second, data)
    store.add_snapshot(first, b"\x00not a snapshot")
    assert _problems(busy)[0].startswith(f"snapshot at size {first}: not readable")
    store.add_snapshot(first, store.snapshot_at_or_before(second)[1])  # type: ignore[index]
    assert _problems(busy) == [f"snapshot at size {first}: differs from the fold of the "
                               f"log's first {first} entries"]


def test_verify_names_a_snapshot_beyond_the_log(busy: World) -> None:
    store = busy.store
    data = store.snapshot_at_or_before(store.size())[1]  # type: ignore[index]
    store.add_snapshot(store.size() + 5, data)
    assert _problems(busy) == [f"snapshot at size {store.size() + 5}: covers entries the log "
                               f"does not have"]


def test_service_config_refuses_an_unusable_snapshot_interval() -> None:
    from accord.errors import DeploymentError
    from accord.service.runtime import ServiceConfig

    assert ServiceConfig(snapshot_every=16).snapshot_every == 16
    for bad in (0, 15, -1, 10_000_001, 2.5, True, "100"):
        with pytest.raises(DeploymentError, match="snapshot_every"):
            ServiceConfig(snapshot_every=bad)  # type: ignore[arg-type]
