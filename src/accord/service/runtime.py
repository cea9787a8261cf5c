"""A running Accord service: the one writer on its thread, the escalation timer, read access
that never waits for the writer, and the feed of new entries for live streams.

The HTTP API is a thin adapter over this object; tests and the networked demo can drive it
directly too. Everything here is threads and SQLite; one small bridge (`Service.wait`) lets
the API await a writer's answer with a time limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import logging
import secrets
import sqlite3
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from accord.errors import (
    AccordError,
    DeploymentError,
    InvalidInput,
    NotFound,
    NotWriter,
    Unavailable,
)
from accord.geo.box import volume_box
from accord.log.cosignature import WitnessPolicy
from accord.log.event import Entry
from accord.log.note import NoteSigner
from accord.log.refusal import Refusal, request_hash, sign_refusal
from accord.picture.fold import PictureReads, filed, id_taken
from accord.picture.view import Area
from accord.rules.check import check
from accord.rules.notice import Notice
from accord.service.asof import picture_at
from accord.service.backup import refuse_if_behind, watch_high_water
from accord.service.cluster import Cluster
from accord.service.deployment import CONFIG, Deployment, WriterLock
from accord.service.election import Holder
from accord.service.tactical import TacticalMonitor
from accord.service.witnessing import Witnessing
from accord.service.writer import SNAPSHOT_EVERY, Outcome, Sequencer, Submission, Writer
from accord.store.base import Store
from accord.store.sqlite import WAL_LIMIT_BYTES, SqliteStore
from accord.store.witnessed import WITNESSED_DB, CosignatureBook, witnessed_note
from accord.timefmt import Clock, SystemClock, format_time

log = logging.getLogger("accord.service")
T = TypeVar("T")


@dataclass(frozen=True)
class ServiceConfig:
    """Operator settings from `[service]` in accord.toml (all optional)."""

    host: str = "127.0.0.1"
    port: int = 8470
    max_body_bytes: int = 1 << 20
    rate_per_second: float = 2000.0  # per party, token bucket
    burst: int = 4000
    max_batch: int = 512
    timer_interval_s: float = 0.2
    tactical_interval_s: float = 1.0  # detection cycles (the issue asks for >= 1 per second)
    track_max_age_s: float = 30.0
    max_open_alerts: int = 50  # per party; beyond it one overflow alert (AlertBook)
    write_timeout_s: float = 15.0  # a write not answered by then gets 503, never a hang
    wal_limit_bytes: int = WAL_LIMIT_BYTES  # past this the writer restarts the WAL
    wal_checkpoint_interval_s: float = 0.5  # passive checkpoints by the helper thread
    witness_round_s: float = 1.0  # a witnessing round waits at most this for slow witnesses
    witness_timeout_s: float = 5.0  # one add-checkpoint request to a witness

    # The HTTP edge (`accord serve`): slow or idle clients must not hold descriptors for good.
    header_timeout_s: float = 10.0  # from connecting (or the last answer) to the full headers
    body_timeout_s: float = 30.0  # from the headers to the full body
    idle_timeout_s: float = 5.0  # keep-alive: a connection idle between requests is closed
    max_connections: int = 4096  # all clients together (kept well below the fd limit)
    max_connections_per_client: int = 64  # per client address (an IPv6 /64 counts as one)
    max_streams_per_party: int = 8  # open /v1/stream responses of one party
    stream_backlog: int = 4096  # entries waiting for one stream; past it, it reads the store
    stream_send_timeout_s: float = 10.0  # a stream's client that takes nothing for this long
    # The writer snapshots the fold every so many entries: a picture as of T folds at most
    # that many entries after the nearest snapshot (accord.picture.snapshot).
    snapshot_every: int = SNAPSHOT_EVERY

    # Several processes on one PostgreSQL database (accord.service.cluster).
    election_interval_s: float = 0.25  # a follower tries for the writer's seat this often
    follow_poll_s: float = 1.0  # a follower reads the log at least this often (and on NOTIFY)
    session_timeout_s: float = 5.0  # the server cuts a writer's session idle this long

    def __post_init__(self) -> None:
        """Every number must be usable: a typo in accord.toml is refused at start, not met
        under load (a zero rate, a negative timeout, a float where a count belongs)."""
        for name, spec in ServiceConfig.__dataclass_fields__.items():
            value, default = getattr(self, name), spec.default
            if isinstance(default, str):
                if not isinstance(value, str) or not value:
                    raise DeploymentError(f"[service] {name} must be a non-empty string, "
                                          f"not {value!r}", accepted="a string")
                continue
            whole = isinstance(default, int)
            kind = int if whole else int | float
            least = 0 if name == "port" else (1 if whole else 0)
            if (isinstance(value, bool) or not isinstance(value, kind)
                    or not value >= least or (not whole and not value > 0)
                    or (name == "port" and value > 65535)):
                what = "a whole number" if whole else "a number above 0"
                limit = " from 0 to 65535" if name == "port" else (f" >= {least}" if whole else "")
                raise DeploymentError(f"[service] {name} = {value!r} is not usable",
                                      accepted=f"{what}{limit}")
        if not 16 <= self.snapshot_every <= 10_000_000:
            raise DeploymentError(f"[service] snapshot_every = {self.snapshot_every!r} is not "
                                  "usable", accepted="a whole number from 16 to 10000000 "
                                                     "(entries between two snapshots)")

    @staticmethod
    def load(dir: Path) -> ServiceConfig:
        try:
            doc = tomllib.loads((Path(dir) / CONFIG).read_text()).get("service", {})
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise DeploymentError(f"cannot read {Path(dir) / CONFIG}: {exc}") from None
        known = set(ServiceConfig.__dataclass_fields__)
        unknown = sorted(set(doc) - known)
        if unknown:
            raise DeploymentError(f"unknown [service] settings {unknown}",
                                  accepted=", ".join(sorted(known)))
        return ServiceConfig(**doc)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def issue_token(store: Store, party: str, label: str, clock: Clock) -> str:
    """A new bearer token bound to `party`; only its SHA-256 is stored."""
    token = "acc_" + secrets.token_urlsafe(32)
    with store.transaction():
        store.add_token(token_hash(token), party, label, format_time(clock.now()))
    return token


class RateLimiter:
    """A token bucket per party: `rate` requests a second, bursts up to `burst`."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, party: str) -> float:
        """0 if allowed now, else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(party, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[party] = (tokens - 1.0, now)
                return 0.0
            self._buckets[party] = (tokens, now)
            return (1.0 - tokens) / self.rate


class Service:
    """Owns the deployment's writer while it runs; reads use their own connections."""

    def __init__(self, dir: Path, clock: Clock | None = None,
                 config: ServiceConfig | None = None) -> None:
        self.deployment = Deployment.open(dir)
        self.config = config or ServiceConfig.load(dir)
        self.clock = clock or SystemClock()
        # On PostgreSQL several processes may serve one deployment: the one holding the
        # writer's seat writes, the others follow (accord.service.cluster). On SQLite this
        # process is the one writer, by the folder's lock.
        self.cluster: Cluster | None = None
        self._solo: tuple[Writer, Sequencer] | None = None
        self.lock: WriterLock | None = None
        self._store: SqliteStore | None = None
        self._wal_retry_at = 0.0
        self.wal_restarts = 0
        self.wal_failures = 0  # restarts in a row that readers held up
        self.wal_stall_ms = 0.0  # the longest a restart held the writer up
        self._listeners: list[Callable[[list[tuple[int, Entry]]], None]] = []
        signer = self.deployment.signer()
        self.operator_key = signer.public_key
        self._log_signer = signer
        # Witnesses cosign checkpoints in the background; the writer only rings a bell
        # (`_publish`, in the writing process).
        self.cosignatures = CosignatureBook(self.deployment.dir / WITNESSED_DB)
        self.witnessing = Witnessing(
            self.cosignatures, lambda: self.deployment.store(readonly=True),
            self.witness_policy, round_s=self.config.witness_round_s,
            timeout_s=self.config.witness_timeout_s)
        try:
            if self.deployment.backend == "postgresql":
                self.cluster = Cluster(
                    lambda readonly: self.deployment.store(readonly=readonly), signer,
                    self.clock, max_batch=self.config.max_batch,
                    election_interval_s=self.config.election_interval_s,
                    follow_poll_s=self.config.follow_poll_s,
                    session_timeout_s=self.config.session_timeout_s, publish=self._publish)
                # As a lone writer would: never on a restored or rolled-back log without the
                # operator's word, and the newest checkpoint kept beside the deployment.
                refuse_if_behind(self.deployment, self.cluster.follower.store)
                cluster = self.cluster
                self._listeners.append(watch_high_water(
                    self.deployment.dir, lambda: cluster.published.checkpoint))
            else:
                self._start_alone(signer)
        except BaseException:
            if self.cluster is not None:
                self.cluster.close()
            self.witnessing.close()
            self.cosignatures.close()
            raise
        self.limiter = RateLimiter(self.config.rate_per_second, self.config.burst)
        self._reads = threading.local()
        self._readers: list[Any] = []  # every reader's store, closed with the service
        self._tokens: dict[bytes, tuple[str | None, float]] = {}
        self._stop = threading.Event()
        self._timer = threading.Thread(target=self._escalation_timer, name="accord-timer",
                                       daemon=True)
        self._timer.start()
        self.monitor = TacticalMonitor(self.clock,
                                       timedelta(seconds=self.config.track_max_age_s),
                                       max_open_alerts=self.config.max_open_alerts)
        self._tactical = threading.Thread(target=self._tactical_loop, name="accord-tactical",
                                          daemon=True)
        self._tactical.start()
        # The writer never stops to copy the WAL back into the database (a stall of tens of
        # milliseconds every thousand pages); a helper does it in passive mode instead.
        self._checkpointer = threading.Thread(target=self._wal_checkpoints,
                                              name="accord-wal", daemon=True)
        if self._store is not None:
            self._checkpointer.start()
        # The picture is long-lived and mostly acyclic: keep it out of the cyclic collector's
        # way. Collections every 700 allocations (the default) cost p99 latency 50% under load
        # (bench/ingest.py: p99 59 ms against 41 ms with these thresholds).
        gc.freeze()
        gc.set_threshold(50_000, 20, 100)
        self.started = format_time(self.clock.now())
        if self.cluster is not None:
            # Alone on its database it writes at once (the first try is made here); `serve`
            # then announces the URL it listens on.
            self.cluster.start(None)

    def _start_alone(self, signer: NoteSigner) -> None:
        """SQLite: this process is the deployment's one writer while it holds the lock."""
        self.lock = WriterLock(self.deployment.dir)
        self.lock.acquire()
        try:
            store = self.deployment.store()
        except BaseException:
            self.lock.release()
            raise
        try:
            assert isinstance(store, SqliteStore)
            refuse_if_behind(self.deployment, store)
            writer = Writer(store, signer, self.clock,
                            snapshot_every=self.config.snapshot_every)
        except BaseException:
            store.close()
            self.lock.release()
            raise
        # The newest checkpoint signed, kept outside the database: a restore behind it is
        # caught at the next start (service/backup.py).
        writer.listeners.append(watch_high_water(
            self.deployment.dir, lambda: writer.published.checkpoint))
        self._store = store
        # The writer's connection: a WAL that passed the limit is cut back (see _bound_wal).
        store.manual_checkpoints()
        store.set_wal_limit(self.config.wal_limit_bytes)
        sequencer = Sequencer(writer, self.config.max_batch, maintain=self._bound_wal)
        writer.listeners.append(self._publish)
        self._solo = (writer, sequencer)

    def announce(self, url: str | None) -> None:
        """Serving at `url` (what other processes pass writes on to). On PostgreSQL this
        process stands for the writer's seat from its start; on SQLite it writes anyway."""
        if self.cluster is not None:
            self.cluster.announce(url)

    # -- the role -----------------------------------------------------------------------------

    @property
    def writes(self) -> bool:
        """Whether this process writes now (on SQLite always; on PostgreSQL while it holds
        the writer's seat)."""
        return self.cluster is None or self.cluster.writing is not None

    def _writing(self) -> tuple[Writer, Sequencer]:
        if self._solo is not None:
            return self._solo
        assert self.cluster is not None
        w = self.cluster.writing
        if w is None:
            raise NotWriter("this process does not hold the writer's seat",
                            field="writer", accepted="the writer (GET /readyz names it)")
        return w.writer, w.sequencer

    @property
    def writer(self) -> Writer:
        """The writer, while this process writes (else NotWriter)."""
        return self._writing()[0]

    @property
    def sequencer(self) -> Sequencer:
        return self._writing()[1]

    @property
    def store(self) -> Any:
        """The writer's store, while this process writes (else NotWriter)."""
        return self.writer.store

    @property
    def published(self) -> PictureReads:
        """The committed read model: the writer's, or on a follower the one it folds."""
        if self._solo is not None:
            return self._solo[0].published
        assert self.cluster is not None
        return self.cluster.published

    def writer_url(self) -> str | None:
        """Where the writer serves (None: no process holds the seat, or it named no URL)."""
        if self.cluster is None:
            return None
        with self.reader() as store:
            holder: Holder | None = self.cluster.holder(store)
        return None if holder is None else holder.url

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the timer, let the writer finish what is queued, close the store, unlock."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._timer.join()
        self._tactical.join()
        if self._checkpointer.is_alive():
            self._checkpointer.join()
        self.witnessing.close()
        self.cosignatures.close()
        if self.cluster is not None:
            self.cluster.close()
        if self._solo is not None:
            self._solo[1].close()
            self._solo[0].store.close()
        if self.lock is not None:
            self.lock.release()
        for store in self._readers:
            try:
                store.close()
            except Exception:
                log.debug("closing a reader failed", exc_info=True)
        log.info("service stopped", extra={"event": "stopped"})

    @property
    def ready(self) -> bool:
        return not self._stop.is_set() and self._timer.is_alive()

    def writer_health(self) -> dict[str, Any]:
        """The writer thread's health for /readyz; raises Unavailable (with the same fields)
        when it cannot write: stopped, or stuck on one batch for longer than a write waits.
        A follower (PostgreSQL) answers with its role and the writer it knows."""
        if not self.writes:
            assert self.cluster is not None
            status = self.cluster.status()
            status["writer_url"] = self.writer_url()
            status["entries_followed"] = self.published.size
            return status
        health = self.sequencer.health()
        health["store"] = self.deployment.backend
        if self.cluster is not None:
            health.update(self.cluster.status())
        if self._store is not None:
            health["wal_bytes"] = self._store.wal_bytes()
            health["wal_limit_bytes"] = self.config.wal_limit_bytes
            health["wal_restarts"] = self.wal_restarts
            health["wal_failures"] = self.wal_failures
            health["wal_stall_ms"] = round(self.wal_stall_ms, 1)
        if not health["alive"]:
            raise Unavailable(f"the writer thread has stopped: {health['failure'] or 'closed'}",
                              field="writer", extra={"writer": health})
        if health["busy_s"] > self.config.write_timeout_s:
            raise Unavailable(f"the writer has been on one batch for {health['busy_s']:.0f} s",
                              field="writer", extra={"writer": health})
        return health

    def clock_status(self) -> dict[str, object]:
        """For `/readyz`: `{"state": "ok"}`, or `in doubt` after a step of the wall clock
        against the monotonic clock, with the step and for how much longer (docs/design.md,
        Events: clock steps). A follower reads no clock for the log: `not writing`."""
        if not self.writes:
            return {"state": "not writing"}
        return self.writer.watch.status()

    # -- writes -------------------------------------------------------------------------------

    def submit(self, sub: Submission) -> Future[Outcome]:
        return self.sequencer.submit(sub)

    def call(self, fn: Callable[[Writer], Any]) -> Future[Any]:
        """Run `fn(writer)` on the writer's thread, between batches (a consistent view)."""
        return self.sequencer.call(fn)

    async def wait(self, fut: Future[T]) -> T:
        """The writer's answer to `fut`, awaited for at most `write_timeout_s`.

        Cancelling the awaiting task (a client gone, shutdown) cancels the command only if
        the writer has not taken it yet; it is then dropped unwritten, and the writer never
        notices. When the time is up the answer is 503 saying whether the command can still
        be written."""
        limit = self.config.write_timeout_s
        try:
            return await asyncio.wait_for(asyncio.wrap_future(fut), limit)
        except TimeoutError:
            if fut.cancel() or fut.cancelled():
                raise Unavailable(
                    f"the writer did not take the command within {limit:g} s; it was "
                    "withdrawn and will not be written", field="writer",
                    accepted="the same command again once GET /readyz answers 200") from None
            if fut.done():  # it finished as the time ran out
                return fut.result()
            raise Unavailable(
                f"the writer took the command but did not finish it within {limit:g} s; "
                "it may still be written", field="writer",
                accepted="check GET /v1/me (next_seq) before sending it again: a replayed "
                         "seq is refused") from None

    def _tactical_loop(self) -> None:
        """Detection cycles on their own thread, over the committed read model (live notices
        and open alerts as of the last commit, never the writer's half-applied picture);
        only alert changes go to the writer."""
        while not self._stop.wait(self.config.tactical_interval_s):
            if not self.writes:
                continue  # the writer's process watches the tracks (they are sent to it)
            try:
                bodies = self.monitor.cycle(self.writer.published)
                if bodies:
                    written = self.sequencer.alerts(bodies).result(
                        self.config.write_timeout_s)
                    log.info("alerts", extra={"event": "alerts", "entries": written})
            except Exception:  # keep monitoring; the cause is in the log
                log.exception("tactical cycle failed")

    def _wal_checkpoints(self) -> None:
        """Passive checkpoints in the background: pages go back into the database without
        holding anyone up, so a restart (`_bound_wal`) finds little left to copy."""
        db = sqlite3.connect(self.deployment.db_path, check_same_thread=False)  # SQLite only
        db.execute(f"PRAGMA journal_size_limit = {int(self.config.wal_limit_bytes)}")
        try:
            while not self._stop.wait(self.config.wal_checkpoint_interval_s):
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.DatabaseError:
                    log.exception("WAL checkpoint failed")
        finally:
            db.close()

    WAL_WAIT_MS = 50  # the first wait for readers of older snapshots; doubled per failure
    WAL_WAIT_MAX_MS = 800
    WAL_RETRY_S = 0.2

    def _bound_wal(self, idle: bool) -> None:
        """On the writer's thread, between batches: once the WAL passes the limit, copy the
        rest back and have the next commit start the WAL over (RESTART; that commit cuts the
        file back to the limit, `journal_size_limit`), or when the writer is idle cut it to
        zero (TRUNCATE). The file is reused under load rather than grown again from zero.
        Readers never wait for it; the writer waits for the copy (little, after the passive
        checkpoints) and for readers that started before it, at first at most WAL_WAIT_MS.
        If they are still reading it tries again WAL_RETRY_S later, waiting twice as long
        each time (up to WAL_WAIT_MAX_MS): a short stall when it can, a bounded WAL always."""
        wal = self._store
        if wal is None or time.monotonic() < self._wal_retry_at:
            return
        size = wal.wal_bytes()
        if size <= self.config.wal_limit_bytes:
            return
        wait_ms = min(self.WAL_WAIT_MAX_MS, self.WAL_WAIT_MS << min(self.wal_failures, 8))
        started = time.perf_counter()
        done = wal.restart_wal(wait_ms, truncate=idle)
        stall_ms = (time.perf_counter() - started) * 1e3
        self.wal_stall_ms = max(self.wal_stall_ms, stall_ms)
        if done:
            self.wal_restarts += 1
            self.wal_failures = 0
        else:
            self.wal_failures += 1
        # A restart takes effect at the next commit: look again only after a moment.
        self._wal_retry_at = time.monotonic() + self.WAL_RETRY_S
        log.info("WAL restart", extra={"event": "wal_restart", "wal_bytes": size, "done": done,
                                       "truncate": idle, "ms": round(stall_ms, 2),
                                       "waited_ms": wait_ms})

    def _escalation_timer(self) -> None:
        """Wake a few times a second; when a deadline has passed, queue an escalation pass.

        The deadlines themselves live in the picture (derived from the log), so after a
        restart the first pass escalates whatever fell due while the service was down."""
        while not self._stop.wait(self.config.timer_interval_s):
            try:
                writer, sequencer = self._writing()
            except NotWriter:
                continue
            due = writer.next_deadline
            # A clock step seen here (or by a read) is logged by the next batch: queue one.
            writer.watch.now()
            if writer.watch.pending or (due is not None and due <= self.clock.now()):
                try:
                    written = sequencer.escalate().result(self.config.write_timeout_s)
                except Exception:  # keep the timer alive; the writer logs it
                    log.exception("escalation pass failed")
                    continue
                if written:
                    log.info("escalated", extra={"event": "escalated", "entries": written})

    # -- reads --------------------------------------------------------------------------------

    @contextmanager
    def reader(self) -> Iterator[Any]:
        """A read-only connection for this thread (it never waits for the writer). On a
        database server, a session that fails is dropped (the next read opens another) and
        the read answers 503."""
        store = getattr(self._reads, "store", None)
        if store is None:
            store = self.deployment.store(readonly=True)
            self._reads.store = store
            self._readers.append(store)
        try:
            yield store
        except AccordError:
            raise
        except Exception as exc:
            if self.cluster is None or not isinstance(exc, store.errors):
                raise
            self._reads.store = None
            with contextlib.suppress(ValueError):
                self._readers.remove(store)
            with contextlib.suppress(Exception):
                store.close()
            raise Unavailable(f"the database did not answer ({type(exc).__name__}); "
                              "nothing was written", field="database",
                              accepted="the same request again in a moment") from None

    def picture(self, at: datetime | None = None, area: Area | None = None) -> PictureReads:
        """The committed picture now (the read model the writer published after its last
        commit: no lock, no store read) or as of `at` (the nearest snapshot and the entries
        after it; with `area`, notices outside its box may be left out)."""
        if at is None:
            return self.published
        with self.reader() as store:
            return picture_at(store, self.operator_key, at, area=area,
                              origin=self.writer.origin)

    def notice(self, model: PictureReads, notice_id: str) -> Notice | None:
        """A notice by id: from the model while it is live, else (ended or cancelled: no
        longer in the live picture) from the store's projection."""
        n = model.notices.get(notice_id)
        if n is not None:
            return n
        with self.reader() as store:
            row = store.notice_json(notice_id)
        return None if row is None else Notice.from_json(row)

    def findings(self, model: PictureReads, party: str | None) -> list[dict[str, Any]]:
        """Every finding addressed to `party` (None: all) that `model` covers, closed and
        retired ones included, in log order: from the store's projection (a finding leaves
        the live picture with the notices it speaks of)."""
        with self.reader() as store:
            rows = list(store.findings_json())
        return [f for f in rows
                if f["entry"] < model.size and (party is None or party in f["parties"])]

    NEAR_TRIES = 3  # index reads that may meet a commit before the model is filtered

    def check(self, party: str, body: dict[str, Any]) -> dict[str, Any]:
        """The findings a `notice.file` body of `party` would raise now; nothing is written.

        On the read model, in the caller's thread (never the writer's): the same parse and
        the same pure `check` as a filing, with candidates from the store's 4D index read at
        the model's size (the model itself is filtered if commits keep getting in between).
        A private digest in the body is ignored: the check needs no reveal."""
        model = self.published
        agreement = model.require_agreement()
        agreement.party(party, "party")
        now = self.clock.now()
        event = model.context(party).event(
            "notice.file", party, format_time(now),
            {k: v for k, v in body.items() if k != "private_digest"})
        notice = filed(Entry(event=event, received_at=now, sig=""), agreement, model.size)
        if self.notice(model, notice.id) is not None:
            raise id_taken(notice.id)
        sep = agreement.separation
        reach = [volume_box(v).expand(sep.horizontal_m, sep.vertical_m) for v in notice.volumes]
        candidates: list[Notice] | None = None
        for _ in range(self.NEAR_TRIES):
            with self.reader() as store:
                ids, size = store.near_at(*reach)
            if size == model.size:
                candidates = [n for i in sorted(ids) if (n := model.notices.get(i)) is not None]
                break
        if candidates is None:
            candidates = [n for n in model.notices.values()
                          if any(volume_box(v).intersects(r) for v in n.volumes for r in reach)]
        findings = check(notice, agreement, now, candidates)
        return {"notice": notice.to_json(), "findings": [f.to_body() for f in findings]}

    def area_notices(self, model: PictureReads, area: Area) -> list[Notice] | None:
        """The notices of `model` whose 4D index boxes meet `area` (a superset of those in
        it), from the store's index; None when the index read was not at the model's size
        (the writer committed in between): the caller then filters the model itself."""
        with self.reader() as store:
            ids, size = store.near_at(area.box())
        if size != model.size:
            return None
        return [n for i in ids if (n := model.notices.get(i)) is not None]

    TOKEN_TTL_S = 2.0

    def party_for_token(self, token: str) -> str | None:
        """The party a bearer token belongs to. Remembered for TOKEN_TTL_S, so a revoked
        token stops working within two seconds, without a store read on every request."""
        digest = token_hash(token)
        now = time.monotonic()
        hit = self._tokens.get(digest)
        if hit is not None and now - hit[1] < self.TOKEN_TTL_S:
            return hit[0]
        with self.reader() as store:
            party: str | None = store.token_party(digest)
        if len(self._tokens) > 10_000:
            self._tokens.clear()
        self._tokens[digest] = (party, now)
        return party

    # -- refusals -----------------------------------------------------------------------------

    def refusal(self, raw: bytes, party: str, exc: AccordError) -> str:
        """The signed statement that `party`'s request `raw` was refused with `exc`, now."""
        hash_of, digest = request_hash(raw)
        return sign_refusal(Refusal(self.deployment.origin, hash_of, digest, party,
                                    self.clock.now(), exc.status, exc.slug, exc.detail),
                            self._log_signer)

    # -- witnesses ----------------------------------------------------------------------------

    def witness_policy(self) -> WitnessPolicy | None:
        if self._solo is None and self.cluster is None:
            return None  # still starting
        agreement = self.published.agreement
        return None if agreement is None else agreement.witnesses

    def witnessed(self) -> dict[str, Any]:
        """The latest checkpoint that a quorum of the agreement's witnesses cosigned, with
        their cosignatures merged in; NotFound when there is none (yet)."""
        policy = self.witness_policy()
        if policy is None:
            raise NotFound("the agreement in force names no witnesses", field="witnesses")
        names = [w.name for w in policy.witnesses]
        with self.reader() as store:
            got = witnessed_note(self.cosignatures, store, policy)
        if got is None:
            raise NotFound(f"no checkpoint has been cosigned by {policy.quorum} of the "
                           f"agreement's {len(names)} witnesses yet", field="witnesses",
                           extra={"witnesses": self.witnessing.status()})
        size, note = got
        return {"size": size, "checkpoint": note, "quorum": policy.quorum,
                "witnesses": names, "log_key": self.deployment.verifier_key}

    # -- the live feed ------------------------------------------------------------------------

    def subscribe(self, fn: Callable[[list[tuple[int, Entry]]], None]) -> Callable[[], None]:
        """Hear of new entries once durable; returns the function that unsubscribes."""
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn) if fn in self._listeners else None

    def _publish(self, entries: list[tuple[int, Entry]]) -> None:
        if self.writes:
            self.witnessing.notify()
        for fn in list(self._listeners):
            try:
                fn(entries)
            except Exception:  # one broken subscriber must not stop the writer
                log.exception("a stream subscriber failed")


def check_party(picture: PictureReads, party: str) -> None:
    """Refuse a token for someone who is not a party to the agreement in force."""
    agreement = picture.require_agreement()
    if party not in agreement.party_ids:
        raise InvalidInput(f"{party!r} is not a party to the agreement", field="party",
                           accepted=", ".join(agreement.party_ids))

