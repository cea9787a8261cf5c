"""A party's replica: catches up, verifies, and raises the alarm on a tampered entry, a fork
(two stores under one log key), a rollback, a bad checkpoint and a stall."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from accord.log.merkle import root
from accord.log.note import NoteSigner, NoteVerifier, sign_note
from accord.mirror.fork import Fork
from accord.mirror.replica import Alarm, Replica, Round, Watch
from accord.picture.view import picture_for
from accord.service.writer import load_picture
from accord.timefmt import ManualClock
from mirror_support import StoreSource, fork, replica
from support import T0, World, make_world, volume

PARTIES = ("A", "B", "C")


def busy_world(dir: Path) -> World:
    """Three parties; C discloses volumes only; a conflict, acknowledgements, messages (one
    B to C that A may not read) and its acknowledgement."""
    w = make_world(dir, PARTIES, disclosure={"C": "volumes"})
    activity(w, 0)
    return w


def activity(w: World, n: int) -> None:
    w.clock.advance(timedelta(seconds=5))
    w.file("A", {"notice": f"A-{n}", "kind": "strike", "title": "A strike", "volumes": [volume()]})
    w.clock.advance(timedelta(seconds=5))
    w.file("C", {"notice": f"C-{n}", "kind": "transit", "title": "C secret title",
                 "volumes": [volume(35.01, 35.01)]})  # conflicts with A's: findings
    w.clock.advance(timedelta(seconds=5))
    w.ref("B", "notice.ack", f"A-{n}", 1)
    w.writer.submit(w.sub("B", "message", {"message": f"B:m{n}", "text": "for C only",
                                           "to": ["C"]}))
    w.writer.submit(w.sub("C", "message.ack", {"message": f"B:m{n}"}))
    w.writer.submit(w.sub("A", "message", {"message": f"A:a{n}", "text": "to all"}))


def test_a_replica_catches_up_verifies_and_shows_the_partys_picture(tmp_path: Path) -> None:
    w = busy_world(tmp_path / "dep")
    r = replica(tmp_path, w)
    got = r.sync(StoreSource(w, "A"))
    assert got.new == w.store.size() == r.size and got.checkpoint is not None
    assert root(r.store, r.size) == root(w.store, r.size)
    assert r.picture.hidden >= 2  # B's message to C and C's acknowledgement of it
    assert r.picture.unverified >= 1  # C's notice, title withheld

    # Offline while the log goes on: the next round takes in exactly what it missed.
    activity(w, 1)
    activity(w, 2)
    again = r.sync(StoreSource(w, "A"))
    assert again.new > 0 and r.size == w.store.size()
    assert r.sync(StoreSource(w, "A")) == Round(r.size)  # nothing new

    key = NoteVerifier.parse(w.store.meta("log_key") or "").public_key.public_bytes_raw()
    now = w.clock.now()
    served = picture_for(load_picture(w.store, key), "A", now)
    mine = picture_for(r.picture, "A", now)
    assert mine == served
    assert all("title" not in n for n in mine["notices"] if n["party"] == "C")

    # The same state from the store alone, after a restart.
    r2 = Replica(r.store, r.verifier, "A", r.clock)
    assert picture_for(r2.picture, "A", now) == served and r2.held == r.held


def test_a_tampered_entry_is_found(tmp_path: Path) -> None:
    w = busy_world(tmp_path / "dep")

    def body(row: dict[str, Any]) -> dict[str, Any]:
        if '"A strike"' in row.get("entry", ""):  # the operator rewrites an entry it serves
            assert row["index"] == 1
            text = row["entry"].replace('"A strike"', '"A drill!"')
            from accord.log.merkle import leaf_hash

            leaf = base64.b64encode(leaf_hash(text.encode())).decode()
            return dict(row, entry=text, leaf_hash=leaf)
        return row

    r = replica(tmp_path, w)
    with pytest.raises(Alarm) as got:
        r.sync(StoreSource(w, "A", tamper=body))
    assert got.value.kind == "bad-entry" and "entry 1 does not verify" in got.value.message
    assert "signature" in got.value.message
    assert r.size == 0 and r.store.size() == 0  # nothing unverified kept

    def bytes_only(row: dict[str, Any]) -> dict[str, Any]:
        return dict(row, entry=row["entry"].replace("to all", "to al!")) if row.get(
            "entry", "").find("to all") > 0 else row

    with pytest.raises(Alarm) as got:
        r.sync(StoreSource(w, "A", tamper=bytes_only))
    assert got.value.kind == "bad-entry" and "do not hash to the leaf" in got.value.message

    def hidden_leaf(row: dict[str, Any]) -> dict[str, Any]:  # a hidden entry's hash changed
        if row.get("hidden"):
            return dict(row, leaf_hash=base64.b64encode(b"\x07" * 32).decode())
        return row

    with pytest.raises(Alarm) as got:
        r.sync(StoreSource(w, "A", tamper=hidden_leaf))
    assert got.value.kind == "bad-entry" and "do not lead to the checkpoint's root" in \
        got.value.message
    assert r.sync(StoreSource(w, "A")).new == w.store.size()  # the honest log still verifies


@pytest.mark.parametrize("shape", ["longer", "same-size", "shorter"])
def test_two_histories_under_one_log_key_raise_the_equivocation_alarm(
        tmp_path: Path, shape: str) -> None:
    w = busy_world(tmp_path / "dep")
    other = fork(w, tmp_path / "dep2")
    # The operator goes on differently in each store.
    activity(w, 1)
    if shape == "longer":
        activity(other, 7)
        activity(other, 8)
    elif shape == "same-size":
        while other.store.size() < w.store.size():
            other.clock.advance(timedelta(seconds=1))
            other.writer.submit(other.sub("B", "message", {"message": f"B:x{other.store.size()}",
                                                           "text": "other history"}))
        assert other.store.size() == w.store.size()
    else:
        other.writer.submit(other.sub("B", "message", {"message": "B:x", "text": "other"}))
        assert other.store.size() < w.store.size()
    r = replica(tmp_path, w)
    r.sync(StoreSource(w, "A"))
    with pytest.raises(Alarm) as got:
        r.sync(StoreSource(other, "A"))
    assert got.value.kind == "equivocation"
    proof = Fork.from_json(json.loads(json.dumps(got.value.evidence)))
    a, b = proof.check()  # anyone with the log key can check it
    assert a.size <= b.size and (a.size < b.size or a.root != b.root)
    assert r.size == w.store.size()  # the replica kept its own history
    # A mirror of B shown the same two histories raises it too.
    rb = replica(tmp_path, w, "B")
    rb.sync(StoreSource(w, "B"))
    with pytest.raises(Alarm) as got_b:
        rb.sync(StoreSource(other, "B"))
    assert got_b.value.kind == "equivocation"


def test_a_tampered_fork_proof_fails(tmp_path: Path) -> None:
    w = busy_world(tmp_path / "dep")
    other = fork(w, tmp_path / "dep2")
    activity(w, 1)
    activity(other, 5)
    activity(other, 6)
    r = replica(tmp_path, w)
    r.sync(StoreSource(w, "A"))
    with pytest.raises(Alarm) as got:
        r.sync(StoreSource(other, "A"))
    doc = got.value.evidence
    assert doc is not None
    from accord.errors import ProofError

    bad = dict(doc, root1=base64.b64encode(root(r.store, Fork.from_json(doc).check()[0].size)
                                           ).decode())
    with pytest.raises(ProofError, match="root1 is the smaller checkpoint's own root"):
        Fork.from_json(bad).check()
    swapped = dict(doc, checkpoints=[doc["checkpoints"][0], doc["checkpoints"][0]])
    with pytest.raises(ProofError):
        Fork.from_json(swapped).check()


def test_a_rollback_is_caught(tmp_path: Path) -> None:
    w = busy_world(tmp_path / "dep")
    old = fork(w, tmp_path / "old")  # a backup of the store, restored later
    activity(w, 1)
    r = replica(tmp_path, w)
    r.sync(StoreSource(w, "A"))
    with pytest.raises(Alarm) as got:
        r.sync(StoreSource(old, "A"))
    assert got.value.kind == "rollback"
    assert f"from size {w.store.size()} to {old.store.size()}" in got.value.message


def test_a_checkpoint_not_signed_by_the_log_key_is_an_alarm(tmp_path: Path) -> None:
    w = busy_world(tmp_path / "dep")
    r = replica(tmp_path, w)
    source = StoreSource(w, "A")
    cp = w.store.checkpoint()
    assert cp is not None
    text = cp[1][: cp[1].index("\n\n") + 1]
    source.checkpoint_note = sign_note(text, [NoteSigner.generate(r.verifier.name)])
    with pytest.raises(Alarm) as got:
        r.sync(source)
    assert got.value.kind == "bad-checkpoint"


def test_a_stall_is_an_alarm_once() -> None:
    t = [0.0]
    watch = Watch(30, lambda: t[0])
    watch.saw(Round(5))
    t[0] = 29
    watch.saw(Round(5))
    t[0] = 31
    with pytest.raises(Alarm, match="stall: no new checkpoint for 31 s"):
        watch.saw(Round(5))
    t[0] = 60
    watch.saw(Round(5))  # raised once per stall
    watch.saw(Round(6, 1, "note"))
    t[0] = 200
    with pytest.raises(Alarm):
        watch.saw(Round(6))
    off = Watch(0, lambda: t[0])
    t[0] = 10_000
    off.saw(Round(6))


def test_an_observers_replica_holds_every_entry_in_full(tmp_path: Path) -> None:
    from accord import commands
    from accord.keys import PARTY_KEY, KeyFile
    from accord.service.deployment import Deployment
    from accord.service.writer import Writer
    from accord.store.sqlite import SqliteStore
    from support import agreement_doc

    keys = {p: KeyFile.generate(PARTY_KEY, p) for p in (*PARTIES, "UN")}
    doc = agreement_doc(keys, disclosure={"C": "volumes"})
    next(p for p in doc["parties"] if p["id"] == "UN")["role"] = "observer"
    clock = ManualClock(T0)
    d = Deployment.init(tmp_path / "dep", "test.example/log", clock)
    w = World(d.dir, Writer(SqliteStore(d.db_path), d.signer(), clock), clock, keys)
    w.writer.submit(commands.signed_by_all(doc, keys.values(), clock.now(), d.origin))
    activity(w, 0)
    r = replica(tmp_path, w, "UN")
    r.sync(StoreSource(w, "UN"))
    assert r.size == w.store.size() and r.picture.hidden == 0 and r.picture.unverified == 0
    key = NoteVerifier.parse(w.store.meta("log_key") or "").public_key.public_bytes_raw()
    now = w.clock.now()
    assert picture_for(r.picture, "UN", now) == picture_for(load_picture(w.store, key), "UN",
                                                            now)


def test_an_equivocation_alarm_keeps_the_files_verify_equivocation_takes(
        tmp_path: Path) -> None:
    from accord.mirror.folder import MirrorFolder

    w = busy_world(tmp_path / "dep")
    other = fork(w, tmp_path / "dep2")
    activity(w, 1)
    activity(other, 7)
    activity(other, 8)
    verifier = NoteVerifier.parse(w.store.meta("log_key") or "")
    folder = MirrorFolder.prepare(tmp_path / "m", "A", verifier, None, w.clock)
    r = folder.replica(w.clock)
    r.sync(StoreSource(w, "A"))
    with pytest.raises(Alarm) as got:
        r.sync(StoreSource(other, "A"))
    path = folder.record(r, got.value)
    base = str(path).removesuffix(".json")
    a, b = Path(base + ".a.checkpoint").read_text(), Path(base + ".b.checkpoint").read_text()
    c = json.loads(Path(base + ".consistency.json").read_text())
    assert c["size1"] < c["size2"]
    Fork(verifier.verifier_key, a, b, base64.b64decode(c["root1"]),
         tuple(base64.b64decode(h) for h in c["proof"])).check()
    assert r.store.alarms()[0]["kind"] == "equivocation"
    import subprocess
    import sys

    (tmp_path / "log.pub").write_text(verifier.verifier_key + "\n")
    got = subprocess.run([sys.executable, "-m", "accord", "verify", "--equivocation",
                          base + ".a.checkpoint", base + ".b.checkpoint", "--consistency",
                          base + ".consistency.json", "--key", str(tmp_path / "log.pub")],
                         capture_output=True, text=True, timeout=60)
    assert got.returncode == 0 and "EQUIVOCATION PROVED" in got.stdout, got.stderr


def test_receipts_are_held_to_the_mirrors_tree(tmp_path: Path) -> None:
    w = busy_world(tmp_path / "dep")
    other = fork(w, tmp_path / "dep2")
    mine = w.writer.submit(w.sub("A", "message", {"message": "A:mine", "text": "one"}))
    theirs = other.writer.submit(other.sub("A", "message", {"message": "A:x", "text": "two"}))
    r = replica(tmp_path, w)
    r.sync(StoreSource(w, "A"))
    assert mine.receipt is not None and theirs.receipt is not None
    assert r.check_receipt(mine.receipt.to_json())
    later = w.writer.submit(w.sub("A", "message", {"message": "A:later", "text": "three"}))
    assert later.receipt is not None and not r.check_receipt(later.receipt.to_json())
    # A receipt the operator gave from its other history: proved to be one.
    with pytest.raises(Alarm) as got:
        r.check_receipt(theirs.receipt.to_json())
    assert got.value.kind == "equivocation"
    Fork.from_json(got.value.evidence).check()
    bad = dict(mine.receipt.to_json(), index=0)
    with pytest.raises(Alarm) as got_bad:
        r.check_receipt(bad)
    assert got_bad.value.kind == "bad-receipt"
