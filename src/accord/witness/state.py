"""A witness's durable state: the latest cosigned checkpoint of each log, in one SQLite file.

The check against the stored size and the new record happen in one `BEGIN IMMEDIATE`
transaction (so two requests, or two witness processes on the same file, cannot interleave as
tlog-witness warns), and the transaction commits with `synchronous=FULL` before the cosignature
is handed back: a witness killed at any point has either returned nothing, or has on disk the
checkpoint it cosigned. A cosignature that was made but not stored never leaves the process.
Requests that are validly signed by the log but inconsistent are kept as evidence (bounded).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from accord.errors import AccordError, ProofError
from accord.log.cosignature import log_signed_only, merge_cosignatures
from accord.log.note import Checkpoint, CosignatureSigner, NoteVerifier, cosign
from accord.timefmt import Clock, format_time
from accord.witness.protocol import AddCheckpoint, Latest, check, origin_of

EVIDENCE_PER_LOG = 100
"""Refused, validly signed checkpoints kept per log (the oldest go first)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS latest (
  origin TEXT PRIMARY KEY,
  size INTEGER NOT NULL,
  root BLOB NOT NULL,
  note TEXT NOT NULL,          -- the checkpoint with the log's and this witness's signatures
  cosigned_at INTEGER NOT NULL -- the cosignature's timestamp
);
CREATE TABLE IF NOT EXISTS evidence (
  id INTEGER PRIMARY KEY,
  origin TEXT NOT NULL,
  received_at TEXT NOT NULL,
  old_size INTEGER NOT NULL,
  note TEXT NOT NULL,
  reason TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Cosigned:
    """What add-checkpoint answers: the witness's cosignature line, and the checkpoint."""

    line: str
    checkpoint: Checkpoint
    timestamp: int


class WitnessState:
    """The witness's record, and the one place it cosigns (`add`)."""

    def __init__(self, path: Path, signer: CosignatureSigner, logs: Mapping[str, NoteVerifier],
                 clock: Clock) -> None:
        self.signer = signer
        self.logs = dict(logs)
        self.clock = clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def latest(self, origin: str) -> tuple[Latest, str] | None:
        """The latest cosigned checkpoint of a log (size, root) and its cosigned note."""
        with self._lock:
            row = self._db.execute("SELECT size, root, note FROM latest WHERE origin = ?",
                                   (origin,)).fetchone()
        return None if row is None else (Latest(row[0], bytes(row[1])), row[2])

    def evidence(self, origin: str) -> list[dict[str, object]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT received_at, old_size, note, reason FROM evidence WHERE origin = ? "
                "ORDER BY id", (origin,)).fetchall()
        return [{"received_at": r[0], "old_size": r[1], "note": r[2], "reason": r[3]}
                for r in rows]

    def add(self, req: AddCheckpoint) -> Cosigned:
        """Check the request against the stored state, cosign, store, and only then return.

        Raises the refusal `protocol.check` gives; nothing is stored then except evidence of a
        validly signed checkpoint that contradicts what this witness cosigned."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                origin = origin_of(req.note)
                row = self._db.execute("SELECT size, root FROM latest WHERE origin = ?",
                                       (origin,)).fetchone()
                latest = None if row is None else Latest(row[0], bytes(row[1]))
                cp = check(req, self.logs, latest)
                stamp = int(self.clock.now().timestamp())
                mine = cosign(req.note, self.signer, stamp)
                line = mine.rstrip("\n").rsplit("\n", 1)[1]
                own = merge_cosignatures(log_signed_only(req.note, self.logs[origin]), [line])
                self._store(origin, cp, own, stamp)
            except AccordError as e:
                self._db.execute("ROLLBACK")
                if isinstance(e, ProofError):
                    self._keep_evidence(req, e.detail)
                raise
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return Cosigned(line, cp, stamp)

    def _store(self, origin: str, cp: Checkpoint, note: str, stamp: int) -> None:
        """Write the new latest checkpoint and commit (fsync) inside `add`'s transaction."""
        self._db.execute(
            "INSERT INTO latest (origin, size, root, note, cosigned_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root, "
            "note = excluded.note, cosigned_at = excluded.cosigned_at",
            (origin, cp.size, cp.root, note, stamp))
        self._db.execute("COMMIT")

    def _keep_evidence(self, req: AddCheckpoint, reason: str) -> None:
        origin = origin_of(req.note)
        self._db.execute("BEGIN IMMEDIATE")
        self._db.execute(
            "INSERT INTO evidence (origin, received_at, old_size, note, reason) "
            "VALUES (?, ?, ?, ?, ?)",
            (origin, format_time(self.clock.now()), req.old_size, req.note, reason))
        self._db.execute(
            "DELETE FROM evidence WHERE origin = ? AND id NOT IN (SELECT id FROM evidence "
            "WHERE origin = ? ORDER BY id DESC LIMIT ?)", (origin, origin, EVIDENCE_PER_LOG))
        self._db.execute("COMMIT")

