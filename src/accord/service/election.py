"""The writer's seat: which one of several `accord serve` processes sharing a PostgreSQL database
writes to it.

The seat is a session-level advisory lock (`pg_try_advisory_lock`) taken on the writer's own
connection, the very one its batch transactions run on. The connection is never reconnected:
when it drops (the process died, the network went, the server restarted or failed over), the
server releases the lock, the writes go with it, and another process takes the seat. A frozen
holder (SIGSTOP, a stalled machine) is cut off by the server: its session has
`idle_session_timeout` and `idle_in_transaction_session_timeout`, and an idle writer sends a
heartbeat well within them. TCP keepalives on both ends cut a session whose peer vanished.

Fencing: each time the seat changes hands its taker increments a term number in the one-row
table `accord_writer` (made by the store's schema migrations), with the holder's name and the
URL it serves on, for the others to forward writes to. Every batch transaction first reads
that row `FOR SHARE` and checks the term is still its own, so a write can only commit while
its writer holds the seat, and a new writer's increment waits for any batch still committing.
Advisory locks are not replicated: after a failover of the database server the seat is simply
taken again on the new primary.

Imports psycopg (the `postgresql` extra) and nothing of the API.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from accord.errors import DeploymentError

log = logging.getLogger("accord.election")

TABLE = "accord_writer"

# The writer's session: cut by the server when idle (frozen) for this long; heartbeats come
# every HEARTBEAT_S (the writer thread's idle wake-up is one second).
SESSION_TIMEOUT_S = 5.0
HEARTBEAT_S = 1.0



class SeatTaken(DeploymentError):
    """A command run on the deployment's own machine found the writer's seat held (by a
    running service)."""


def take_for_command(conn: Any, origin: str) -> Seat:
    """The seat for one command run on the deployment's machine (`accord agreement adopt`,
    a local filing): taken now or refused, never waited for."""
    seat = Seat(conn, origin, f"accord command {socket.gethostname()}:{os.getpid()}")
    if seat.try_take() is None:
        found = holder(conn)
        where = f" ({found.name}, serving at {found.url})" if found and found.url else ""
        raise SeatTaken(f"a running service holds this deployment's writer's seat{where}",
                        field="writer", accepted="send the command to the service: --server "
                                                 "URL --token TOKEN")
    return seat


class SeatLost(Exception):
    """The writer's seat is no longer this process's: its session dropped, or the term moved
    on. Raised inside a batch transaction, it rolls the whole batch back."""


def lock_key(origin: str) -> int:
    """The advisory lock's key for one log: 64 bits of SHA-256 of its origin (several logs
    may share one server)."""
    digest = hashlib.sha256(b"accord writer seat\n" + origin.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def channel(origin: str) -> str:
    """The LISTEN/NOTIFY channel on which the writer says a batch committed."""
    return f"accord_log_{lock_key(origin) & 0xFFFFFFFFFFFFFFFF:016x}"


@dataclass(frozen=True)
class Holder:
    """Who holds the seat, as the last taker wrote it (`term` counts takings)."""

    term: int
    name: str
    url: str | None
    since: datetime

    def to_json(self) -> dict[str, Any]:
        return {"term": self.term, "name": self.name, "url": self.url,
                "since": self.since.isoformat()}


def holder(conn: Any) -> Holder | None:
    """The seat's holder as recorded (None before anyone took it). On any connection: the
    row is only a name and an address; the lock is what counts."""
    try:
        row = conn.execute(f"SELECT term, name, url, since FROM {TABLE} WHERE id = 1"
                           ).fetchone()
    except Exception as exc:  # no table yet (nobody ever took the seat)
        if getattr(exc, "sqlstate", None) == "42P01":
            conn.rollback()
            return None
        raise
    return None if row is None else Holder(int(row[0]), str(row[1]), row[2], row[3])


class Seat:
    """One process's place in the election, on its own connection (autocommit, used by one
    thread at a time: the election thread until taken, then the writer's thread)."""

    def __init__(self, conn: Any, origin: str, name: str, url: str | None = None,
                 session_timeout_s: float = SESSION_TIMEOUT_S) -> None:
        self.conn = conn
        self.key = lock_key(origin)
        self.channel = channel(origin)
        self.name = name
        self.url = url
        self.term: int | None = None
        self.lost: str | None = None  # why the seat was lost, once it was
        ms = int(session_timeout_s * 1000)
        # The server cuts this session if the process stops answering (frozen, vanished).
        for setting, value in (("idle_session_timeout", ms),
                               ("idle_in_transaction_session_timeout", ms),
                               ("tcp_keepalives_idle", 2), ("tcp_keepalives_interval", 1),
                               ("tcp_keepalives_count", 3), ("tcp_user_timeout", 5000),
                               ("client_connection_check_interval", 1000)):
            conn.execute(f"SET {setting} = {int(value)}")

    @property
    def held(self) -> bool:
        return self.term is not None and self.lost is None

    def try_take(self) -> int | None:
        """Take the seat if it is free: the new term, else None (someone holds it)."""
        if self.held:
            return self.term
        got = self.conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        if not got or not got[0]:
            return None
        try:
            with self.conn.transaction():
                row = self.conn.execute(
                    f"INSERT INTO {TABLE}(id, term, name, url, since) "
                    "VALUES (1, 1, %s, %s, now()) ON CONFLICT (id) DO UPDATE SET "
                    f"term = {TABLE}.term + 1, name = EXCLUDED.name, url = EXCLUDED.url, "
                    "since = EXCLUDED.since RETURNING term", (self.name, self.url)).fetchone()
        except BaseException:
            self.conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
            raise
        self.term = int(row[0])
        self.lost = None
        log.info("took the writer's seat", extra={"event": "seat_taken", "term": self.term,
                                                   "url": self.url})
        return self.term

    def fence(self) -> None:
        """Inside a batch transaction, first: the term must still be this writer's (the
        row stays locked FOR SHARE until the batch commits); then the followers are told
        at the commit. Raises SeatLost (the batch rolls back) if not."""
        if self.term is None:
            raise SeatLost("this process never took the writer's seat")
        # One round trip: the term, locked until the commit, and the notice to the followers
        # (delivered at the commit, and only if it commits).
        row = self.conn.execute(f"SELECT term, pg_notify(%s, '') FROM {TABLE} WHERE id = 1 "
                                "FOR SHARE", (self.channel,)).fetchone()
        if row is None or int(row[0]) != self.term:
            self.lost = f"the term moved on to {None if row is None else row[0]}"
            raise SeatLost(self.lost)

    def heartbeat(self) -> None:
        """Between batches: prove the session (and so the lock) alive and the term ours;
        records and raises SeatLost if not."""
        if self.lost is not None:
            raise SeatLost(self.lost)
        try:
            row = self.conn.execute(f"SELECT term FROM {TABLE} WHERE id = 1").fetchone()
        except Exception as exc:
            self.lost = f"the writer's session failed ({type(exc).__name__}: {exc})"
            raise SeatLost(self.lost) from exc
        if row is None or int(row[0]) != self.term:
            self.lost = f"the term moved on to {None if row is None else row[0]}"
            raise SeatLost(self.lost)

    def close(self) -> None:
        """Give the seat up (closing the session releases the lock)."""
        try:
            self.conn.close()
        except Exception:  # closing a broken connection: nothing more to release
            log.debug("closing the writer's session failed", exc_info=True)
