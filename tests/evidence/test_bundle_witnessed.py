"""A mirror keeps the cosigned checkpoints of its own tree, and evidence made from it is proved
to a witnessed checkpoint: the report gives each witness's time, and a cosignature changed or
a witness's line dropped below the quorum fails the bundle."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from accord.errors import ProofError
from accord.evidence.bundle import make_bundle, verify_bundle
from accord.keys import PARTY_KEY, KeyFile
from accord.log.note import CosignatureSigner, cosign
from accord.mirror.replica import Alarm
from mirror_support import fork, replica_of
from support import T0, World, make_world, volume

WITNESSES = {p: CosignatureSigner.generate(f"witness.{p.lower()}.example/w") for p in "AB"}


def witnessed_world(dir: Path) -> World:
    keys = {p: KeyFile.generate(PARTY_KEY, p) for p in "AB"}
    w = make_world(dir, ("A", "B"), keys=keys, witnesses={
        "quorum": 2, "list": [{"key": s.verifier_key} for s in WITNESSES.values()]})
    w.clock.advance(timedelta(seconds=5))
    w.file("A", {"notice": "A-1", "kind": "strike", "volumes": [volume()]})
    w.clock.advance(timedelta(seconds=5))
    w.ref("B", "notice.ack", "A-1", 1)
    return w


def cosigned(note: str, *stamps: int) -> str:
    for signer, t in zip(WITNESSES.values(), stamps, strict=False):
        note = cosign(note, signer, t)
    return note


def test_evidence_is_proved_to_the_witnessed_checkpoint(tmp_path: Path) -> None:
    w = witnessed_world(tmp_path / "dep")
    r = replica_of(tmp_path, w, "B")
    assert r.held is not None
    t = int(T0.timestamp()) + 20
    assert r.evidence_checkpoint() == r.held[0]  # nothing cosigned yet
    assert r.keep_witnessed(cosigned(r.held[0], t, t + 3))
    bundle = make_bundle("A-1", "B", r.verifier.verifier_key, r.evidence_checkpoint(),
                         r.store.leaves(), r.store, "+03:00")
    v = verify_bundle(bundle)
    assert v.witnessed is not None and v.witnessed.no_later_than == t + 3
    html = json.loads(bundle)["report"]
    assert "Witnessed: cosigned by 2" in html and "witness.b.example/w" in html
    assert "no later than 2030-06-01T12:00:23.000000Z (2030-06-01 15:00:23 +03:00)" in html

    # A cosignature changed, or one witness's line gone (below the quorum): refused.
    doc = json.loads(bundle)
    lines = doc["checkpoint"].split("\n")
    last = lines[-2]
    bad = last[:-6] + ("AAAA==" if not last.endswith("AAAA==") else "BBBB==")
    for changed in ("\n".join([*lines[:-2], bad, ""]), "\n".join([*lines[:-2], ""])):
        from accord.log.event import canonical

        with pytest.raises(ProofError):
            verify_bundle(canonical(dict(doc, checkpoint=changed)))


def test_a_cosigned_checkpoint_of_another_tree_is_an_equivocation(tmp_path: Path) -> None:
    w = witnessed_world(tmp_path / "dep")
    other = fork(w, tmp_path / "dep2")
    w.writer.submit(w.sub("A", "message", {"message": "A:one", "text": "one"}))
    other.writer.submit(other.sub("B", "message", {"message": "B:two", "text": "two"}))
    r = replica_of(tmp_path, w, "A")
    cp = other.store.checkpoint()
    assert cp is not None and cp[0] == r.size
    with pytest.raises(Alarm) as got:
        r.keep_witnessed(cosigned(cp[1], 1, 2))
    assert got.value.kind == "equivocation"
    from accord.mirror.fork import Fork

    Fork.from_json(got.value.evidence).check()


def test_an_earlier_witnessed_checkpoint_bounds_the_filing(tmp_path: Path) -> None:
    keys = {p: KeyFile.generate(PARTY_KEY, p) for p in "AB"}
    w = make_world(tmp_path / "dep", ("A", "B"), keys=keys, witnesses={
        "quorum": 2, "list": [{"key": s.verifier_key} for s in WITNESSES.values()]})
    w.clock.advance(timedelta(seconds=5))
    filed = w.file("A", {"notice": "A-1", "kind": "strike", "volumes": [volume()]})
    early = w.store.checkpoint()
    assert early is not None
    t = int(w.clock.now().timestamp()) + 1
    early_note = cosigned(early[1], t, t + 1)  # both witnesses, a second after the filing
    w.clock.advance(timedelta(minutes=3))
    w.ref("B", "notice.ack", "A-1", 1)
    r = replica_of(tmp_path, w, "B")
    assert r.keep_witnessed(early_note) and r.witnessed_notes() == [early_note]
    raw = make_bundle("A-1", "B", r.verifier.verifier_key, r.evidence_checkpoint(),
                      r.store.leaves(), r.store, "+00:00", r.witnessed_notes())
    v = verify_bundle(raw)
    assert v.witnessed is None and len(v.bounds) == 1
    bound = v.bound_of(filed.index)
    assert bound is not None and bound.no_later_than == t + 1
    ack = next(p for p in v.entries if p.entry.event.type == "notice.ack")
    assert v.bound_of(ack.index) is None  # logged after the last witnessed checkpoint
    assert "no later than" in json.loads(raw)["report"]
    _flips(raw)


def _flips(raw: bytes) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=150, deadline=None)
    @given(at=st.integers(0, len(raw) - 1), new=st.integers(0, 255))
    def flip(at: int, new: int) -> None:
        if raw[at] == new:
            return
        with pytest.raises(ProofError):
            verify_bundle(raw[:at] + bytes([new]) + raw[at + 1:])

    flip()
