"""Several `accord serve` processes on one PostgreSQL database: one writes, the others follow.

Each process runs two threads here. The *election* thread tries for the writer's seat
(`accord.service.election`) every `election_interval_s` while another holds it; once it has
it, it builds a `Writer` on the seat's own session (loading the state from the database's
projection, as any writer does at start) and a `Sequencer` for it, and the process serves
writes. The *follow* thread keeps the process's read model while it does not write: it
LISTENs for the writer's notice of each commit (and polls every `follow_poll_s` in case one
is missed), and folds the new entries (`accord.service.follower`).

The seat is given up when its session fails or its term moves on: the writer's thread finds
out at its next heartbeat (at least once a second) or batch, the process stops writing
(what was queued is answered with `Unavailable`), follows again and stands for election again.
Nothing here retries a write: a batch whose commit was not confirmed is reported to its
callers as possibly written (see `Writer.submit_batch`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from accord.log.event import Entry
from accord.log.note import NoteSigner
from accord.picture.fold import Picture
from accord.picture.readmodel import ReadModel
from accord.service.election import HEARTBEAT_S, Holder, Seat, SeatLost, channel, holder
from accord.service.follower import Follower
from accord.service.writer import Sequencer, Writer, load_picture
from accord.timefmt import Clock

log = logging.getLogger("accord.cluster")

Listener = Callable[[list[tuple[int, Entry]]], None]


def snapshot_loader(signer: NoteSigner) -> Callable[[Any], Picture]:
    """Loads the picture from a store's projection in one REPEATABLE READ snapshot (the
    writer commits on while a follower loads)."""

    def load(store: Any) -> Picture:
        with store.db.transaction():
            store.db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return load_picture(store, signer.public_key, signer.name)

    return load


@dataclass
class Writing:
    """What a process holds while it has the seat."""

    seat: Seat
    store: Any
    writer: Writer
    sequencer: Sequencer


class Cluster:
    """The shared-database side of one `accord serve` process (see the module's docstring)."""

    def __init__(self, open_store: Callable[[bool], Any], signer: NoteSigner, clock: Clock,
                 *, max_batch: int, election_interval_s: float, follow_poll_s: float,
                 session_timeout_s: float, publish: Listener) -> None:
        """`open_store(readonly)` opens a new session on the deployment's database;
        `publish` hears of every new entry once, in order, whoever wrote it."""
        self.open_store = open_store
        self.signer = signer
        self.clock = clock
        self.max_batch = max_batch
        self.election_interval_s = election_interval_s
        self.follow_poll_s = follow_poll_s
        self.session_timeout_s = session_timeout_s
        self.publish = publish
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.url: str | None = None
        self.writing: Writing | None = None
        self.takeovers = 0
        self.stepped_down = 0
        self.last_change: float | None = None
        self._stop = threading.Event()
        self._lost = threading.Event()  # the writer's thread saw the seat go
        self._lock = threading.RLock()  # the follower and the role change
        self.follower = Follower(open_store(True), snapshot_loader(signer), clock)
        self.follower.listeners.append(self._followed)
        self._published_size = self.follower.size
        self._listening = False
        self._holder: tuple[float, Holder | None] = (0.0, None)
        self._last_written: ReadModel | None = None  # the model when it stopped writing
        self._threads: list[threading.Thread] = []
        self._store_for_seat: tuple[Any, Seat] | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, url: str | None) -> None:
        """Stand for election, announcing `url` as where writes are to be sent. The first
        try is made here, so a process alone on its database writes before it serves."""
        self.url = url
        self._store_for_seat = self._stand(None, None)
        for target, name in ((self._follow, "accord-follow"),
                             (self._elect, "accord-election")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def announce(self, url: str | None) -> None:
        """Where this process serves, for the others to send writes to: recorded with the
        seat if it holds it now, and with any later taking."""
        self.url = url
        if self._store_for_seat is not None:
            self._store_for_seat[1].url = url
        w = self.writing
        if w is not None:
            seat = w.seat
            seat.url = url
            w.sequencer.call(lambda _w: seat.conn.execute(
                "UPDATE accord_writer SET url = %s WHERE id = 1 AND term = %s",
                (url, seat.term))).result(10)

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()
        with self._lock:
            if self.writing is not None:
                self._give_up("the service is stopping")
            try:
                self.follower.store.close()
            except Exception:
                log.debug("closing the follower's session failed", exc_info=True)

    # -- what the service reads ----------------------------------------------------------------

    @property
    def published(self) -> ReadModel:
        """The committed read model: the writer's while this process writes, else the
        follower's (after a step down, the last writer's until the follower is as far)."""
        w = self.writing
        if w is not None:
            return w.writer.published
        model = self.follower.published
        last = self._last_written
        if last is not None:
            if model.size < last.size:
                return last
            self._last_written = None
        return model

    def holder(self, store: Any) -> Holder | None:
        """Who holds the seat (as recorded; read through `store` at most once a second)."""
        at, known = self._holder
        if time.monotonic() - at < 1.0:
            return known
        known = holder(store.db)
        self._holder = (time.monotonic(), known)
        return known

    def status(self) -> dict[str, Any]:
        w = self.writing
        out: dict[str, Any] = {"role": "writer" if w is not None else "follower",
                               "name": self.name, "url": self.url,
                               "takeovers": self.takeovers, "stepped_down": self.stepped_down}
        if w is not None:
            out["term"] = w.seat.term
        return out

    # -- the follow thread ----------------------------------------------------------------------

    def _followed(self, entries: list[tuple[int, Entry]]) -> None:
        self._published_size = entries[-1][0] + 1
        self.publish(entries)

    def _follow(self) -> None:
        backoff = 0.2
        while not self._stop.is_set():
            if self.writing is not None:
                self._stop.wait(self.follow_poll_s)
                continue
            try:
                with self._lock:
                    if self.writing is None:
                        self._listen()
                        self.follower.catch_up()
                self._wait_for_commit()
                backoff = 0.2
            except Exception as exc:
                log.warning("following the log failed (%s: %s); reconnecting",
                            type(exc).__name__, exc)
                self._reconnect_follower()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def _listen(self) -> None:
        if not self._listening:
            self.follower.store.db.execute(f"LISTEN {self._channel()}")
            self._listening = True

    def _channel(self) -> str:
        return channel(self.signer.name)

    def _wait_for_commit(self) -> None:
        """Until the writer says it committed (or `follow_poll_s` passes)."""
        db = self.follower.store.db
        for _ in db.notifies(timeout=self.follow_poll_s, stop_after=1):
            pass

    def _reconnect_follower(self) -> None:
        with self._lock:
            old = self.follower.store
            try:
                old.close()
            except Exception:
                log.debug("closing a broken session failed", exc_info=True)
            self._listening = False
            try:
                self.follower.store = self.open_store(True)
            except Exception as exc:
                log.warning("cannot reach the database (%s)", exc)

    # -- the election thread --------------------------------------------------------------------

    def _elect(self) -> None:
        held: tuple[Any, Seat] | None = self._store_for_seat
        while not self._stop.wait(self.election_interval_s):
            if self._lost.is_set():
                with self._lock:
                    self._give_up(None)
                self._lost.clear()
            if self.writing is not None:
                continue
            held = self._stand(*(held or (None, None)))
        if held is not None:
            held[0].close()

    def _stand(self, store: Any, seat: Seat | None) -> tuple[Any, Seat] | None:
        """One try for the seat; the candidate's session (kept between tries) or None."""
        try:
            if store is None or seat is None:
                store = self.open_store(False)
                seat = Seat(store.db, self.signer.name, self.name, self.url,
                            self.session_timeout_s)
            if seat.try_take() is None:
                return store, seat
            with self._lock:
                self._take_over(seat, store)
            return None  # the writer has them now
        except Exception as exc:
            log.warning("standing for the writer's seat failed (%s: %s)",
                        type(exc).__name__, exc)
            if store is not None:
                try:
                    store.close()
                except Exception:
                    log.debug("closing a broken session failed", exc_info=True)
            return None

    def _take_over(self, seat: Seat, store: Any) -> None:
        """Write from now on: the state from the database, on the seat's own session."""
        started = time.monotonic()
        writer = Writer(store, self.signer, self.clock, fence=seat.fence)
        # Streams hear of every entry, in order: first what the last writer committed and
        # this process has not followed yet, then this writer's batches.
        self.follower.catch_up()
        if self.follower.size != writer.picture.size:
            self.follower.reload()
        writer.listeners.append(self._written)
        sequencer = Sequencer(writer, self.max_batch, maintain=self._heartbeat(seat))
        self.writing = Writing(seat, store, writer, sequencer)
        self.takeovers += 1
        self.last_change = time.time()
        self._holder = (0.0, None)
        log.info("writing", extra={"event": "writer", "term": seat.term, "entries":
                                   writer.picture.size,
                                   "ms": round((time.monotonic() - started) * 1e3, 1)})

    def _written(self, entries: list[tuple[int, Entry]]) -> None:
        if entries:
            self._published_size = entries[-1][0] + 1
        self.publish(entries)

    def _heartbeat(self, seat: Seat) -> Callable[[bool], None]:
        last = time.monotonic()

        def beat(idle: bool) -> None:  # on the writer's thread, between batches
            nonlocal last
            # Under load every batch proves the seat (the fence); idle, one query a second.
            if self._lost.is_set() or (not idle and time.monotonic() - last < HEARTBEAT_S):
                return
            last = time.monotonic()
            try:
                seat.heartbeat()
            except SeatLost as exc:
                log.error("lost the writer's seat: %s", exc)
                self._lost.set()
        return beat

    def _give_up(self, why: str | None) -> None:
        """Stop writing: what is queued is answered (Unavailable), the session is closed (the
        lock goes with it), and the follower takes the read model on from the database."""
        w = self.writing
        if w is None:
            return
        w.sequencer.close()
        w.seat.close()
        self._last_written = w.writer.published
        self.writing = None
        self.stepped_down += 1
        self.last_change = time.time()
        self._holder = (0.0, None)
        log.warning("stopped writing", extra={"event": "stepped_down",
                                              "why": why or w.seat.lost})
        try:
            self._listen()
            self.follower.catch_up()
        except Exception:
            log.warning("the follower could not catch up yet; it retries", exc_info=True)
            self._listening = False
