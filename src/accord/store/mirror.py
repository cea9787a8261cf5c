"""A party mirror's store: its own copy of the log as the party may read it, in SQLite.

Every entry is kept by its leaf hash, with its exact bytes where the party may read it in full
and the shown JSON where the title is withheld; every perfect tree node, so the mirror proves
inclusion and consistency itself; each checkpoint it accepted; and its alarms. WAL and
`synchronous=FULL`, like the deployment's store: what the mirror accepted survives a crash.
Nothing is written unless it verified (the replica commits a checkpoint's entries, nodes and
note together).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from accord.errors import DeploymentError, NotFound
from accord.store.sqlite import BUSY_TIMEOUT_MS

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS leaves(idx INTEGER PRIMARY KEY, leaf BLOB NOT NULL,
    entry BLOB, shown TEXT);
CREATE TABLE IF NOT EXISTS nodes(level INTEGER NOT NULL, idx INTEGER NOT NULL,
    hash BLOB NOT NULL, PRIMARY KEY(level, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints(size INTEGER PRIMARY KEY, note TEXT NOT NULL,
    seen_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alarms(id INTEGER PRIMARY KEY, at TEXT NOT NULL, kind TEXT NOT NULL,
    message TEXT NOT NULL, evidence TEXT);
"""


class MirrorStore:
    """One SQLite file (or `:memory:`); one writer, like the deployment's store."""

    def __init__(self, path: Path | str, *, create: bool = False) -> None:
        memory = str(path) == ":memory:"
        if not memory and not create and not Path(path).exists():
            raise DeploymentError(f"no mirror database at {path}",
                                  accepted="a folder made by `accord mirror`")
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not memory:
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = FULL")
        self.db.executescript(_SCHEMA)
        self.db.execute("INSERT OR IGNORE INTO meta VALUES('schema', ?)", (SCHEMA_VERSION,))

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES(?, ?)", (key, value))

    # -- the log as the party holds it ------------------------------------------------------

    def size(self) -> int:
        row = self.db.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM leaves").fetchone()
        return int(row[0])

    def add_leaves(self, rows: Iterable[tuple[int, bytes, bytes | None, str | None]]) -> None:
        """(index, leaf hash, exact bytes or None, shown JSON or None) for each entry."""
        self.db.executemany("INSERT INTO leaves(idx, leaf, entry, shown) VALUES(?, ?, ?, ?)",
                            rows)

    def add_nodes(self, rows: Iterable[tuple[int, int, bytes]]) -> None:
        self.db.executemany("INSERT INTO nodes(level, idx, hash) VALUES(?, ?, ?)", rows)

    def leaves(self, start: int = 0, end: int | None = None
               ) -> Iterator[tuple[int, bytes, bytes | None, str | None]]:
        """Entries in order, a chunk at a time (no read snapshot held across the caller's
        work)."""
        stop = self.size() if end is None else min(end, self.size())
        at = max(0, start)
        while at < stop:
            upto = min(stop, at + 1024)
            rows = self.db.execute("SELECT idx, leaf, entry, shown FROM leaves WHERE idx >= ? "
                                   "AND idx < ? ORDER BY idx", (at, upto)).fetchall()
            for idx, leaf, entry, shown in rows:
                yield (int(idx), bytes(leaf), None if entry is None else bytes(entry),
                       None if shown is None else str(shown))
            at = upto

    def node(self, level: int, index: int) -> bytes:
        row = self.db.execute("SELECT hash FROM nodes WHERE level = ? AND idx = ?",
                              (level, index)).fetchone()
        if row is None:
            raise NotFound(f"the mirror holds no tree node at level {level}, index {index}")
        return bytes(row[0])

    # -- checkpoints and alarms -------------------------------------------------------------

    def add_checkpoint(self, size: int, note: str, seen_at: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO checkpoints(size, note, seen_at) "
                        "VALUES(?, ?, ?)", (size, note, seen_at))

    def checkpoint(self, size: int | None = None) -> tuple[int, str, str] | None:
        """(size, note, when the mirror accepted it): the latest, or the one of `size`."""
        if size is None:
            row = self.db.execute("SELECT size, note, seen_at FROM checkpoints "
                                  "ORDER BY size DESC LIMIT 1").fetchone()
        else:
            row = self.db.execute("SELECT size, note, seen_at FROM checkpoints WHERE size = ?",
                                  (size,)).fetchone()
        return None if row is None else (int(row[0]), str(row[1]), str(row[2]))

    def checkpoints_newest(self, limit: int) -> list[tuple[int, str]]:
        """The `limit` largest checkpoints kept, largest first."""
        rows = self.db.execute("SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT ?",
                               (limit,)).fetchall()
        return [(int(a), str(b)) for a, b in rows]

    def add_alarm(self, at: str, kind: str, message: str, evidence: Any) -> None:
        self.db.execute("INSERT INTO alarms(at, kind, message, evidence) VALUES(?, ?, ?, ?)",
                        (at, kind, message,
                         None if evidence is None else json.dumps(evidence, sort_keys=True)))

    def alarms(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT at, kind, message, evidence FROM alarms "
                               "ORDER BY id").fetchall()
        return [{"at": at, "kind": kind, "message": msg,
                 "evidence": None if ev is None else json.loads(ev)}
                for at, kind, msg, ev in rows]
