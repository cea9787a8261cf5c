"""Several `accord serve` processes of one deployment on PostgreSQL, parties filing through
them, and the checks that a failover lost no receipted entry and forked nothing. Shared by
tests/service/test_failover.py, tests/service/test_patroni.py and bench/failover.py.

A `Party` files notices one after another (a party's events go in seq order), each time to
the next process in its list, as a client that knows several addresses would. An answer with
a receipt is recorded with the time it came; a refusal the service says wrote nothing is
sent again; an answer that leaves it open ("may have been written") is settled by asking
`GET /v1/me` for the next seq, and the notice is signed again with that seq. Nothing a party
does relies on which process writes.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from accord import commands
from accord.keys import KeyFile
from accord.log.event import Context
from accord.log.merkle import leaf_hash, root
from accord.log.note import NoteVerifier, open_checkpoint
from accord.log.receipt import Receipt, prove_json
from accord.timefmt import SystemClock

SRC = Path(__file__).resolve().parents[1] / "src"


@dataclass
class Node:
    """One `accord serve` process."""

    proc: subprocess.Popen[str]
    url: str
    log: Path

    def readyz(self) -> dict[str, Any] | None:
        try:
            r = httpx.get(self.url + "/readyz", timeout=5)
        except httpx.HTTPError:
            return None
        return dict(r.json()) if r.status_code == 200 else None

    def role(self) -> str | None:
        doc = self.readyz()
        return None if doc is None else str(doc["writer"].get("role"))

    def kill(self) -> None:
        """SIGKILL: no goodbye to the database, no flushing; the kernel closes its sockets."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def serve(dir: Path, log: Path, env: dict[str, str] | None = None) -> Node:
    """Start `accord serve DIR` on a free port; returns once it listens."""
    out = open(log, "w")  # noqa: SIM115 (the process writes it until it ends)
    proc = subprocess.Popen(
        [sys.executable, "-m", "accord", "serve", str(dir), "--port", "0", "--log-level",
         "warning"], stdout=subprocess.PIPE, stderr=out, text=True,
        env={**os.environ, "PYTHONPATH": str(SRC), **(env or {})})
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("Accord serving"):
        proc.wait(10)
        raise RuntimeError(f"accord serve did not start: {line!r}, {log.read_text()[-2000:]}")
    return Node(proc, line.rsplit(" ", 1)[-1], log)


def wait_for(what: str, check: Any, timeout: float, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(every)
    raise TimeoutError(f"{what}: not within {timeout:g} s")


def writer_of(nodes: list[Node]) -> Node:
    """The one process that says it writes (waits for the election)."""
    def one() -> Node | None:
        writing = [n for n in nodes if n.proc.poll() is None and n.role() == "writer"]
        return writing[0] if len(writing) == 1 else None
    found: Node = wait_for("a writer", one, 60)
    return found


def volume(lon: float, lat: float, start: Any) -> dict[str, Any]:
    return {"footprint": {"type": "Circle", "center": [round(lon, 6), round(lat, 6)],
                          "radius": {"value": 300, "units": "m"}},
            "altitude": {"lower": 0, "upper": 100, "units": "m", "reference": "W84"},
            "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": (start + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")}


@dataclass
class Acked:
    index: int
    at: float  # time.monotonic() when the answer came
    receipt: dict[str, Any]
    entry: bytes


@dataclass
class Party:
    """One party filing notices through `urls`, in a thread of its own."""

    key: KeyFile
    token: str
    urls: list[str]
    spot: tuple[float, float]
    acked: list[Acked] = field(default_factory=list)
    unsure: int = 0  # answers that left it open, settled through next_seq
    refused: dict[int, int] = field(default_factory=dict)  # status -> count (not written)
    failures: list[str] = field(default_factory=list)
    _turn: int = 0
    _thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return self.key.name

    def _client(self) -> httpx.Client:
        return httpx.Client(headers={"Authorization": f"Bearer {self.token}"},
                            timeout=httpx.Timeout(20.0, connect=1.0))

    def _url(self) -> str:
        self._turn += 1
        return self.urls[self._turn % len(self.urls)]

    def _context(self, http: httpx.Client, stop: threading.Event) -> Context | None:
        while not stop.is_set():
            try:
                r = http.get(self._url() + "/v1/me")
                if r.status_code == 200:
                    me = r.json()
                    return Context(me["log"], me["agreement"], me["next_seq"])
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        return None

    def run(self, stop: threading.Event, limit: int | None = None) -> None:
        clock = SystemClock()
        t0 = clock.now().replace(microsecond=0) + timedelta(hours=1)
        with self._client() as http:
            context = self._context(http, stop)
            n = 0
            while context is not None and not stop.is_set() and (limit is None or n < limit):
                start = t0 + timedelta(minutes=11 * (context.seq % 500))
                body, _ = commands.notice_body(
                    {"kind": "transit", "volumes": [volume(*self.spot, start)]}, self.name,
                    notice=f"{self.name}-{context.seq}")
                sub = commands.signed(self.key, "notice.file", context, clock.now(), body)
                try:
                    r = http.post(self._url() + "/v1/events",
                                  json={"event": sub.event, "sig": sub.sig})
                except httpx.ConnectError:
                    continue  # nothing reached a server: send it again
                except httpx.HTTPError:
                    r = None
                if r is not None and r.status_code == 200:
                    doc = r.json()
                    rc = doc["receipt"]
                    self.acked.append(Acked(doc["index"], time.monotonic(), rc,
                                            base64.b64decode(rc["entry"])))
                    context = context.next()
                    n += 1
                    continue
                status = 0 if r is None else r.status_code
                problem = {} if r is None else _json(r)
                if status in (409, 422, 400, 401, 403):
                    # Refused for what it is: a replayed seq means an earlier answer was
                    # lost after the entry was written; anything else is a real failure.
                    if status != 409:
                        self.failures.append(f"{status}: {problem}")
                    self.unsure += 1
                    context = self._context(http, stop)
                    continue
                if status == 0 or "may have been written" in str(problem.get("detail", "")):
                    self.unsure += 1
                    context = self._context(http, stop)
                    continue
                self.refused[status] = self.refused.get(status, 0) + 1
                time.sleep(0.02)  # 503 (an election is under way: nothing was written)

    def start(self, stop: threading.Event, limit: int | None = None) -> None:
        self._thread = threading.Thread(target=self.run, args=(stop, limit), daemon=True)
        self._thread.start()

    def join(self, timeout: float = 60) -> None:
        assert self._thread is not None
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"{self.name} did not stop"


def _json(r: httpx.Response) -> dict[str, Any]:
    try:
        doc = r.json()
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def check_receipts(parties: list[Party], store: Any, log_key: str) -> dict[str, int]:
    """Every receipt a party got proves its entry, that entry is in the log now at its index
    byte for byte, and every receipt's checkpoint is the log's own tree at that size (a
    second writer acknowledging would have signed another tree). Returns counts."""
    verifier = NoteVerifier.parse(log_key)
    size = store.size()
    roots: dict[int, bytes] = {}
    seen: dict[int, bytes] = {}
    n = 0
    for p in parties:
        for a in p.acked:
            prove_json(a.receipt, log_key)  # the receipt proves its own entry
            receipt = Receipt.from_json(a.receipt)
            assert a.index == receipt.index < size, (p.name, a.index, size)
            assert store.entry(a.index) == a.entry, f"entry {a.index} is not the receipted one"
            assert leaf_hash(a.entry) == receipt.leaf_hash
            assert seen.setdefault(a.index, a.entry) == a.entry, f"two receipts at {a.index}"
            cp = open_checkpoint(receipt.checkpoint, verifier)
            if cp.size not in roots:
                roots[cp.size] = root(store, cp.size)
            assert roots[cp.size] == cp.root, f"a receipt's checkpoint at {cp.size} is not " \
                                              "this log's tree"
            n += 1
    return {"receipts": n, "checkpoints": len(roots), "entries": size}
