"""Property: any sequence of commands, good and bad, leaves a log whose fold is the live picture.

A hypothesis state machine drives a real writer with filings, amendments, cancellations,
acknowledgements and refused commands, in any order. After every step: a refusal changed
nothing; an acceptance appended entries with receipts that verify. At the end: the picture
rebuilt from the log (signatures and all) equals the writer's, less the history it retired,
`verify_store` passes, and every receipt ever handed out is still proved by the latest
checkpoint.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from accord.errors import AccordError
from accord.log.merkle import consistency_proof, verify_consistency
from accord.log.note import Checkpoint, NoteVerifier, open_note
from accord.log.receipt import Receipt, verify_receipt
from accord.service.writer import rebuild_picture
from accord.verify import verify_store
from support import T0, assert_held, live_snapshot, make_world, volume

PARTIES = ("A", "B")
lons = st.floats(34.8, 35.2)
kinds = st.sampled_from(["transit", "strike", "drill", "nope"])


class LogMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp())
        self.world = make_world(self.tmp / "dep")
        self.vkey = (self.world.dir / "log.pub").read_text().strip()
        self.verifier = NoteVerifier.parse(self.vkey)
        self.receipts: list[Receipt] = []
        self.n = 0

    def teardown(self) -> None:
        try:
            p = self.world.writer.picture
            rebuilt = rebuild_picture(self.world.store, self.verifier.public_key.public_bytes_raw(),
                                      verify=True)
            assert_held(p, rebuilt)
            report = verify_store(self.world.store, self.vkey)
            assert report.ok, report.problems
            size, note = self.world.store.checkpoint()  # type: ignore[misc]
            latest = Checkpoint.parse(open_note(note, [self.verifier])[0])
            for r in self.receipts:
                cp = verify_receipt(r, self.verifier)
                if cp.size < size:
                    verify_consistency(cp.size, size,
                                       consistency_proof(self.world.store, cp.size, size),
                                       cp.root, latest.root)
        finally:
            self.world.writer.store.close()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _do(self, fn) -> None:  # type: ignore[no-untyped-def]
        size = self.world.store.size()
        try:
            out = fn()
        except AccordError:
            assert self.world.store.size() == size
            # nothing but retiring history (done at the start of every batch) changed
            assert_held(self.world.writer.picture, rebuild_picture(
                self.world.store, self.verifier.public_key.public_bytes_raw()))
            return
        assert out.receipt is not None
        self.receipts.append(out.receipt)
        self.receipts.extend(rc for _, rc in out.findings if rc is not None)
        assert self.world.store.size() == size + 1 + len(out.findings)

    def _notices(self) -> list[str]:
        """Every notice ever filed, retired ones too (acknowledged, amended, cancelled and
        named again after they ended: the rules must still judge them)."""
        return sorted(n["id"] for n in self.world.store.notices_json())

    def _version(self, nid: str) -> tuple[str, int]:
        row = self.world.store.notice_json(nid)
        assert row is not None
        return row["kind"], row["version"]

    @rule(party=st.sampled_from(PARTIES), kind=kinds, lon=lons,
          minutes=st.integers(1, 300), lower=st.integers(0, 6000))
    def file(self, party: str, kind: str, lon: float, minutes: int, lower: int) -> None:
        self.n += 1
        doc = {"kind": kind, "volumes": [volume(lon, 35.0, lower=lower, upper=lower + 1000,
                                                start=T0 + timedelta(minutes=minutes))]}
        self._do(lambda: self.world.file(party, doc, notice=f"N{self.n}"))

    @precondition(lambda self: self._notices())
    @rule(data=st.data(), party=st.sampled_from(PARTIES), lon=lons, stale=st.booleans())
    def amend(self, data: st.DataObject, party: str, lon: float, stale: bool) -> None:
        nid = data.draw(st.sampled_from(self._notices()))
        kind, version = self._version(nid)
        start = self.world.clock.now() + timedelta(minutes=5)
        doc = {"kind": kind, "volumes": [volume(lon, 35.0, start=start)]}
        self._do(lambda: self.world.amend(party, nid, version - stale, doc))

    @precondition(lambda self: self._notices())
    @rule(data=st.data(), party=st.sampled_from(PARTIES))
    def file_a_taken_id(self, data: st.DataObject, party: str) -> None:
        """An id stays taken after its notice ended and left the live picture."""
        nid = data.draw(st.sampled_from(self._notices()))
        doc = {"kind": "transit", "volumes": [volume(
            35.0, 35.0, start=self.world.clock.now() + timedelta(minutes=5))]}
        size = self.world.store.size()
        try:
            self.world.file(party, doc, notice=nid)
        except AccordError as exc:
            assert "already taken" in str(exc)
        else:
            raise AssertionError(f"{nid} was filed twice")
        assert self.world.store.size() == size

    @precondition(lambda self: self._notices())
    @rule(data=st.data(), party=st.sampled_from(PARTIES),
          what=st.sampled_from(["notice.cancel", "notice.ack"]))
    def ref(self, data: st.DataObject, party: str, what: str) -> None:
        nid = data.draw(st.sampled_from(self._notices()))
        _, version = self._version(nid)
        self._do(lambda: self.world.ref(party, what, nid, version))

    @rule(party=st.sampled_from(PARTIES), minutes=st.integers(1, 10))
    def message(self, party: str, minutes: int) -> None:
        self.n += 1
        body = {"message": f"{party}:M{self.n}", "text": "hotline", "ack_minutes": minutes}
        self._do(lambda: self.world.writer.submit(self.world.sub(party, "message", body)))

    @precondition(lambda self: self.world.writer.picture.messages)
    @rule(data=st.data(), party=st.sampled_from(PARTIES))
    def message_ack(self, data: st.DataObject, party: str) -> None:
        mid = data.draw(st.sampled_from(sorted(self.world.writer.picture.messages)))
        self._do(lambda: self.world.writer.submit(
            self.world.sub(party, "message.ack", {"message": mid})))

    @rule(minutes=st.integers(0, 30))
    def time_passes(self, minutes: int) -> None:
        self.world.clock.advance(timedelta(minutes=minutes))
        before = self.world.store.size()
        overdue = len(self.world.writer.picture.overdue(self.world.clock.now()))
        self.world.writer.escalate()
        assert self.world.store.size() == before + 2 * overdue
        assert self.world.writer.picture.overdue(self.world.clock.now()) == []

    @rule()
    def readers_follow_the_clock(self) -> None:
        """Between batches the writer drops the notices that have ended from the model."""
        w = self.world.writer
        before = w.published
        w.prune()
        now = self.world.clock.now()
        assert all(n.live(now) for n in w.published.notices.values())
        assert w.published.checkpoint == before.checkpoint  # nothing was written

    @invariant()
    def checkpoint_covers_the_log(self) -> None:
        cp = self.world.store.checkpoint()
        assert cp is not None and cp[0] == self.world.store.size()

    @invariant()
    def published_model_is_the_fold_of_the_log(self) -> None:
        """What readers see after every step: the fold of exactly the committed log, with
        the checkpoint that covers it."""
        model = self.world.writer.published
        rebuilt = rebuild_picture(self.world.store, self.verifier.public_key.public_bytes_raw())
        assert model.snapshot() == live_snapshot(rebuilt, model.live_at, model.findings)
        assert model.checkpoint == self.world.store.checkpoint()


LogMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=20, deadline=None,
                                        suppress_health_check=[HealthCheck.too_slow])
TestLog = LogMachine.TestCase
