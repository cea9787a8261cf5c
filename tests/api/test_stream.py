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
