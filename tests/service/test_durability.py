"""Writes are durable: every connection that writes the store keeps WAL and synchronous=FULL.

A SIGKILL test (test_crash.py) cannot show this: the operating system's page cache outlives a
killed process, so a commit that was never fsynced still reads back. Only a power cut, a
VM-level stop or a fault-injecting file system loses unsynced pages (docs/design.md, "Writing
and storage"). So these tests assert the settings themselves, on every connection a running
service opens to the database: turning `synchronous=FULL` off anywhere on the write path
fails them.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from accord.service.runtime import Service, ServiceConfig
from accord.store.sqlite import SqliteStore
from support import make_world, volume

SRC = Path(__file__).resolve().parents[2] / "src" / "accord"
LEVELS = {"OFF": 0, "NORMAL": 1, "FULL": 2, "EXTRA": 3, "0": 0, "1": 1, "2": 2, "3": 3}
SET_SYNC = re.compile(r"PRAGMA\s+(?:main\.)?synchronous\s*=\s*['\"]?(\w+)", re.IGNORECASE)
WRITES = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE|BEGIN|COMMIT|CREATE|PRAGMA\s+"
                    r"wal_checkpoint)", re.IGNORECASE)


@dataclass
class Traced:
    """One connection: what it was opened on, and every statement it ran."""

    database: str
    thread: str
    statements: list[str] = field(default_factory=list)

    @property
    def readonly(self) -> bool:
        return "mode=ro" in self.database

    def writes(self) -> bool:
        return any(WRITES.match(s) for s in self.statements)

    def sync_settings(self) -> list[int]:
        return [LEVELS[m.group(1).upper()] for s in self.statements
                for m in [SET_SYNC.search(s)] if m]


class Tracer:
    """Records every SQLite connection opened while installed, through `sqlite3.connect`
    (which the store and the service's helpers call), and every statement each one runs."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.connections: list[Traced] = []
        real = sqlite3.connect

        def connect(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
            conn: sqlite3.Connection = real(database, *args, **kwargs)
            traced = Traced(str(database), threading.current_thread().name)
            self.connections.append(traced)
            conn.set_trace_callback(traced.statements.append)
            return conn

        monkeypatch.setattr(sqlite3, "connect", connect)


def default_synchronous(db: Path) -> int:
    con = sqlite3.connect(db)
    try:
        return int(con.execute("PRAGMA synchronous").fetchone()[0])
    finally:
        con.close()


def test_every_connection_of_a_running_service_that_writes_is_durable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = make_world(tmp_path / "dep")
    w.writer.store.close()
    tracer = Tracer(monkeypatch)
    service = Service(w.dir, clock=w.clock, config=ServiceConfig(tactical_interval_s=3600))
    try:
        for i in range(20):
            body = {"notice": f"N-{i}", "kind": "transit", "volumes": [volume(30 + i)]}
            service.submit(w.sub("A", "notice.file", body, seq=i + 1)).result(timeout=30)
        time.sleep(1.2)  # let the WAL helper run its checkpoints
    finally:
        service.close()
    db = w.dir / "accord.db"
    ours = [c for c in tracer.connections if str(db) in c.database]
    writers = [c for c in ours if not c.readonly and c.writes()]
    assert any(any(s.lstrip().upper().startswith("INSERT INTO ENTRIES") for s in c.statements)
               for c in writers), "the writer's connection was not seen"
    default = default_synchronous(db)
    for c in ours:
        if c.readonly:
            continue
        settings = c.sync_settings()
        assert all(level >= 2 for level in settings), (c.thread, settings)
        effective = settings[-1] if settings else default
        assert effective >= 2, f"{c.database} on {c.thread}: synchronous={effective}"
        if any(s.lstrip().upper().startswith("INSERT") for s in c.statements):
            assert settings, "a connection that appends must set synchronous itself, not " \
                             "trust the library's compiled default"
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        con.close()


def test_the_store_reads_back_wal_and_full(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "a.db", create=True)
    try:
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.db.execute("PRAGMA synchronous").fetchone()[0] in (2, 3)
    finally:
        store.close()


def test_no_code_turns_synchronous_down() -> None:
    """No `PRAGMA synchronous` below FULL anywhere in the package (bench/ may do as it likes:
    it measures, it stores nothing anyone relies on)."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            for m in SET_SYNC.finditer(line):
                if LEVELS.get(m.group(1).upper(), -1) < 2:
                    found.append(f"{path.relative_to(SRC)}:{n}: {line.strip()}")
    assert found == []
