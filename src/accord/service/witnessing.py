"""Getting the log's checkpoints witnessed: submit each new checkpoint to the agreement's
witnesses, in the background, and keep their cosignatures.

Rounds: the coordinator takes the latest checkpoint and hands it to every witness's worker
(one thread and one keep-alive HTTP client per witness); a round ends when every worker is
done with it, or after `round_s`, whichever is first, and the next round takes the checkpoint
that is latest then. So witnesses that keep up cosign the same checkpoints (a quorum needs
cosignatures of one size), a slow witness never holds the others back for longer than a
round, and a dead one is tried again after a backoff that doubles up to `max_backoff_s`.
Nothing here runs on the writer's thread: the writer only sets an event after each batch.

The consistency proof for a witness comes from the store, from the size the witness last
cosigned (learned from its 200s, or from its 409, which carries its size). A witness that
refuses a checkpoint as inconsistent (422) is logged loudly: that is a witness telling the
operator its log forked.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from accord.errors import AccordError, ProofError, SizeMismatch
from accord.log.cosignature import WitnessKey, WitnessPolicy, cosignatures, merge_cosignatures
from accord.log.merkle import consistency_proof
from accord.store.base import Store
from accord.store.witnessed import CosignatureBook
from accord.witness.submit import add_checkpoint

log = logging.getLogger("accord.witnessing")


@dataclass
class WitnessStatus:
    name: str
    url: str | None
    size: int = 0  # the size this witness last cosigned, as far as we know
    last_ok: float | None = None
    last_error: str | None = None
    failures: int = 0
    retry_at: float = 0.0
    busy: bool = False
    timestamp: int | None = None

    def to_json(self, now: float) -> dict[str, Any]:
        return {"witness": self.name, "url": self.url, "size": self.size,
                "cosigned_at": self.timestamp,
                "last_ok_s_ago": None if self.last_ok is None else round(now - self.last_ok, 3),
                "last_error": self.last_error, "failures": self.failures}


@dataclass
class _Round:
    size: int
    note: str
    started: float
    pending: set[str] = field(default_factory=set)


class Witnessing:
    """Background submission of checkpoints to the witnesses of the agreement in force."""

    def __init__(self, book: CosignatureBook, open_store: Callable[[], Store],
                 policy: Callable[[], WitnessPolicy | None], *, round_s: float = 1.0,
                 timeout_s: float = 5.0, max_backoff_s: float = 30.0) -> None:
        self.book = book
        self._open_store = open_store
        self._policy = policy
        self.round_s = round_s
        self.timeout_s = timeout_s
        self.max_backoff_s = max_backoff_s
        self._cv = threading.Condition()
        self._stop = False
        self._new = False
        self._round: _Round | None = None
        self._status: dict[str, WitnessStatus] = {}
        self._workers: dict[str, threading.Thread] = {}
        self.wakeups = 0  # times the coordinator looked for work (tests: never a busy loop)
        self._coordinator = threading.Thread(target=self._coordinate, name="accord-witnessing",
                                             daemon=True)
        self._coordinator.start()

    # -- called by the service ----------------------------------------------------------------

    def notify(self) -> None:
        """A batch committed: there may be a new checkpoint (cheap: the writer calls this)."""
        with self._cv:
            self._new = True
            self._cv.notify_all()

    def close(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        self._coordinator.join(10)
        for t in list(self._workers.values()):
            t.join(self.timeout_s + 1)

    def status(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        with self._cv:
            return [s.to_json(now) for s in self._status.values()]

    # -- the coordinator ----------------------------------------------------------------------

    def _coordinate(self) -> None:
        store = self._open_store()
        try:
            while True:
                with self._cv:
                    # woken by a new batch or a finished round; the timeout is the deadline of
                    # a round a slow witness holds up (never a busy loop when idle)
                    self._cv.wait_for(lambda: self._stop or self._new, timeout=self.round_s)
                    if self._stop:
                        return
                    self._new = False
                try:
                    self._next_round(store)
                except Exception:  # keep witnessing; the cause is in the log
                    log.exception("witnessing round failed")
        finally:
            store.close()

    def _round_over(self) -> bool:
        r = self._round
        return r is None or not r.pending or time.monotonic() - r.started >= self.round_s

    def _next_round(self, store: Store) -> None:
        self.wakeups += 1
        policy = self._policy()
        with self._cv:
            if not self._round_over():
                return
            cp = store.checkpoint()
            if policy is None or cp is None:
                return
            size, note = cp
            if self._round is not None and self._round.size >= size and not self._idle_behind(
                    size):
                return
            now = time.monotonic()
            self._round = _Round(size, note, now)
            for w in policy.witnesses:
                if w.url is None:
                    continue
                st = self._status.get(w.name)
                if st is None or st.url != w.url:
                    st = WitnessStatus(w.name, w.url, size=self.book.last_size(w.name))
                    self._status[w.name] = st
                if w.name not in self._workers:
                    t = threading.Thread(target=self._work, args=(w,), daemon=True,
                                         name=f"accord-witness-{len(self._workers)}")
                    self._workers[w.name] = t
                    t.start()
                if st.size < size and now >= st.retry_at:
                    self._round.pending.add(w.name)
            self._cv.notify_all()

    def _idle_behind(self, size: int) -> bool:
        """Some witness is idle, reachable again, and behind `size`: worth a round."""
        now = time.monotonic()
        return any(not s.busy and s.size < size and now >= s.retry_at
                   for s in self._status.values())

    # -- a witness's worker -------------------------------------------------------------------

    def _work(self, w: WitnessKey) -> None:
        store = self._open_store()
        client = httpx.Client(timeout=httpx.Timeout(self.timeout_s, connect=2.0))
        try:
            while True:
                with self._cv:
                    self._cv.wait_for(lambda: self._stop or (
                        self._round is not None and w.name in self._round.pending))
                    if self._stop:
                        return
                    assert self._round is not None
                    size, note = self._round.size, self._round.note
                    st = self._status[w.name]
                    st.busy = True
                try:
                    self._submit(store, client, w, st, size, note)
                finally:
                    with self._cv:
                        st.busy = False
                        if self._round is not None:
                            self._round.pending.discard(w.name)
                            if not self._round.pending:
                                self._new = True  # the round is over: the next may start
                        self._cv.notify_all()
        finally:
            client.close()
            store.close()

    def _submit(self, store: Store, client: httpx.Client, w: WitnessKey,
                st: WitnessStatus, size: int, note: str) -> None:
        assert w.url is not None
        if st.size > size:
            st.size = 0  # unknown: old size 0 makes the witness say its size (409)
        for _ in range(3):  # a 409 tells us the witness's size: try again from there
            old = st.size
            proof = consistency_proof(store, old, size) if 0 < old < size else []
            try:
                lines = add_checkpoint(client, w.url, old, proof, note)
                cosigned = merge_cosignatures(note, lines)
                _, good = cosignatures(cosigned, WitnessPolicy((w,), 1))
                if not good:
                    raise ProofError(f"the witness {w.name} answered without a cosignature "
                                     f"by its key", field="witness")
                line = next(x for x in lines if x.split(" ")[1] == w.name)
                self.book.add(size, w.name, line, good[0].timestamp)
                with self._cv:
                    st.size, st.timestamp = size, good[0].timestamp
                    st.last_ok, st.last_error, st.failures = time.monotonic(), None, 0
                return
            except SizeMismatch as e:
                with self._cv:
                    st.size = e.size
                if e.size > size:
                    # the witness cosigned a larger checkpoint than we hold: a store rolled back
                    # or another copy of the log ran; never our history
                    self._failed(st, f"the witness holds size {e.size}, larger than the "
                                     f"log's {size}: the log was rolled back", loud=True)
                    return
                continue  # from the witness's size (equal: it cosigns the same again)
            except AccordError as e:
                self._failed(st, e.detail, loud=isinstance(e, ProofError))
                return
            except Exception as e:  # a bug must not end the worker
                log.exception("witness submission failed")
                self._failed(st, f"{type(e).__name__}: {e}", loud=False)
                return

    def _failed(self, st: WitnessStatus, why: str, *, loud: bool) -> None:
        with self._cv:
            st.failures += 1
            st.last_error = why
            st.retry_at = time.monotonic() + min(self.max_backoff_s,
                                                 0.25 * 2 ** min(st.failures, 10))
        (log.error if loud else log.warning)(
            "witness %s: %s", st.name, why, extra={"event": "witness-failed"})
