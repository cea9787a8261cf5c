"""Mirrors gossip checkpoints to the agreement's witnesses. A malicious operator with two
stores under one log key shows A one history and B another: the witnesses cosign the first
(handed to them by A's mirror) and refuse the second (handed by B's mirror), so B's mirror
raises the alarm, and A's mirror, shown the second history, raises it too. The cosignatures a
mirror collects make its evidence witnessed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from accord import commands
from accord.evidence.bundle import make_bundle, verify_bundle
from accord.keys import PARTY_KEY, KeyFile
from accord.mirror.gossip import Gossip
from accord.mirror.replica import Alarm
from accord.service.deployment import Deployment
from accord.service.writer import Writer
from accord.store.sqlite import SqliteStore
from accord.timefmt import ManualClock
from accord.witness.folder import WitnessFolder
from accord.witness.server import create_app
from mirror_support import StoreSource, fork, replica_of
from support import T0, World, agreement_doc, volume


def witnessed(tmp: Path) -> tuple[World, TestClient]:
    """A deployment whose agreement names two witnesses (quorum 2), served in-process at
    http://testserver/w1 and /w2."""
    clock = ManualClock(T0)
    d = Deployment.init(tmp / "dep", "test.example/log", clock)
    folders = {i: WitnessFolder.init(tmp / f"w{i}", f"witness{i}.example/w", [d.verifier_key])
               for i in (1, 2)}
    app = Starlette(routes=[Mount(f"/w{i}", create_app(f.state(clock)))
                            for i, f in folders.items()])
    keys = {p: KeyFile.generate(PARTY_KEY, p) for p in "AB"}
    doc = agreement_doc(keys, witnesses={"quorum": 2, "list": [
        {"key": f.verifier_key, "url": f"http://testserver/w{i}"} for i, f in folders.items()]})
    w = World(d.dir, Writer(SqliteStore(d.db_path), d.signer(), clock), clock, keys)
    w.writer.submit(commands.signed_by_all(doc, keys.values(), clock.now(), d.origin))
    w.clock.advance(timedelta(seconds=5))
    w.file("A", {"notice": "A-1", "kind": "strike", "volumes": [volume()]})
    return w, TestClient(app)


def test_gossip_gets_cosignatures_and_a_second_history_is_refused(tmp_path: Path) -> None:
    w, client = witnessed(tmp_path)
    other = fork(w, tmp_path / "dep2")
    w.clock.advance(timedelta(seconds=5))
    w.ref("B", "notice.ack", "A-1", 1)
    other.clock.advance(timedelta(seconds=5))
    other.writer.submit(other.sub("B", "message", {"message": "B:other", "text": "another"}))

    ra = replica_of(tmp_path, w, "A")
    assert sorted(Gossip(ra, client).round()) == ["witness1.example/w", "witness2.example/w"]
    assert len(ra.witnessed_notes()) == 1
    bundle = verify_bundle(make_bundle("A-1", "A", ra.verifier.verifier_key,
                                       ra.evidence_checkpoint(), ra.store.leaves(), ra.store))
    assert bundle.witnessed is not None and len(bundle.witnessed.cosignatures) == 2

    # B's mirror is shown the other history: it verifies on its own, but the witnesses,
    # having cosigned A's, refuse it.
    rb = replica_of(tmp_path, other, "B")
    assert rb.size == ra.size
    with pytest.raises(Alarm) as got:
        Gossip(rb, client).round()
    assert got.value.kind == "equivocation" and "refused" in got.value.message
    # A's mirror, shown the second history, proves the fork itself.
    with pytest.raises(Alarm) as got_a:
        ra.sync(StoreSource(other, "A"))
    assert got_a.value.kind == "equivocation"


def test_a_later_checkpoint_is_submitted_from_the_witness_size(tmp_path: Path) -> None:
    w, client = witnessed(tmp_path)
    r = replica_of(tmp_path, w, "B")
    g = Gossip(r, client)
    assert len(g.round()) == 2
    assert g.round() == []  # nothing new: nothing sent
    w.clock.advance(timedelta(seconds=5))
    w.ref("B", "notice.ack", "A-1", 1)
    r.sync(StoreSource(w, "B"))
    fresh = Gossip(r, client)  # knows no sizes: the witnesses' 409s tell them
    assert len(fresh.round()) == 2
    assert [n.count("\n— witness") for n in r.witnessed_notes()] == [2, 2]
