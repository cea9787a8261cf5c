"""Cosignatures the service collected, in their own SQLite file beside the log (`witnessed.db`),
so that keeping them never contends with the writer for the log's database lock.

One row per (checkpoint size, witness): the witness's cosignature line for the log's
checkpoint of that size. A checkpoint is witnessed when enough of the agreement's witnesses
have a row at its size (`latest_witnessed`).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from accord.log.cosignature import WitnessPolicy, merge_cosignatures
from accord.store.base import Store

WITNESSED_DB = "witnessed.db"
"""The file beside the deployment's database."""
KEEP_SIZES = 10_000
"""Sizes kept; older cosignatures go (a receipt is brought up to the latest, by consistency)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cosignatures (
  size INTEGER NOT NULL,
  witness TEXT NOT NULL,
  line TEXT NOT NULL,
  timestamp INTEGER NOT NULL,
  PRIMARY KEY (size, witness)
);
"""


class CosignatureBook:
    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self._lock = threading.Lock()
        self._adds = 0
        uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
        self._db = sqlite3.connect(uri, uri=True, isolation_level=None,
                                   check_same_thread=False)
        if not readonly:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, size: int, witness: str, line: str, timestamp: int) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO cosignatures VALUES (?, ?, ?, ?)",
                             (size, witness, line, timestamp))
            self._adds += 1
            if self._adds % 1000 == 0:
                self._db.execute(
                    "DELETE FROM cosignatures WHERE size < (SELECT MIN(size) FROM (SELECT "
                    "DISTINCT size FROM cosignatures ORDER BY size DESC LIMIT ?))",
                    (KEEP_SIZES,))

    def last_size(self, witness: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT MAX(size) FROM cosignatures WHERE witness = ?",
                                   (witness,)).fetchone()
        return int(row[0] or 0)

    def at(self, size: int, witnesses: Sequence[str]) -> list[str]:
        """The cosignature lines at `size` by the given witnesses."""
        marks = ",".join("?" * len(witnesses))
        with self._lock:
            rows = self._db.execute(f"SELECT line FROM cosignatures WHERE size = ? AND "
                                    f"witness IN ({marks}) ORDER BY witness",
                                    (size, *witnesses)).fetchall()
        return [r[0] for r in rows]

    def latest_witnessed(self, witnesses: Sequence[str], quorum: int) -> int | None:
        """The largest size that at least `quorum` of `witnesses` cosigned."""
        if not witnesses:
            return None
        marks = ",".join("?" * len(witnesses))
        with self._lock:
            row = self._db.execute(
                f"SELECT size FROM cosignatures WHERE witness IN ({marks}) GROUP BY size "
                f"HAVING COUNT(*) >= ? ORDER BY size DESC LIMIT 1",
                (*witnesses, quorum)).fetchone()
        return None if row is None else int(row[0])


def witnessed_note(book: CosignatureBook, store: Store,
                   policy: WitnessPolicy) -> tuple[int, str] | None:
    """The latest checkpoint a quorum of `policy` cosigned: (size, note with the log's
    signature and those cosignatures), or None."""
    names = [w.name for w in policy.witnesses]
    size = book.latest_witnessed(names, policy.quorum)
    cp = None if size is None else store.checkpoint(size)
    if size is None or cp is None:
        return None
    return size, merge_cosignatures(cp[1], book.at(size, names))
