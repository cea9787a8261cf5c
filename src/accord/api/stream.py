"""The live stream (`GET /v1/stream`): Server-Sent Events of what one party may see.

Memory per stream is bounded whatever the client does. Entries the writer publishes wait in
a `Feed` of at most `[service] stream_backlog` entries; a client that reads slower than the
log grows (or stops reading) makes the feed overflow, and the stream then catches up from the
store, a page at a time, exactly as on a resume with Last-Event-ID. Nothing is lost or sent
twice: the log index is the event id and the store holds every entry the writer published.

A client that stops reading is cut off: a chunk the connection has not taken within
`[service] stream_send_timeout_s` ends the response (the connection is closed), and the client
resumes with the last event id it read as Last-Event-ID. Entries are decoded, judged and
encoded in one worker thread shared by every stream (they take turns, a page or a batch at
a time), never on the event loop that every request shares.

No `from __future__ import annotations` here: FastAPI reads the annotations at run time.
"""

import asyncio
import json
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse

from accord.api import auth
from accord.log.event import Entry
from accord.log.merkle import leaf_hash
from accord.picture.view import entry_for
from accord.service.runtime import Service

PAGE = 512  # entries read from the store at a time while catching up
log = logging.getLogger("accord.api")


class SlowClient(Exception):
    """The client did not take a chunk of its stream in time."""


class Feed:
    """Entries published by the writer for one stream, at most `limit` waiting.

    Used on the event loop only. Once a batch would take it past `limit`, the feed drops it
    and every later batch and says `behind`, until the reader has caught up from the store
    and calls `resume`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.waiting = 0
        self.behind = False
        self._batches: deque[list[tuple[int, Entry]]] = deque()
        self._ready = asyncio.Event()

    def offer(self, batch: list[tuple[int, Entry]]) -> None:
        if self.behind or self.waiting + len(batch) > self.limit:
            self.behind = True
            self._batches.clear()
            self.waiting = 0
        else:
            self._batches.append(batch)
            self.waiting += len(batch)
        self._ready.set()

    async def take(self, timeout: float) -> list[tuple[int, Entry]] | None:
        """The next batch; None when the feed is behind (read the store) or on timeout."""
        if not self._batches and not self.behind:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return None
        if self.behind or not self._batches:
            return None
        batch = self._batches.popleft()
        self.waiting -= len(batch)
        return batch

    def resume(self) -> None:
        self.behind = False


class Stream(StreamingResponse):
    """The SSE response; `release` runs once however it ends (even if the client left before
    the first byte, when the body's generator never starts)."""

    def __init__(self, body: AsyncIterator[bytes], release: Callable[[], None],
                 send_timeout: float, party: str) -> None:
        super().__init__(body, media_type="text/event-stream",
                         headers={"Cache-Control": "no-cache"})
        self._release: Callable[[], None] | None = release
        self._send_timeout = send_timeout
        self._party = party

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        limit = self._send_timeout

        async def bounded(message: Any) -> None:
            # uvicorn's send waits while the connection's buffer is full (flow control): a
            # client that stops reading would hold the stream, and what it pins, for ever.
            try:
                await asyncio.wait_for(send(message), limit)
            except TimeoutError:
                raise SlowClient from None

        try:
            await super().__call__(scope, receive, bounded)
        except* SlowClient:
            # The connection is closed under the unfinished response; the client resumes
            # from the last id it read (Last-Event-ID). Through the server's `accord.drop`
            # (accord.api.edge), so the response ends as if its client had left; a server
            # without it closes the connection when the response returns unfinished.
            drop = scope.get("extensions", {}).get("accord.drop")
            if drop is not None:
                drop["drop"]()
            log.info("stream cut off: its client did not read for %g s", limit,
                     extra={"event": "stream_cut_off", "party": self._party})
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()


CHUNK = 64 << 10  # events are sent in chunks of about this many bytes


def packed(events: list[bytes]) -> list[bytes]:
    """Events joined into chunks of about CHUNK bytes: one send on the event loop for many
    events (200 streams replaying a log sent ~500,000 single events, and every other request
    waited behind those sends), and still at most about CHUNK bytes held per stalled client
    beyond its socket."""
    out: list[bytes] = []
    run: list[bytes] = []
    size = 0
    for e in events:
        run.append(e)
        size += len(e)
        if size >= CHUNK:
            out.append(b"".join(run))
            run, size = [], 0
    if run:
        out.append(b"".join(run))
    return out


def sse(index: int, value: dict[str, Any]) -> bytes:
    kind = value.get("value", {}).get("event", {}).get("type", "hidden")
    return f"id: {index}\nevent: {kind}\ndata: {json.dumps(value)}\n\n".encode()


CLOSED = b": closed: the credential is revoked or its party left the agreement\n\n"


async def events(request: Request, s: Service, party: str, authorization: str | None,
                 after: int) -> AsyncIterator[bytes]:
    """Replay what this party missed from the store, then follow the writer live.

    The credential is checked again with every batch and at least once a second: a revoked
    token (within the token cache's two seconds) or a party removed from the agreement ends
    the stream, before anything written after the removal is sent."""
    loop = asyncio.get_running_loop()
    feed = Feed(s.config.stream_backlog)
    pool = request.app.state.stream_pool  # one thread for every stream's rendering

    def hear(batch: list[tuple[int, Entry]]) -> None:  # on the writer's thread
        loop.call_soon_threadsafe(feed.offer, batch)

    def page(start: int) -> tuple[list[bytes], int]:
        """The next page from the store, rendered (in a worker thread), and its last index."""
        with s.reader() as store:
            rows = list(store.entries(start, start + PAGE))
        out = [sse(index, item) for index, data in rows
               if (item := visible(s, index, data, Entry.decode(data), party)) is not None]
        return packed(out), rows[-1][0] if rows else start - 1

    def render(batch: list[tuple[int, Entry]], after: int) -> tuple[list[bytes], int]:
        """A live batch rendered (in a worker thread): what follows `after`, up to a gap
        (another process took over the writing: the rest comes from the store)."""
        out, last = [], after
        for index, entry in batch:
            if index <= last:
                continue
            if index > last + 1:
                break
            item = visible(s, index, entry.encode(), entry, party)
            if item is not None:
                out.append(sse(index, item))
            last = index
        return packed(out), last

    unsubscribe = s.subscribe(hear)
    sent = after
    try:
        yield b": accord stream\n\n"
        draining: threading.Event = request.app.state.draining
        behind = True  # what was logged before the stream opened comes from the store
        quiet = 0
        # Wake every second: a gone client, a server shutting down or a credential no longer
        # good ends the stream at once (uvicorn waits for open responses before it stops).
        while not draining.is_set() and not await request.is_disconnected():
            if not auth.still_allowed(authorization, s, party):
                yield CLOSED
                return
            if behind:
                feed.resume()  # batches from now on are kept; the store covers the rest
                while True:
                    chunks, last = await loop.run_in_executor(pool, page, sent + 1)
                    if last <= sent:
                        break
                    for chunk in chunks:
                        yield chunk
                    sent = last
                    if not auth.still_allowed(authorization, s, party):
                        yield CLOSED
                        return
                behind = False
            batch = await feed.take(timeout=1.0)
            if batch is None:
                if feed.behind:
                    behind = True
                    continue
                quiet += 1
                if quiet % 15 == 0:
                    yield b": keep-alive\n\n"
                continue
            if not auth.still_allowed(authorization, s, party):
                yield CLOSED
                return
            chunks, last = await loop.run_in_executor(pool, render, batch, sent)
            for chunk in chunks:
                yield chunk
            if batch and batch[-1][0] > last:  # a gap: read the store from where it was
                behind = True
            sent = last
    finally:
        unsubscribe()


def visible(s: Service, index: int, data: bytes, entry: Entry,
            party: str) -> dict[str, Any] | None:
    """What `party` is told of an entry on its stream; nothing at all if it may not read it."""
    # The committed read model: published before the stream hears of the entry, so it
    # holds every message the entry names, and never a half-applied batch.
    model = s.published
    item = entry_for(index, data, leaf_hash(data), entry, party, model.agreement,
                     model.messages)
    return None if item.get("hidden") else item
