"""The server store: the same tables as `sqlite.py`, in PostgreSQL through psycopg 3.

- **Schema migrations** (`MIGRATIONS`) are numbered; `accord_schema` records each one applied.
  A writer's store applies the pending ones at start under a transaction-scoped advisory lock
  (two processes starting together migrate once); a store whose database carries a version
  newer than this code knows is refused, never written, and a reader refuses a database that
  is behind (open it once for writing first).
- **One batch, one transaction.** Log entries, tree nodes, private parts and the projection's
  rows are gathered in memory during the writer's batch and written just before COMMIT:
  entries and nodes with binary COPY, the projection with one COPY into a temporary table
  and one upsert per table. Each command's savepoint is kept in memory too (an undo journal of
  what it gathered); a command rolled back leaves nothing to write. Reads on the writer's
  own store see what it gathered (`entry`, `node`, `size`, `near`); the other reads first write
  what is gathered (a real SAVEPOINT then covers it). `synchronous_commit` is set on for the
  session whatever the server's default: a receipt is handed out only for a durable commit.
- **The 4D prefilter** is a `cube` (lon, lat, altitude, time, exact doubles) generated from the
  stored bounds, under a GiST index; `&&` is closed on every axis, as the R*Tree query is.
- A store is one connection (not thread-safe); readers open their own.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from accord.errors import DeploymentError, NotFound
from accord.geo.box import Box4, volume_box
from accord.rules.notice import Notice
from accord.store.base import ITEM_TABLES, RAW_TABLES, Backend, dumps

# (version, what it does, SQL). Never edit one that has shipped: add the next.
MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (1, "the log, tokens and the projection with a cube index", """
CREATE EXTENSION IF NOT EXISTS cube;
CREATE TABLE meta(k text PRIMARY KEY, v text NOT NULL);
CREATE TABLE entries(idx bigint PRIMARY KEY, entry bytea NOT NULL);
CREATE TABLE nodes(level integer NOT NULL, idx bigint NOT NULL, hash bytea NOT NULL,
    PRIMARY KEY(level, idx));
CREATE TABLE checkpoints(size bigint PRIMARY KEY, note text NOT NULL);
CREATE TABLE tokens(n bigserial NOT NULL, hash bytea PRIMARY KEY, party text NOT NULL,
    label text NOT NULL, created text NOT NULL);
CREATE TABLE private(notice text NOT NULL, version integer NOT NULL, salt bytea NOT NULL,
    data text NOT NULL, PRIMARY KEY(notice, version));
CREATE TABLE p_state(k text PRIMARY KEY, v text NOT NULL);
CREATE TABLE p_notices(id text PRIMARY KEY, party text NOT NULL, version integer NOT NULL,
    json text NOT NULL);
CREATE TABLE p_findings(id text PRIMARY KEY, entry bigint NOT NULL, json text NOT NULL);
CREATE TABLE p_seqs(party text PRIMARY KEY, seq bigint NOT NULL);
CREATE TABLE p_messages(id text PRIMARY KEY, json text NOT NULL);
CREATE TABLE p_escalations(id text PRIMARY KEY, json text NOT NULL);
CREATE TABLE p_alerts(id text PRIMARY KEY, json text NOT NULL);
CREATE TABLE p_volumes(notice text NOT NULL,
    lon0 float8 NOT NULL, lon1 float8 NOT NULL, lat0 float8 NOT NULL, lat1 float8 NOT NULL,
    alt0 float8 NOT NULL, alt1 float8 NOT NULL, t0 float8 NOT NULL, t1 float8 NOT NULL,
    box cube GENERATED ALWAYS AS
        (cube(ARRAY[lon0, lat0, alt0, t0], ARRAY[lon1, lat1, alt1, t1])) STORED);
CREATE INDEX p_volumes_box ON p_volumes USING gist(box);
CREATE INDEX p_volumes_notice ON p_volumes(notice);
"""),
    (2, "snapshots of the fold by log size", """
CREATE TABLE snapshots(size bigint PRIMARY KEY, data bytea NOT NULL);
"""),
    (3, "the writer's seat: its term, holder and URL (accord.service.election)", """
CREATE TABLE accord_writer(id integer PRIMARY KEY CHECK (id = 1), term bigint NOT NULL,
    name text NOT NULL, url text, since timestamptz NOT NULL);
"""),
)
SCHEMA_VERSION = str(MIGRATIONS[-1][0])
# Every table the migrations make (and the version table): what a restore may replace.
TABLES = frozenset(re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)",
                              "".join(m[2] for m in MIGRATIONS))) | {"accord_schema"}
MIGRATION_LOCK = 0x4163636F7264_01  # pg_advisory_xact_lock key: "Accord", migrations

_VERSION_TABLE = ("CREATE TABLE IF NOT EXISTS accord_schema(version integer PRIMARY KEY, "
                  "what text NOT NULL, applied timestamptz NOT NULL DEFAULT now())")

# Projection tables replaced by key: (table, key columns, all columns).
_UPSERT: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "p_notices": (("id",), ("id", "party", "version", "json")),
    "p_findings": (("id",), ("id", "entry", "json")),
    "p_seqs": (("party",), ("party", "seq")),
    "p_messages": (("id",), ("id", "json")),
    "p_escalations": (("id",), ("id", "json")),
    "p_alerts": (("id",), ("id", "json")),
}
_TYPES = {"id": "text", "party": "text", "version": "int4", "json": "text", "entry": "int8",
          "seq": "int8"}
_ABSENT = object()


# libpq's TCP keepalives and user timeout, where the URL sets none: a server that vanished
# without a word (a machine lost, a network cut) fails the session within seconds instead of
# leaving a writer waiting on it (accord.service.election).
KEEPALIVES = {"keepalives": "1", "keepalives_idle": "2", "keepalives_interval": "1",
              "keepalives_count": "3", "tcp_user_timeout": "5000"}


def connect(url: str) -> psycopg.Connection[Any]:
    """A session for one store: autocommit (transactions are explicit), durable commits."""
    try:
        given = conninfo_to_dict(url)
        extra = {k: v for k, v in KEEPALIVES.items() if k not in given}
        conn = psycopg.connect(make_conninfo(url, **extra), autocommit=True,
                               connect_timeout=10)
    except psycopg.Error as exc:
        raise DeploymentError(f"cannot connect to the PostgreSQL database: "
                              f"{str(exc).strip().splitlines()[0] if str(exc).strip() else exc}",
                              accepted="a reachable server and a database the user may "
                                       "use (the password from PGPASSFILE or the "
                                       "ACCORD_DATABASE_URL environment variable)") from None
    conn.execute("SET synchronous_commit = on")
    return conn


class PostgresStore:
    """One PostgreSQL session. Not thread-safe: one writer thread; readers open their own."""

    backend: Backend = "postgresql"
    errors: tuple[type[Exception], ...] = (psycopg.Error,)
    schema_version = SCHEMA_VERSION
    ENTRY_CHUNK = 512

    def __init__(self, url: str, *, create: bool = False, readonly: bool = False) -> None:
        self.url = url
        self.db = connect(url)
        self.readonly = readonly
        try:
            self._migrate(create=create, readonly=readonly)
        except BaseException:
            self.db.close()
            raise
        self._in_tx = False
        # What the batch gathered, by table: {key: row}; flushed before COMMIT.
        self._pending: dict[str, dict[Any, Any]] = {}
        self._boxes: dict[str, list[Box4]] = {}  # notice -> its index boxes ([] = none)
        self._journal: list[tuple[dict[Any, Any], Any, Any]] = []
        self._marks: list[int] = []  # journal lengths at each open savepoint
        self._sql_savepoints = 0  # savepoints opened on the server (after a flush)
        self._pinned = False  # inside one snapshot for good (`pinned`): no BEGIN of its own
        self._temp_tables: set[str] = set()  # made on this session (for the upserts)

    # -- schema -----------------------------------------------------------------------------

    def _migrate(self, *, create: bool, readonly: bool) -> None:
        latest = MIGRATIONS[-1][0]
        with self.db.transaction():
            if not readonly:
                self.db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            exists = self.db.execute("SELECT to_regclass('accord_schema') IS NOT NULL"
                                     ).fetchone()
            have = 0
            if exists and exists[0]:
                row = self.db.execute("SELECT COALESCE(MAX(version), 0) FROM accord_schema"
                                      ).fetchone()
                have = int(row[0]) if row else 0
            elif not create:
                raise DeploymentError("the PostgreSQL database holds no Accord store",
                                      accepted="a database set up with "
                                               "`accord init DIR --database URL`")
            if have > latest:
                raise DeploymentError(
                    f"the database schema is at version {have}, newer than this Accord "
                    f"knows ({latest}); nothing was changed",
                    accepted="the Accord release that wrote it, or a newer one")
            if have == latest:
                return
            if readonly:
                raise DeploymentError(
                    f"the database schema is at version {have}, this Accord needs {latest}",
                    accepted="start `accord serve` once: it applies the migrations")
            self.db.execute(_VERSION_TABLE)
            for version, what, script in MIGRATIONS:
                if version > have:
                    self.db.execute(script)
                    self.db.execute("INSERT INTO accord_schema(version, what) VALUES(%s, %s)",
                                    (version, what))
            self.db.execute("INSERT INTO meta(k, v) VALUES('schema', %s) ON CONFLICT(k) "
                            "DO UPDATE SET v = EXCLUDED.v", (SCHEMA_VERSION,))

    def schema_versions(self) -> list[tuple[int, str]]:
        return [(int(v), str(w)) for v, w in
                self.db.execute("SELECT version, what FROM accord_schema ORDER BY version")]

    def close(self) -> None:
        self.db.close()

    def server_major(self) -> int:
        row = self.db.execute("SHOW server_version_num").fetchone()
        return int(row[0]) // 10000 if row else 0

    @classmethod
    @contextmanager
    def pinned(cls, url: str) -> Iterator[tuple[PostgresStore, str]]:
        """A read store held in one REPEATABLE READ transaction, and that snapshot's id
        (`pg_export_snapshot`): `pg_dump --snapshot` then copies exactly what this store
        reads (a backup verified as it was taken). Rolled back at the end."""
        store = cls(url, readonly=True)
        try:
            store.db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            store._pinned = True
            row = store.db.execute("SELECT pg_export_snapshot()").fetchone()
            assert row is not None
            yield store, str(row[0])
        finally:
            with contextlib.suppress(psycopg.Error):
                store.db.execute("ROLLBACK")
            store.close()

    # -- transactions -----------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic, durable commit; what the batch gathered is written just before it."""
        self.db.execute("BEGIN")
        self._in_tx = True
        try:
            yield
            self._flush()
        except BaseException:
            self._discard()
            self._temp_tables.clear()  # made in this transaction, gone with it
            # If the session is gone, the server rolled back already.
            with contextlib.suppress(psycopg.Error):
                self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")
        finally:
            self._in_tx = False
            self._discard()

    def savepoint(self) -> None:
        self._marks.append(len(self._journal))
        self._sql_savepoints = 0

    def rollback_savepoint(self) -> None:
        mark = self._marks.pop()
        if self._sql_savepoints:
            self.db.execute("ROLLBACK TO SAVEPOINT item")
            self.db.execute("RELEASE SAVEPOINT item")
            self._sql_savepoints = 0
            self._temp_tables.clear()  # any made since the savepoint are gone
            mark = 0  # the journal before the flush was written and is undone by the server
        while len(self._journal) > mark:
            table, key, old = self._journal.pop()
            if old is _ABSENT:
                table.pop(key, None)
            else:
                table[key] = old

    def release_savepoint(self) -> None:
        self._marks.pop()
        if self._sql_savepoints:
            self.db.execute("RELEASE SAVEPOINT item")
            self._sql_savepoints = 0

    def _gather(self, table: str, key: Any, row: Any) -> None:
        rows = self._pending.setdefault(table, {})
        if self._marks:
            self._journal.append((rows, key, rows.get(key, _ABSENT)))
        rows[key] = row

    def _gather_boxes(self, notice: str, boxes: list[Box4]) -> None:
        if self._marks:
            self._journal.append((self._boxes, notice, self._boxes.get(notice, _ABSENT)))
        self._boxes[notice] = boxes

    def _discard(self) -> None:
        self._pending = {}
        self._boxes = {}
        self._journal = []
        self._marks = []
        self._sql_savepoints = 0

    def _flush(self) -> None:
        """Write what the batch gathered. Inside an open command, what earlier commands
        gathered is written first, then a server savepoint, then the command's own rows: so
        rolling the command back undoes exactly its rows, here and on the server."""
        if not self._pending and not self._boxes:
            return
        if self._marks and not self._sql_savepoints:
            item = self._journal[self._marks[-1]:]
            now = [(d, k, d.get(k, _ABSENT)) for d, k, _ in item]
            for d, k, old in reversed(item):  # back to before the command
                if old is _ABSENT:
                    d.pop(k, None)
                else:
                    d[k] = old
            tables = {id(rows): t for t, rows in self._pending.items()}
            self._write(self._pending, self._boxes)
            self.db.execute("SAVEPOINT item")
            self._sql_savepoints = 1
            mine: dict[str, dict[Any, Any]] = {}
            boxes: dict[str, list[Box4]] = {}
            for d, k, v in now:
                if v is _ABSENT:
                    continue
                if d is self._boxes:
                    boxes[k] = v
                else:
                    mine.setdefault(tables[id(d)], {})[k] = v
            self._write(mine, boxes)
        else:
            self._write(self._pending, self._boxes)
        self._pending, self._boxes, self._journal = {}, {}, []
        self._marks = [0] * len(self._marks)

    def _write(self, pending: dict[str, dict[Any, Any]], boxes: dict[str, list[Box4]]) -> None:
        with self.db.cursor() as cur:
            self._copy(cur, "entries", ("idx", "entry"), ("int8", "bytea"),
                       pending.get("entries", {}).values())
            self._copy(cur, "nodes", ("level", "idx", "hash"), ("int4", "int8", "bytea"),
                       pending.get("nodes", {}).values())
            self._copy(cur, "private", ("notice", "version", "salt", "data"),
                       ("text", "int4", "bytea", "text"), pending.get("private", {}).values())
            for table, (keys, cols) in _UPSERT.items():
                rows = pending.get(table)
                if rows:
                    self._upsert(cur, table, keys, cols, rows.values())
            if boxes:
                cur.execute("DELETE FROM p_volumes WHERE notice = ANY(%s)", (list(boxes),))
                self._copy(cur, "p_volumes", ("notice", "lon0", "lon1", "lat0", "lat1", "alt0",
                                              "alt1", "t0", "t1"),
                           ("text",) + ("float8",) * 8,
                           [(n, b.lon_min, b.lon_max, b.lat_min, b.lat_max, b.alt_min,
                             b.alt_max, b.t_min, b.t_max)
                            for n, bs in boxes.items() for b in bs])

    @staticmethod
    def _copy(cur: psycopg.Cursor[Any], table: str, cols: tuple[str, ...],
              types: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> None:
        rows = list(rows)
        if not rows:
            return
        stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, cols)))
        with cur.copy(stmt) as copy:
            copy.set_types(list(types))
            for row in rows:
                copy.write_row(row)

    def _upsert(self, cur: psycopg.Cursor[Any], table: str, keys: tuple[str, ...],
                cols: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> None:
        tmp = f"_in_{table}"
        if tmp not in self._temp_tables:
            cur.execute(sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {}) "
                                "ON COMMIT DELETE ROWS").format(sql.Identifier(tmp),
                                                                sql.Identifier(table)))
            self._temp_tables.add(tmp)
        else:  # empty after each commit; a second flush in one transaction starts it over
            cur.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(tmp)))
        self._copy(cur, tmp, cols, tuple(_TYPES[c] for c in cols), rows)
        ident = sql.SQL(", ").join(map(sql.Identifier, cols))
        cur.execute(sql.SQL("INSERT INTO {t} ({c}) SELECT {c} FROM {tmp} ON CONFLICT ({k}) "
                            "DO UPDATE SET {u}").format(
            t=sql.Identifier(table), c=ident, tmp=sql.Identifier(tmp),
            k=sql.SQL(", ").join(map(sql.Identifier, keys)),
            u=sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
                                 for c in cols if c not in keys)))

    def _written(self) -> None:
        """Before a read that does not look at what the batch gathered: write it first."""
        if self._in_tx:
            self._flush()

    # -- meta -------------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT v FROM meta WHERE k = %s", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT INTO meta(k, v) VALUES(%s, %s) ON CONFLICT(k) "
                        "DO UPDATE SET v = EXCLUDED.v", (key, value))

    def clear_meta(self, key: str) -> None:
        self.db.execute("DELETE FROM meta WHERE k = %s", (key,))

    # -- the log ----------------------------------------------------------------------------

    def size(self) -> int:
        row = self.db.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM entries").fetchone()
        stored = int(row[0]) if row else 0
        gathered = self._pending.get("entries")
        return max(stored, max(gathered) + 1) if gathered else stored

    def add_entries(self, rows: Iterable[tuple[int, bytes]]) -> None:
        for idx, data in rows:
            self._check_new("entries", idx, f"entry {idx}")
            self._gather("entries", idx, (idx, data))
        if not self._in_tx:
            self._flush()

    def add_nodes(self, rows: Iterable[tuple[int, int, bytes]]) -> None:
        for level, idx, h in rows:
            self._check_new("nodes", (level, idx), f"tree node ({level}, {idx})")
            self._gather("nodes", (level, idx), (level, idx, h))
        if not self._in_tx:
            self._flush()

    def _check_new(self, table: str, key: Any, what: str) -> None:
        """Rows that are only ever added: a second one with the same key is refused at once
        (as the SQLite store's INSERT refuses it), not at the commit of the whole batch."""
        if key in self._pending.get(table, ()):
            raise psycopg.errors.UniqueViolation(f"{what} is already written")

    def entry(self, index: int) -> bytes:
        gathered = self._pending.get("entries", {}).get(index)
        if gathered is not None:
            return bytes(gathered[1])
        if 0 <= index < 2**63:
            row = self.db.execute("SELECT entry FROM entries WHERE idx = %s", (index,)
                                  ).fetchone()
            if row is not None:
                return bytes(row[0])
        raise NotFound(f"no entry {index}", field="index", accepted=f"0 to {self.size() - 1}")

    def entries(self, start: int = 0, end: int | None = None) -> Iterator[tuple[int, bytes]]:
        """Entries in order, a chunk at a time (as `SqliteStore.entries`)."""
        self._written()
        stop = self.size() if end is None else min(end, self.size())
        at = max(0, min(start, stop))
        while at < stop:
            upto = min(stop, at + self.ENTRY_CHUNK)
            rows = self.db.execute("SELECT idx, entry FROM entries WHERE idx >= %s AND "
                                   "idx < %s ORDER BY idx", (at, upto)).fetchall()
            for idx, data in rows:
                yield int(idx), bytes(data)
            at = upto

    def node(self, level: int, index: int) -> bytes:
        gathered = self._pending.get("nodes", {}).get((level, index))
        if gathered is not None:
            return bytes(gathered[2])
        row = None
        if -2**31 <= level < 2**31 and 0 <= index < 2**63:
            row = self.db.execute("SELECT hash FROM nodes WHERE level = %s AND idx = %s",
                                  (level, index)).fetchone()
        if row is None:
            raise NotFound(f"no tree node at level {level}, index {index}")
        return bytes(row[0])

    NODE_PAGE = 20_000

    def nodes(self) -> Iterator[tuple[int, int, bytes]]:
        """Every node in (level, index) order, a page at a time."""
        self._written()
        at = (-2**31, -1)
        while True:
            rows = self.db.execute("SELECT level, idx, hash FROM nodes WHERE (level, idx) > "
                                   "(%s, %s) ORDER BY level, idx LIMIT %s",
                                   (*at, self.NODE_PAGE)).fetchall()
            for level, idx, h in rows:
                yield int(level), int(idx), bytes(h)
            if len(rows) < self.NODE_PAGE:
                return
            at = (int(rows[-1][0]), int(rows[-1][1]))

    def add_checkpoint(self, size: int, note: str) -> None:
        self.db.execute("INSERT INTO checkpoints(size, note) VALUES(%s, %s) ON CONFLICT(size) "
                        "DO UPDATE SET note = EXCLUDED.note", (size, note))

    def checkpoint(self, size: int | None = None) -> tuple[int, str] | None:
        if size is not None and not 0 <= size < 2**63:
            return None
        if size is None:
            row = self.db.execute("SELECT size, note FROM checkpoints ORDER BY size DESC "
                                  "LIMIT 1").fetchone()
        else:
            row = self.db.execute("SELECT size, note FROM checkpoints WHERE size = %s",
                                  (size,)).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def checkpoints(self) -> Iterator[tuple[int, str]]:
        for size, note in self.db.execute("SELECT size, note FROM checkpoints ORDER BY size"
                                          ).fetchall():
            yield int(size), str(note)

    # -- snapshots of the fold (accord.picture.snapshot: the bytes are opaque here) --------

    def add_snapshot(self, size: int, data: bytes) -> None:
        self.db.execute("INSERT INTO snapshots(size, data) VALUES(%s, %s) ON CONFLICT(size) "
                        "DO UPDATE SET data = EXCLUDED.data", (size, data))

    def snapshot_at_or_before(self, size: int) -> tuple[int, bytes] | None:
        row = self.db.execute("SELECT size, data FROM snapshots WHERE size <= %s "
                              "ORDER BY size DESC LIMIT 1",
                              (max(-1, min(size, 2**63 - 1)),)).fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def snapshot_sizes(self) -> list[int]:
        return [int(r[0]) for r in
                self.db.execute("SELECT size FROM snapshots ORDER BY size").fetchall()]

    def add_private(self, notice: str, version: int, salt: bytes, data: Any) -> None:
        self._check_new("private", (notice, version), f"private part of {notice} v{version}")
        self._gather("private", (notice, version), (notice, version, salt, dumps(data)))
        if not self._in_tx:
            self._flush()

    def private(self, notice: str, version: int) -> tuple[bytes, Any] | None:
        gathered = self._pending.get("private", {}).get((notice, version))
        if gathered is not None:
            return bytes(gathered[2]), json.loads(gathered[3])
        if not -2**31 <= version < 2**31:
            return None
        row = self.db.execute("SELECT salt, data FROM private WHERE notice = %s AND "
                              "version = %s", (notice, version)).fetchone()
        return None if row is None else (bytes(row[0]), json.loads(row[1]))

    def privates(self) -> Iterator[tuple[str, int, bytes, str]]:
        self._written()
        for notice, version, salt, data in self.db.execute(
                "SELECT notice, version, salt, data FROM private ORDER BY notice, version"
        ).fetchall():
            yield str(notice), int(version), bytes(salt), str(data)

    # -- API tokens -------------------------------------------------------------------------

    def add_token(self, digest: bytes, party: str, label: str, created: str) -> None:
        self.db.execute("INSERT INTO tokens(hash, party, label, created) "
                        "VALUES(%s, %s, %s, %s)", (digest, party, label, created))

    def token_party(self, digest: bytes) -> str | None:
        row = self.db.execute("SELECT party FROM tokens WHERE hash = %s", (digest,)).fetchone()
        return None if row is None else str(row[0])

    def revoke_tokens(self, party: str, label: str | None = None) -> int:
        cur = self.db.execute("DELETE FROM tokens WHERE party = %s AND "
                              "(%s::text IS NULL OR label = %s)", (party, label, label))
        return int(cur.rowcount)

    def token_rows(self) -> list[tuple[int, Any, Any, Any, Any]]:
        return [(int(n), bytes(h), p, lb, c) for n, h, p, lb, c in self.db.execute(
            "SELECT n, hash, party, label, created FROM tokens ORDER BY n")]

    # -- the picture's projection -----------------------------------------------------------

    def save_state(self, values: dict[str, Any]) -> None:
        with self.db.cursor() as cur:
            cur.executemany("INSERT INTO p_state(k, v) VALUES(%s, %s) ON CONFLICT(k) "
                            "DO UPDATE SET v = EXCLUDED.v",
                            [(k, dumps(v)) for k, v in values.items()])

    def state(self) -> dict[str, Any]:
        rows = self.db.execute("SELECT k, v FROM p_state").fetchall()
        return {str(k): json.loads(v) for k, v in rows}

    def save_notice(self, notice: Notice) -> None:
        self._gather("p_notices", notice.id,
                     (notice.id, notice.party, notice.version, dumps(notice.to_json())))
        boxes = [] if notice.cancelled_at is not None else \
            [volume_box(v) for v in notice.volumes]
        self._gather_boxes(notice.id, boxes)
        if not self._in_tx:
            self._flush()

    def near(self, box: Box4) -> set[str]:
        """Notices with a volume whose box meets `box`: the stored index, with what this
        batch gathered laid over it (a notice gathered here counts by its gathered boxes)."""
        cur = self.db.execute(
            "SELECT DISTINCT notice FROM p_volumes WHERE box && "
            "cube(ARRAY[%s, %s, %s, %s]::float8[], ARRAY[%s, %s, %s, %s]::float8[])",
            (box.lon_min, box.lat_min, box.alt_min, box.t_min,
             box.lon_max, box.lat_max, box.alt_max, box.t_max))
        found = {str(r[0]) for r in cur}
        if self._boxes:
            found -= self._boxes.keys()
            found.update(n for n, bs in self._boxes.items()
                         if any(b.intersects(box) for b in bs))
        return found

    def near_at(self, *boxes: Box4) -> tuple[set[str], int]:
        """`near` of each box (together) and the projection's log size, in one snapshot."""
        with self.db.transaction():
            self.db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            row = self.db.execute("SELECT v FROM p_state WHERE k = 'size'").fetchone()
            ids: set[str] = set()
            for box in boxes:
                ids |= self.near(box)
        return ids, int(json.loads(row[0])) if row is not None else 0

    def notice_json(self, notice_id: str) -> dict[str, Any] | None:
        gathered = self._pending.get("p_notices", {}).get(notice_id)
        if gathered is not None:
            return dict(json.loads(gathered[3]))
        row = self.db.execute("SELECT json FROM p_notices WHERE id = %s", (notice_id,)
                              ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def notices_json(self) -> Iterator[dict[str, Any]]:
        self._written()
        for (text,) in self.db.execute("SELECT json FROM p_notices ORDER BY id").fetchall():
            yield json.loads(text)

    def unindex(self, notice_id: str) -> None:
        """Take a notice's volumes out of the index (gathered with the batch)."""
        self._gather_boxes(notice_id, [])
        if not self._in_tx:
            self._flush()

    def held_notices_json(self) -> Iterator[dict[str, Any]]:
        self._written()
        for (text,) in self.db.execute(
                "SELECT json FROM p_notices WHERE id IN (SELECT notice FROM p_volumes) "
                "ORDER BY id").fetchall():
            yield json.loads(text)

    def held_findings_json(self) -> Iterator[dict[str, Any]]:
        self._written()
        for (text,) in self.db.execute(
                "SELECT json FROM p_findings WHERE (json::jsonb ->> 'notice') IS NULL "
                "OR ((json::jsonb ->> 'notice') IN (SELECT notice FROM p_volumes) "
                "AND ((json::jsonb ->> 'kind') <> 'conflict' "
                "OR (json::jsonb #>> '{details,other}') IN (SELECT notice FROM p_volumes))) "
                "ORDER BY entry, id").fetchall():
            yield json.loads(text)

    def has_finding(self, finding_id: str) -> bool:
        if finding_id in self._pending.get("p_findings", {}):
            return True
        return self.db.execute("SELECT 1 FROM p_findings WHERE id = %s", (finding_id,)
                               ).fetchone() is not None

    def save_finding(self, finding_json: dict[str, Any]) -> None:
        self._gather("p_findings", finding_json["finding"],
                     (finding_json["finding"], finding_json["entry"], dumps(finding_json)))
        if not self._in_tx:
            self._flush()

    def findings_json(self) -> Iterator[dict[str, Any]]:
        self._written()
        for (text,) in self.db.execute("SELECT json FROM p_findings ORDER BY entry, id"
                                       ).fetchall():
            yield json.loads(text)

    def save_item(self, table: str, key: str, obj: dict[str, Any]) -> None:
        if table not in ITEM_TABLES:
            raise ValueError(f"no projection table {table!r}")
        self._gather(table, key, (key, dumps(obj)))
        if not self._in_tx:
            self._flush()

    def items(self, table: str) -> dict[str, dict[str, Any]]:
        if table not in ITEM_TABLES:
            raise ValueError(f"no projection table {table!r}")
        self._written()
        rows = self.db.execute(sql.SQL("SELECT id, json FROM {}").format(sql.Identifier(table))
                               ).fetchall()
        return {str(k): json.loads(v) for k, v in rows}

    def save_seq(self, party: str, seq: int) -> None:
        self._gather("p_seqs", party, (party, seq))
        if not self._in_tx:
            self._flush()

    def seqs(self) -> dict[str, int]:
        self._written()
        return {str(p): int(s) for p, s in
                self.db.execute("SELECT party, seq FROM p_seqs").fetchall()}

    # -- verification -----------------------------------------------------------------------

    def index_rows(self) -> list[tuple[str, tuple[float, ...]]]:
        self._written()
        rows = self.db.execute("SELECT notice, lon0, lon1, lat0, lat1, alt0, alt1, t0, t1, "
                               "box = cube(ARRAY[lon0, lat0, alt0, t0], "
                               "ARRAY[lon1, lat1, alt1, t1]) FROM p_volumes").fetchall()
        # A box column that no longer matches its bounds is shown as NaNs: never equal.
        nan = float("nan")
        return sorted((str(r[0]), tuple(float(x) for x in r[1:9]) if r[9] else (nan,) * 8)
                      for r in rows)

    @staticmethod
    def stored_box(box: Box4) -> tuple[float, ...]:
        return (box.lon_min, box.lon_max, box.lat_min, box.lat_max, box.alt_min, box.alt_max,
                box.t_min, box.t_max)

    def raw_rows(self, table: str) -> dict[str, str]:
        if table not in RAW_TABLES:
            raise ValueError(f"no projection table {table!r}")
        self._written()
        key, value = {"p_seqs": ("party", "seq"), "p_state": ("k", "v")}.get(table,
                                                                             ("id", "json"))
        rows = self.db.execute(sql.SQL("SELECT {}, {} FROM {}").format(
            sql.Identifier(key), sql.Identifier(value), sql.Identifier(table))).fetchall()
        return {str(k): str(v) for k, v in rows}

    def integrity(self) -> list[str]:
        """The schema as the migrations make it (tables, columns, types, constraints,
        indexes: a renamed column, a dropped constraint or a changed index is tampering too),
        and the recorded migrations. The expected catalog is made by running the migrations
        into a scratch schema inside a transaction that is rolled back."""
        problems = []
        versions = self.schema_versions()
        if [v for v, _ in versions] != [m[0] for m in MIGRATIONS]:
            problems.append(f"accord_schema: migrations {[v for v, _ in versions]}, "
                            f"not {[m[0] for m in MIGRATIONS]}")
        scratch = f"accord_expected_{secrets.token_hex(4)}"
        self.db.execute("SAVEPOINT scratch" if self._pinned else "BEGIN")
        try:
            self.db.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(scratch)))
            self.db.execute(sql.SQL("SET LOCAL search_path = {}, public").format(
                sql.Identifier(scratch)))
            for _, _, script in MIGRATIONS:
                self.db.execute(script)
            want = _catalog(self.db, scratch)
        finally:
            self.db.execute("ROLLBACK TO SAVEPOINT scratch" if self._pinned else "ROLLBACK")
        have = _catalog(self.db, "public")
        for what in sorted(set(want) | set(have)):
            if want.get(what) != have.get(what):
                problems.append(f"schema ({what}): differs from the one Accord creates")
        return problems


def _catalog(db: psycopg.Connection[Any], schema: str) -> dict[str, str]:
    """The schema's tables, columns, constraints and indexes as comparable text."""
    out: dict[str, str] = {}
    for table, col, typ, null, default, gen in db.execute(
            "SELECT table_name, column_name, data_type, is_nullable, "
            "COALESCE(column_default, ''), COALESCE(generation_expression, '') "
            "FROM information_schema.columns WHERE table_schema = %s", (schema,)):
        if table == "accord_schema":
            continue
        out[f"column {table}.{col}"] = f"{typ} {null} {default} {gen}".replace(
            f"{schema}.", "")
    for table, name, definition in db.execute(
            "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) "
            "FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
            "WHERE n.nspname = %s", (schema,)):
        table = str(table).split(".")[-1]
        if table != "accord_schema":
            out[f"constraint {table}.{name}"] = str(definition)
    for table, name, definition in db.execute(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = %s",
            (schema,)):
        if table != "accord_schema":
            out[f"index {name}"] = str(definition).replace(f"{schema}.", "")
    return out
