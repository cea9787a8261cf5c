"""Backups that restore, on both engines: back up, keep filing, lose the database, restore;
what was lost is named, every receipt issued after the backup is found ahead of the restored
log, and nothing serves it until the operator confirms."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from accord.errors import DeploymentError, InvalidInput
from accord.log.event import Entry
from accord.log.note import NoteVerifier, open_checkpoint
from accord.log.receipt import Receipt
from accord.service import backup as bk
from accord.service.deployment import Deployment
from accord.service.runtime import Service, ServiceConfig
from support import RawDb, World, make_world, volume


def accord(cwd: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "accord", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, COLUMNS="200"))
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def file(w: World, lon: float) -> Receipt:
    out = w.file("A", {"kind": "transit", "volumes": [volume(lon, 20.0)]})
    assert out.receipt is not None
    return out.receipt


def lose_the_database(d: Deployment) -> None:
    if d.database is None:
        for suffix in ("", "-wal", "-shm"):
            d.db_path.with_name(d.db_path.name + suffix).unlink(missing_ok=True)
    else:
        db = RawDb(d.dir)
        db.execute("DROP SCHEMA public CASCADE")
        db.execute("CREATE SCHEMA public")
        db.commit()
        db.close()


def test_back_up_keep_filing_lose_restore_and_every_later_receipt_is_ahead(
        tmp_path: Path, database: str | None) -> None:
    w = make_world(tmp_path / "dep", database=database)
    # what the service does after each batch: record the newest checkpoint outside the store
    w.writer.listeners.append(bk.watch_high_water(w.dir, lambda: w.writer.published.checkpoint))
    before = [file(w, 20.0 + i) for i in range(3)]
    d = Deployment.open(w.dir)
    taken = bk.backup(d, tmp_path / "backup.bin")
    assert taken.report.ok, taken.report.problems
    at_backup = taken.size
    assert at_backup == w.store.size()
    after = [file(w, 30.0 + i) for i in range(4)]
    final = w.store.size()
    w.store.close()

    lose_the_database(d)
    with pytest.raises(DeploymentError):
        Service(w.dir, clock=w.clock, config=ServiceConfig(tactical_interval_s=3600))

    restored = bk.restore(d, tmp_path / "backup.bin")
    assert restored.report.ok, restored.report.problems
    assert restored.size == at_backup
    assert restored.behind is not None and restored.behind.lost == range(at_backup, final)

    verifier = NoteVerifier.parse(d.verifier_key)
    store = d.store(readonly=True)
    try:
        statuses = bk.lost_receipts(store, verifier, before + after)
    finally:
        store.close()
    assert [s for _, s, _ in statuses] == ["held"] * 3 + ["ahead"] * 4
    # what the parties hold that the log lost: their own receipts say exactly which entries
    lost = [(rc.index, e.event.party, e.event.seq, e.event.body["volumes"][0]["start"])
            for rc, s, e in statuses if s == "ahead" and e is not None]
    assert [i for i, *_ in lost] == [rc.index for rc in after]
    assert all(rc.index >= at_backup for rc in after)
    assert [seq for _, _, seq, _ in lost] == [4, 5, 6, 7]

    # nothing serves the restored log until the operator confirms it
    with pytest.raises(DeploymentError, match="restored from a backup"):
        Service(w.dir, clock=w.clock, config=ServiceConfig(tactical_interval_s=3600))
    newest = after[-1].checkpoint
    status, gap = bk.confirm(d, newest)
    assert status == "ahead" and gap is not None and gap.lost == range(at_backup, final)
    # an older checkpoint does not talk it round: the deployment's own record is larger
    status, gap = bk.confirm(d, before[-1].checkpoint)
    assert status == "ahead" and gap is not None and gap.signed == final
    with pytest.raises(DeploymentError, match="restored from a backup"):
        Service(w.dir, clock=w.clock, config=ServiceConfig(tactical_interval_s=3600))
    # a forged checkpoint is refused
    with pytest.raises(InvalidInput, match="does not verify"):
        bk.confirm(d, newest.replace("\n\n", "\n\nx", 1))

    status, gap = bk.confirm(d, newest, accept_loss=True)
    assert gap is not None and gap.lost == range(at_backup, final)
    s = Service(w.dir, clock=w.clock, config=ServiceConfig(tactical_interval_s=3600))
    try:
        assert s.store.size() == at_backup
    finally:
        s.close()


def test_a_restore_that_lost_nothing_is_confirmed_and_served(tmp_path: Path,
                                                             database: str | None) -> None:
    w = make_world(tmp_path / "dep", database=database)
    w.writer.listeners.append(bk.watch_high_water(w.dir, lambda: w.writer.published.checkpoint))
    last = file(w, 20.0)
    w.store.close()
    d = Deployment.open(w.dir)
    assert bk.backup(d, tmp_path / "b.bin").report.ok
    with pytest.raises(InvalidInput, match="exists already"):
        bk.backup(d, tmp_path / "b.bin")
    restored = bk.restore(d, tmp_path / "b.bin")
    assert restored.report.ok and restored.behind is None
    with pytest.raises(DeploymentError, match="restored from a backup"):
        Service(w.dir, clock=w.clock, config=ServiceConfig(tactical_interval_s=3600))
    assert bk.confirm(d, last.checkpoint) == ("held", None)
    assert open_checkpoint(last.checkpoint, NoteVerifier.parse(d.verifier_key)).size == 2
    Service(w.dir, clock=w.clock, config=ServiceConfig(tactical_interval_s=3600)).close()


def test_a_database_rolled_back_behind_the_service_is_refused(tmp_path: Path,
                                                              database: str | None) -> None:
    """Without `accord restore` (say a database administrator restored an old dump): the
    newest checkpoint the deployment signed, kept beside it, stops the writer."""
    w = make_world(tmp_path / "dep", database=database)
    w.store.close()
    s = Service(w.dir, clock=w.clock, config=ServiceConfig(tactical_interval_s=3600))
    d = s.deployment
    try:
        first = s.submit(w.sub("A", "notice.file", {"notice": "N1", "kind": "transit",
                                                     "volumes": [volume(20.0, 20.0)]})
                         ).result(30)
    finally:
        s.close()
    held = bk.HighWater(w.dir).signed(NoteVerifier.parse(d.verifier_key))
    assert held is not None and held[0] == first.index + 1 == 2
    db = RawDb(w.dir)
    db.execute("DELETE FROM entries WHERE idx = 1")
    db.commit()
    db.close()
    with pytest.raises(DeploymentError, match="behind the log this deployment signed"):
        Service(w.dir, clock=w.clock, config=ServiceConfig(tactical_interval_s=3600))
    # a forged record is refused too, not believed
    (w.dir / bk.HIGH_WATER).write_text(held[1].replace("\n2\n", "\n9\n"))
    with pytest.raises(DeploymentError, match="not a checkpoint of this log"):
        Service(w.dir, clock=w.clock, config=ServiceConfig(tactical_interval_s=3600))


def test_backup_and_restore_from_the_command_line(tmp_path: Path,
                                                  database: str | None) -> None:
    w = make_world(tmp_path / "dep", database=database)
    w.writer.listeners.append(bk.watch_high_water(w.dir, lambda: w.writer.published.checkpoint))
    file(w, 20.0)
    got = json.loads(accord(tmp_path, "backup", str(tmp_path / "b.bin"), "--dir", str(w.dir),
                            "--json").stdout)
    assert got["size"] == 2 and got["verify"]["ok"]
    last = file(w, 21.0)
    w.store.close()
    (tmp_path / "cp.txt").write_text(last.checkpoint)
    proc = accord(tmp_path, "restore", str(tmp_path / "b.bin"), "--dir", str(w.dir), ok=True)
    assert "Restored 2 entries" in proc.stdout and "BEHIND" in proc.stderr
    assert "1 entry (2 to 2)" in proc.stderr
    proc = accord(tmp_path, "restore", "--confirm", str(tmp_path / "cp.txt"), "--dir",
                  str(w.dir), ok=False)
    assert proc.returncode == 1 and "BEHIND" in proc.stderr
    proc = accord(tmp_path, "restore", "--dir", str(w.dir), ok=False)
    assert proc.returncode == 2 and "either a BACKUP" in proc.stderr
    assert "Traceback" not in proc.stderr
    entry = Entry.decode(last.entry or b"")
    assert entry.event.seq == 2


def test_a_backup_that_is_not_one_changes_nothing(tmp_path: Path, database: str | None) -> None:
    w = make_world(tmp_path / "dep", database=database)
    file(w, 20.0)
    size = w.store.size()
    w.store.close()
    d = Deployment.open(w.dir)
    (tmp_path / "junk.bin").write_bytes(b"PGDMP not really" * 100)
    with pytest.raises(InvalidInput, match="backup"):
        bk.restore(d, tmp_path / "junk.bin")
    with pytest.raises(InvalidInput, match="no backup"):
        bk.restore(d, tmp_path / "missing.bin")
    store = d.store(readonly=True)
    assert store.size() == size
    store.close()
    Service(w.dir, clock=w.clock, config=ServiceConfig(tactical_interval_s=3600)).close()
