"""The live stream's memory is bounded whatever the client does, and it never loses an entry."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import Server, future_volume, make_deployment, start, stop

from accord.api.stream import Feed
from accord.keys import KeyFile
from accord.log.event import Entry


def _batch(first: int, n: int) -> list[tuple[int, Entry]]:
    return [(first + i, None) for i in range(n)]  # type: ignore[misc]  # the feed never looks


def test_a_feed_never_holds_more_than_its_limit() -> None:
    async def run() -> None:
        feed = Feed(limit=10)
        feed.offer(_batch(0, 4))
        feed.offer(_batch(4, 4))
        assert feed.waiting == 8 and not feed.behind
        feed.offer(_batch(8, 4))  # would make 12: the feed drops everything and says so
        assert feed.behind and feed.waiting == 0
        feed.offer(_batch(12, 1))  # still behind until the reader has caught up
        assert feed.behind and feed.waiting == 0
        assert await feed.take(timeout=0.01) is None
        feed.resume()
        feed.offer(_batch(13, 2))
        got = await feed.take(timeout=0.01)
        assert got is not None and [i for i, _ in got] == [13, 14]
        assert await feed.take(timeout=0.01) is None and not feed.behind
        for i in range(1000):  # a reader that never reads: the feed stays within its limit
            feed.offer(_batch(100 + 3 * i, 3))
            assert feed.waiting <= 10

    asyncio.run(run())


@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A service whose streams keep at most one waiting entry: every batch of two or more
    entries (a filing and its finding) sends the stream to the store to catch up."""
    dir: Path = tmp_path_factory.mktemp("stream") / "dep"
    keys, tokens = make_deployment(dir, service="stream_backlog = 1")
    s = start(dir, keys, tokens)
    yield s
    assert stop(s) == 0


def test_a_stream_that_overflows_catches_up_from_the_store_in_order(tight: Server) -> None:
    tight.file("B", {"kind": "transit", "volumes": [future_volume(35.0, 35.0)]})
    start_size = tight.size()
    got: list[int] = []
    opened = threading.Event()

    def follow() -> None:
        with tight.client("B") as c:
            opened.set()
            for index, _, _ in c.stream(start_size - 1, timeout=6):
                got.append(index)

    reader = threading.Thread(target=follow)
    reader.start()
    assert opened.wait(10)
    time.sleep(0.5)
    for i in range(6):  # each conflicts with B's notice: two entries in one batch
        answer = tight.file("A", {"kind": "transit",
                                  "volumes": [future_volume(35.0 + i * 0.001, 35.0)]})
        assert answer["findings"], answer
    reader.join(timeout=30)
    with tight.client("B") as c:
        visible = [e["index"] for e in c.entries(start_size, None, 1000) if not e.get("hidden")]
    assert len(visible) >= 12
    assert got == visible  # every entry B may read, once, in log order


def _fill(dir: Path, key: KeyFile, n: int) -> None:
    """`n` notices of A filed in-process (before the server starts), in batches."""
    from dataclasses import replace

    from accord import commands
    from accord.service.deployment import Deployment
    from accord.service.writer import Writer
    from accord.store.sqlite import SqliteStore
    from accord.timefmt import SystemClock

    clock = SystemClock()
    d = Deployment.open(dir)
    writer = Writer(SqliteStore(d.db_path), d.signer(), clock)
    for first in range(0, n, 250):
        ctx = writer.context("A")
        subs = []
        for k, i in enumerate(range(first, min(n, first + 250))):
            body, _ = commands.notice_body(
                {"kind": "transit", "volumes": [future_volume(20.0 + i * 0.01, 10.0)]}, "A",
                notice=f"A-{i}")
            subs.append(commands.signed(key, "notice.file", replace(ctx, seq=ctx.seq + k),
                                        clock.now(), body))
        assert not [r for r in writer.submit_batch(subs) if isinstance(r, Exception)]
    writer.store.close()


@pytest.fixture(scope="module")
def long_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A service over a log of 3,000 notices whose streams cut off a client after 1 s of not
    reading."""
    dir: Path = tmp_path_factory.mktemp("stream") / "dep"
    keys, tokens = make_deployment(dir, service="stream_send_timeout_s = 1.0")
    _fill(dir, keys["A"], 3000)
    s = start(dir, keys, tokens)
    yield s
    assert stop(s) == 0


def _events(raw: bytes) -> list[int]:
    """The ids of the complete SSE events in `raw` (an HTTP/1.1 chunked response)."""
    blocks = raw.split(b"\n\n")[:-1]  # the last one may be cut short
    return [int(line[4:]) for b in blocks for line in b.split(b"\n") if line.startswith(b"id: ")]


def test_a_client_that_stops_reading_is_cut_off_and_resumes_with_no_gap(
        long_log: Server) -> None:
    """A stream opened with no Last-Event-ID replays 3,000 entries (several MB); its client
    reads a little and stops. The server cuts it off (it does not wait for ever on a full
    socket); what arrived ends at a complete event, and a resume with Last-Event-ID gives
    the rest: every entry exactly once, in order."""
    import socket
    from urllib.parse import urlparse

    url = urlparse(long_log.url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills fast
    sock.connect((url.hostname, url.port))
    sock.sendall(f"GET /v1/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                 f"{long_log.tokens['A']}\r\n\r\n".encode())
    first = sock.recv(2048)
    assert first.startswith(b"HTTP/1.1 200")
    time.sleep(10)  # not reading: the server's send times out after 1 s (10 s: a busy machine)
    sock.settimeout(30)
    raw = first
    while chunk := sock.recv(65536):  # what was in flight, then the end of the connection
        raw += chunk
    sock.close()
    assert not raw.endswith(b"0\r\n\r\n")  # cut off, not a finished response
    got = _events(raw)
    assert got and got == sorted(set(got))
    size = long_log.size()
    assert got[-1] < size - 1  # it did not get everything before it was cut off
    with long_log.client("A") as c:
        for index, _, _ in c.stream(got[-1], timeout=5):
            got.append(index)
            if index == size - 1:
                break
    assert got == list(range(got[0], size))  # A may read every entry: no gap, no repeat


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_replays_with_no_last_event_id_do_not_grow_the_services_memory(
        long_log: Server) -> None:
    """Four streams opened with no Last-Event-ID at once, each replaying the whole 3,000-entry
    log: the service's memory stays within a bounded amount (pages of 512 entries, never the
    log), sampled every 20 ms while they read. bench/streams.py measures it at 100,000."""
    size = long_log.size()
    before = _rss_kb(long_log.proc.pid)
    peak = before
    done = threading.Event()
    counts: list[int] = []

    def follow() -> None:
        n = 0
        with long_log.client("A") as c:
            for index, _, _ in c.stream(None, timeout=10):
                n += 1
                if index == size - 1:
                    break
        counts.append(n)

    readers = [threading.Thread(target=follow) for _ in range(4)]
    for r in readers:
        r.start()
    while any(r.is_alive() for r in readers):
        peak = max(peak, _rss_kb(long_log.proc.pid))
        time.sleep(0.02)
    done.set()
    assert counts == [size] * 4  # each read the whole log
    assert (peak - before) < 30_000, f"the service grew by {(peak - before) / 1024:.0f} MB"


def test_a_cut_off_stream_is_not_logged_as_an_error(long_log: Server) -> None:
    """The server drops a client that stopped reading (accord.api.edge's `accord.drop`): the
    response ends as if its client had left, and uvicorn logs no "ASGI callable returned
    without completing response" error for it."""
    import os
    import socket
    from urllib.parse import urlparse

    url = urlparse(long_log.url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((url.hostname, url.port))
    sock.sendall(f"GET /v1/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                 f"{long_log.tokens['A']}\r\n\r\n".encode())
    assert sock.recv(2048).startswith(b"HTTP/1.1 200")
    time.sleep(6)  # not reading: cut off after 1 s
    sock.settimeout(30)
    while sock.recv(65536):  # what was in flight, then the end of the connection
        pass
    sock.close()
    assert long_log.proc.stderr is not None
    fd = long_log.proc.stderr.fileno()
    os.set_blocking(fd, False)
    try:
        logged = (os.read(fd, 1 << 20) or b"").decode(errors="replace")
    except BlockingIOError:
        logged = ""
    finally:
        os.set_blocking(fd, True)
    assert "without completing response" not in logged, logged
    assert '"level": "error"' not in logged, logged
