"""The embedded store: the log, its tree hashes, checkpoints and the picture's projection in SQLite.

WAL mode with `synchronous=FULL`: a commit is on disk before the writer hands out a receipt, and
readers never wait for the writer. The writer groups many entries into one transaction (group
commit). The 4D index of notice volumes is SQLite's built-in R*Tree (lon, lat, altitude, time).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from accord.errors import DeploymentError, NotFound
from accord.geo.box import Box4, volume_box
from accord.rules.notice import Notice
from accord.store.base import ITEM_TABLES, Backend, dumps

__all__ = ["SCHEMA_VERSION", "WAL_LIMIT_BYTES", "SqliteStore", "dumps"]

SCHEMA_VERSION = "1"
BUSY_TIMEOUT_MS = 10_000
WAL_LIMIT_BYTES = 64 << 20  # the WAL file is cut back to this after a checkpoint resets it

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries(idx INTEGER PRIMARY KEY, entry BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS nodes(level INTEGER NOT NULL, idx INTEGER NOT NULL,
    hash BLOB NOT NULL, PRIMARY KEY(level, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints(size INTEGER PRIMARY KEY, note TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens(hash BLOB PRIMARY KEY, party TEXT NOT NULL,
    label TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS private(notice TEXT NOT NULL, version INTEGER NOT NULL,
    salt BLOB NOT NULL, data TEXT NOT NULL, PRIMARY KEY(notice, version));
CREATE TABLE IF NOT EXISTS p_state(k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS p_notices(id TEXT PRIMARY KEY, party TEXT NOT NULL,
    version INTEGER NOT NULL, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS p_findings(id TEXT PRIMARY KEY, entry INTEGER NOT NULL,
    json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS p_seqs(party TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS p_messages(id TEXT PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS p_escalations(id TEXT PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS p_alerts(id TEXT PRIMARY KEY, json TEXT NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS p_volume_index USING rtree(
    id, lon0, lon1, lat0, lat1, alt0, alt1, t0, t1);
CREATE TABLE IF NOT EXISTS p_volume_ref(id INTEGER PRIMARY KEY, notice TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS p_volume_ref_notice ON p_volume_ref(notice);
CREATE TABLE IF NOT EXISTS snapshots(size INTEGER PRIMARY KEY, data BLOB NOT NULL);
"""
# Added after the first deployments: made on open if missing (the writer's own connection).
_SNAPSHOTS = "CREATE TABLE IF NOT EXISTS snapshots(size INTEGER PRIMARY KEY, data BLOB NOT NULL)"


class SqliteStore:
    """One SQLite file. Not thread-safe: one writer thread; readers open their own stores.

    Beyond the `Store` port it bounds its own write-ahead log file (`wal_bytes`,
    `set_wal_limit`, `restart_wal`, `manual_checkpoints`), which the service drives."""

    backend: Backend = "sqlite"
    errors: tuple[type[Exception], ...] = (sqlite3.DatabaseError,)
    schema_version = SCHEMA_VERSION

    def __init__(self, path: Path | str, *, create: bool = False, readonly: bool = False) -> None:
        self.path = Path(path)
        if not create and not self.path.exists():
            raise DeploymentError(f"no Accord database at {self.path}",
                                  accepted="a deployment made with `accord init DIR`")
        uri = f"file:{self.path}{'?mode=ro' if readonly else ''}"
        self.db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not readonly:
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = FULL")
            self.db.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT_BYTES}")
            self.db.execute(_SNAPSHOTS)
        if create:
            self.db.executescript(_SCHEMA)
            with self.transaction():
                self.db.execute("INSERT OR IGNORE INTO meta VALUES('schema', ?)",
                                (SCHEMA_VERSION,))
        self._in_tx = False

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic, durable commit (BEGIN IMMEDIATE ... COMMIT), rolled back on any error."""
        self.db.execute("BEGIN IMMEDIATE")
        self._in_tx = True
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")
        finally:
            self._in_tx = False

    def savepoint(self) -> None:
        """Open a nested unit inside `transaction` (one command of a batch): see
        `rollback_savepoint` and `release_savepoint`."""
        self.db.execute("SAVEPOINT item")

    def rollback_savepoint(self) -> None:
        """Undo everything since `savepoint` (and only that); the transaction goes on."""
        self.db.execute("ROLLBACK TO item")
        self.db.execute("RELEASE item")

    def release_savepoint(self) -> None:
        """Keep what was done since `savepoint` as part of the enclosing transaction."""
        self.db.execute("RELEASE item")

    # -- the write-ahead log ----------------------------------------------------------------

    def wal_bytes(self) -> int:
        """The size of the WAL file now (0 if there is none)."""
        try:
            return self.path.with_name(self.path.name + "-wal").stat().st_size
        except FileNotFoundError:
            return 0

    def manual_checkpoints(self) -> None:
        """This connection never copies the WAL back by itself (the service's helper does,
        and the writer restarts it: `restart_wal`)."""
        self.db.execute("PRAGMA wal_autocheckpoint = 0")

    def set_wal_limit(self, limit: int) -> None:
        """`journal_size_limit` for this connection: a WAL reset leaves at most `limit` bytes."""
        self.db.execute(f"PRAGMA journal_size_limit = {int(limit)}")

    def restart_wal(self, wait_ms: int, *, truncate: bool = False) -> bool:
        """Copy the whole WAL into the database so that the next commit starts the WAL over
        from its beginning (a RESTART checkpoint; that commit cuts the file back to
        `journal_size_limit`), or with `truncate` cut the file to zero now (TRUNCATE). Waits
        at most `wait_ms` for readers of older snapshots; True if done.

        It holds the write lock while it works: call it between transactions of the writer."""
        mode = "TRUNCATE" if truncate else "RESTART"
        self.db.execute(f"PRAGMA busy_timeout = {int(wait_ms)}")
        try:
            busy, _, _ = self.db.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        finally:
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return int(busy) == 0

    # -- meta -------------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES(?, ?)", (key, value))

    def clear_meta(self, key: str) -> None:
        self.db.execute("DELETE FROM meta WHERE k = ?", (key,))

    # -- the log ----------------------------------------------------------------------------

    def size(self) -> int:
        row = self.db.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM entries").fetchone()
        return int(row[0])

    def add_entries(self, rows: Iterable[tuple[int, bytes]]) -> None:
        self.db.executemany("INSERT INTO entries(idx, entry) VALUES(?, ?)", rows)

    def add_nodes(self, rows: Iterable[tuple[int, int, bytes]]) -> None:
        self.db.executemany("INSERT INTO nodes(level, idx, hash) VALUES(?, ?, ?)", rows)

    def entry(self, index: int) -> bytes:
        if not 0 <= index < 2**63:  # SQLite integers are 64-bit
            raise NotFound(f"no entry {index}", field="index",
                           accepted=f"0 to {self.size() - 1}")
        row = self.db.execute("SELECT entry FROM entries WHERE idx = ?", (index,)).fetchone()
        if row is None:
            raise NotFound(f"no entry {index}", field="index",
                           accepted=f"0 to {self.size() - 1}")
        return bytes(row[0])

    ENTRY_CHUNK = 512

    def entries(self, start: int = 0, end: int | None = None) -> Iterator[tuple[int, bytes]]:
        """Entries in order, read a chunk at a time: whatever the caller does between two
        entries (a replay folds each one) never keeps a read snapshot open, which would hold
        up the WAL's checkpoints. Entries never change, so the chunks are one log."""
        stop = self.size() if end is None else min(end, self.size())
        at = max(0, min(start, stop))
        while at < stop:
            upto = min(stop, at + self.ENTRY_CHUNK)
            rows = self.db.execute("SELECT idx, entry FROM entries WHERE idx >= ? AND idx < ? "
                                   "ORDER BY idx", (at, upto)).fetchall()
            for idx, data in rows:
                yield int(idx), bytes(data)
            at = upto

    def node(self, level: int, index: int) -> bytes:
        row = self.db.execute("SELECT hash FROM nodes WHERE level = ? AND idx = ?",
                              (level, index)).fetchone()
        if row is None:
            raise NotFound(f"no tree node at level {level}, index {index}")
        return bytes(row[0])

    def nodes(self) -> Iterator[tuple[int, int, bytes]]:
        for level, idx, h in self.db.execute("SELECT level, idx, hash FROM nodes "
                                             "ORDER BY level, idx"):
            yield int(level), int(idx), bytes(h)

    def add_checkpoint(self, size: int, note: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO checkpoints(size, note) VALUES(?, ?)",
                        (size, note))

    def checkpoint(self, size: int | None = None) -> tuple[int, str] | None:
        if size is not None and not 0 <= size < 2**63:
            return None
        if size is None:
            row = self.db.execute("SELECT size, note FROM checkpoints "
                                  "ORDER BY size DESC LIMIT 1").fetchone()
        else:
            row = self.db.execute("SELECT size, note FROM checkpoints WHERE size = ?",
                                  (size,)).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def checkpoints(self) -> Iterator[tuple[int, str]]:
        for size, note in self.db.execute("SELECT size, note FROM checkpoints ORDER BY size"):
            yield int(size), str(note)

    def add_private(self, notice: str, version: int, salt: bytes, data: Any) -> None:
        self.db.execute("INSERT INTO private(notice, version, salt, data) VALUES(?, ?, ?, ?)",
                        (notice, version, salt, dumps(data)))

    def private(self, notice: str, version: int) -> tuple[bytes, Any] | None:
        row = self.db.execute("SELECT salt, data FROM private WHERE notice = ? AND version = ?",
                              (notice, version)).fetchone()
        return None if row is None else (bytes(row[0]), json.loads(row[1]))

    def privates(self) -> Iterator[tuple[str, int, bytes, str]]:
        """Private parts as stored text (verification must survive a corrupted row)."""
        for notice, version, salt, data in self.db.execute(
                "SELECT notice, version, salt, data FROM private ORDER BY notice, version"):
            yield str(notice), int(version), bytes(salt), str(data)

    # -- snapshots of the folded state (accord.picture.snapshot: the bytes are opaque here) --

    def add_snapshot(self, size: int, data: bytes) -> None:
        """The snapshot of the fold of the first `size` entries, in the current transaction."""
        self.db.execute("INSERT OR REPLACE INTO snapshots(size, data) VALUES(?, ?)",
                        (size, data))

    def snapshot_at_or_before(self, size: int) -> tuple[int, bytes] | None:
        """The snapshot with the greatest size not above `size`, or None."""
        try:
            row = self.db.execute("SELECT size, data FROM snapshots WHERE size <= ? "
                                  "ORDER BY size DESC LIMIT 1",
                                  (max(-1, min(size, 2**63 - 1)),)).fetchone()
        except sqlite3.OperationalError:  # a store from before snapshots, opened read-only
            return None
        if row is None:
            return None
        data = row[1]  # a BLOB; anything else stored there is handed on to be refused
        return int(row[0]), data if isinstance(data, bytes) else str(data).encode()

    def snapshot_sizes(self) -> list[int]:
        """The sizes of every snapshot stored, ascending (read each with
        `snapshot_at_or_before`: they can be large)."""
        try:
            rows = self.db.execute("SELECT size FROM snapshots ORDER BY size").fetchall()
        except sqlite3.OperationalError:  # a store from before snapshots, opened read-only
            return []
        return [int(r[0]) for r in rows]

    # -- API tokens (not part of the log: credentials to read, never to sign) ----------------

    def add_token(self, digest: bytes, party: str, label: str, created: str) -> None:
        self.db.execute("INSERT INTO tokens(hash, party, label, created) VALUES(?, ?, ?, ?)",
                        (digest, party, label, created))

    def token_party(self, digest: bytes) -> str | None:
        row = self.db.execute("SELECT party FROM tokens WHERE hash = ?", (digest,)).fetchone()
        return None if row is None else str(row[0])

    def revoke_tokens(self, party: str, label: str | None = None) -> int:
        cur = self.db.execute("DELETE FROM tokens WHERE party = ? AND (? IS NULL OR label = ?)",
                              (party, label, label))
        return int(cur.rowcount)

    def token_rows(self) -> list[tuple[int, Any, Any, Any, Any]]:
        return [(int(r[0]), r[1], r[2], r[3], r[4]) for r in self.db.execute(
            "SELECT rowid, hash, party, label, created FROM tokens ORDER BY rowid")]

    # -- the picture's projection -----------------------------------------------------------

    def save_state(self, values: dict[str, Any]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO p_state(k, v) VALUES(?, ?)",
                            [(k, dumps(v)) for k, v in values.items()])

    def state(self) -> dict[str, Any]:
        rows = self.db.execute("SELECT k, v FROM p_state").fetchall()
        return {str(k): json.loads(v) for k, v in rows}

    def save_notice(self, notice: Notice) -> None:
        self.db.execute("INSERT OR REPLACE INTO p_notices(id, party, version, json) "
                        "VALUES(?, ?, ?, ?)",
                        (notice.id, notice.party, notice.version, dumps(notice.to_json())))
        if notice.version > 1 or notice.acks or notice.cancelled_at is not None:
            self.unindex(notice.id)  # a fresh notice has nothing indexed yet
        if notice.cancelled_at is None:
            self.index(notice)

    def index(self, notice: Notice) -> None:
        for vol in notice.volumes:
            cur = self.db.execute("INSERT INTO p_volume_ref(notice) VALUES(?)", (notice.id,))
            b = volume_box(vol)
            self.db.execute("INSERT INTO p_volume_index VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (cur.lastrowid, b.lon_min, b.lon_max, b.lat_min, b.lat_max,
                             b.alt_min, b.alt_max, b.t_min, b.t_max))

    def unindex(self, notice_id: str) -> None:
        self.db.execute("DELETE FROM p_volume_index WHERE id IN "
                        "(SELECT id FROM p_volume_ref WHERE notice = ?)", (notice_id,))
        self.db.execute("DELETE FROM p_volume_ref WHERE notice = ?", (notice_id,))

    def near(self, box: Box4) -> set[str]:
        """Ids of notices with a volume whose 4D box meets `box` (a prefilter, never exact)."""
        cur = self.db.execute(
            "SELECT DISTINCT r.notice FROM p_volume_index i JOIN p_volume_ref r ON r.id = i.id "
            "WHERE i.lon0 <= ? AND i.lon1 >= ? AND i.lat0 <= ? AND i.lat1 >= ? "
            "AND i.alt0 <= ? AND i.alt1 >= ? AND i.t0 <= ? AND i.t1 >= ?",
            (box.lon_max, box.lon_min, box.lat_max, box.lat_min, box.alt_max, box.alt_min,
             box.t_max, box.t_min))
        return {str(r[0]) for r in cur}

    def notice_json(self, notice_id: str) -> dict[str, Any] | None:
        """One notice's current version from the projection (live or not)."""
        row = self.db.execute("SELECT json FROM p_notices WHERE id = ?", (notice_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def notices_json(self) -> Iterator[dict[str, Any]]:
        # fetchall first: the read snapshot lasts the fetch, not the parsing (see entries)
        for (text,) in self.db.execute("SELECT json FROM p_notices ORDER BY id").fetchall():
            yield json.loads(text)

    def held_notices_json(self) -> Iterator[dict[str, Any]]:
        """The notices the writer's picture holds: those with rows in the 4D index (live,
        or ended but not yet retired: `accord.service.history`); the rest is history."""
        for (text,) in self.db.execute(
                "SELECT json FROM p_notices WHERE id IN (SELECT notice FROM p_volume_ref) "
                "ORDER BY id").fetchall():
            yield json.loads(text)

    def held_findings_json(self) -> Iterator[dict[str, Any]]:
        """The findings the writer's picture holds: those about a message, and those whose
        notice (and, for a conflict, other notice) it holds (`held_notices_json`)."""
        for (text,) in self.db.execute(
                "SELECT json FROM p_findings WHERE json_extract(json, '$.notice') IS NULL "
                "OR (json_extract(json, '$.notice') IN (SELECT notice FROM p_volume_ref) "
                "AND (json_extract(json, '$.kind') != 'conflict' "
                "OR json_extract(json, '$.details.other') IN "
                "(SELECT notice FROM p_volume_ref))) ORDER BY entry").fetchall():
            yield json.loads(text)

    def has_finding(self, finding_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM p_findings WHERE id = ?",
                               (finding_id,)).fetchone() is not None

    def save_finding(self, finding_json: dict[str, Any]) -> None:
        self.db.execute("INSERT OR REPLACE INTO p_findings(id, entry, json) VALUES(?, ?, ?)",
                        (finding_json["finding"], finding_json["entry"], dumps(finding_json)))

    def findings_json(self) -> Iterator[dict[str, Any]]:
        for (text,) in self.db.execute("SELECT json FROM p_findings ORDER BY entry").fetchall():
            yield json.loads(text)

    def save_item(self, table: str, key: str, obj: dict[str, Any]) -> None:
        """A row of p_messages or p_escalations: the value's JSON under its id."""
        if table not in ITEM_TABLES:
            raise ValueError(f"no projection table {table!r}")
        self.db.execute(f"INSERT OR REPLACE INTO {table}(id, json) VALUES(?, ?)",
                        (key, dumps(obj)))

    def items(self, table: str) -> dict[str, dict[str, Any]]:
        if table not in ITEM_TABLES:
            raise ValueError(f"no projection table {table!r}")
        rows = self.db.execute(f"SELECT id, json FROM {table}").fetchall()
        return {str(k): json.loads(v) for k, v in rows}

    def save_seq(self, party: str, seq: int) -> None:
        self.db.execute("INSERT OR REPLACE INTO p_seqs(party, seq) VALUES(?, ?)", (party, seq))

    def seqs(self) -> dict[str, int]:
        return {str(p): int(s) for p, s in self.db.execute("SELECT party, seq FROM p_seqs")}

    def near_at(self, *boxes: Box4) -> tuple[set[str], int]:
        """`near` of each box (together) and the log size the projection was at, read in one
        snapshot, so a caller can tell whether the index matches the picture it holds."""
        self.db.execute("BEGIN")
        try:
            row = self.db.execute("SELECT v FROM p_state WHERE k = 'size'").fetchone()
            ids: set[str] = set()
            for box in boxes:
                ids |= self.near(box)
        finally:
            self.db.execute("COMMIT")
        return ids, int(json.loads(row[0])) if row is not None else 0

    def index_rows(self) -> list[tuple[str, tuple[float, ...]]]:
        """The index as (notice, box) pairs, sorted: for comparing with a rebuilt one."""
        rows = self.db.execute(
            "SELECT r.notice, i.lon0, i.lon1, i.lat0, i.lat1, i.alt0, i.alt1, i.t0, i.t1 "
            "FROM p_volume_index i JOIN p_volume_ref r ON r.id = i.id").fetchall()
        return sorted((str(r[0]), tuple(float(x) for x in r[1:])) for r in rows)

    @staticmethod
    def stored_box(box: Box4) -> tuple[float, ...]:
        """The R*Tree keeps 32-bit floats rounded outward, as SQLite rounds them."""
        return (_f32_down(box.lon_min), _f32_up(box.lon_max), _f32_down(box.lat_min),
                _f32_up(box.lat_max), _f32_down(box.alt_min), _f32_up(box.alt_max),
                _f32_down(box.t_min), _f32_up(box.t_max))

    def raw_rows(self, table: str) -> dict[str, str]:
        """A projection table as stored text, keyed by id: verification parses nothing twice."""
        queries = {"p_notices": "SELECT id, json FROM p_notices",
                   "p_findings": "SELECT id, json FROM p_findings",
                   "p_seqs": "SELECT party, seq FROM p_seqs",
                   "p_messages": "SELECT id, json FROM p_messages",
                   "p_escalations": "SELECT id, json FROM p_escalations",
                   "p_alerts": "SELECT id, json FROM p_alerts",
                   "p_state": "SELECT k, v FROM p_state"}
        return {str(k): str(v) for k, v in self.db.execute(queries[table])}

    def integrity(self) -> list[str]:
        """SQLite's own check of the file's structure: [] when sound."""
        try:
            rows = self.db.execute("PRAGMA integrity_check").fetchall()
        except sqlite3.DatabaseError as exc:
            return [str(exc)]
        msgs = [str(r[0]) for r in rows]
        problems = [] if msgs == ["ok"] else msgs
        # The R*Tree's own structure (node boxes, parent links): a corrupt inner box hides
        # candidates from every check, and integrity_check does not look inside.
        try:
            (rt,) = self.db.execute("SELECT rtreecheck('p_volume_index')").fetchone()
        except sqlite3.DatabaseError as exc:
            rt = str(exc)
        if rt != "ok":
            problems.append(f"table p_volume_index (R*Tree structure): {rt}")
        return problems + self._schema_problems()

    def _schema_problems(self) -> list[str]:
        """The stored schema must be exactly the one Accord creates: a renamed column or a
        changed constraint is tampering too."""
        want_db = sqlite3.connect(":memory:")
        want_db.executescript(_SCHEMA)
        query = "SELECT type, name, sql FROM sqlite_master ORDER BY type, name"
        want = {(t, n): s for t, n, s in want_db.execute(query)}
        want_db.close()
        have = {(t, n): s for t, n, s in self.db.execute(query)}
        if ("table", "snapshots") not in have:  # a store from before snapshots: none to check
            want.pop(("table", "snapshots"))
        return [f"schema ({t} {n}): differs from the one Accord creates"
                for (t, n) in sorted(set(want) | set(have))
                if want.get((t, n)) != have.get((t, n))]


_TOWARDS = 1.0 - 1.0 / 8388608.0
_AWAY = 1.0 + 1.0 / 8388608.0


def _f32_down(d: float) -> float:
    """SQLite R*Tree's rtreeValueDown: the float32 at or below d, exactly as SQLite rounds."""
    f = float(np.float32(d))  # compare as doubles: numpy would compare in float32
    if f > d:
        f = float(np.float32(d * (_AWAY if d < 0 else _TOWARDS)))
    return f


def _f32_up(d: float) -> float:
    """SQLite R*Tree's rtreeValueUp."""
    f = float(np.float32(d))
    if f < d:
        f = float(np.float32(d * (_TOWARDS if d < 0 else _AWAY)))
    return f
