"""Writes sent to a process that does not write are passed on to the one that does.

Several `accord serve` processes may share one PostgreSQL database; one holds the writer's
seat and names the URL it serves on (`accord.service.election`). A follower passes a write
(`POST /v1/events`, `/v1/check`, `/v1/tracks`) on to that URL with the client's own
credential and body, and hands the writer's answer back unchanged: the receipt in it is the
writer's, signed with the log key, and the client checks it as ever.

What cannot be passed on is refused with a problem that says whether anything was written:
no writer known (an election is under way: nothing was sent), the writer unreachable
(nothing was sent), or the writer gone after it had the command (it may have been written:
check `next_seq`). A write that was passed on once is never passed on again: a process that
receives one and does not write answers `not-the-writer` with `Location` set to the writer
it knows (two processes with different ideas of who writes cannot bounce a write between
them).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi.responses import Response

from accord.errors import NotWriter, Unavailable

FORWARDED = b"accord-forwarded-by"
PASSED = (b"authorization", b"content-type", b"accept")
RETRY = "the same command again in a second (the election takes a moment)"


class Forwarder:
    """One HTTP client (a pool of connections to the writer) per app. At most 48 connections:
    the writer's edge admits 64 per client address, and a connection refused there would look
    like a write lost in flight."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout_s, connect=2.0),
                limits=httpx.Limits(max_connections=48, max_keepalive_connections=48))
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def forward(self, s: Any, method: str, path: str,
                      headers: list[tuple[bytes, bytes]], body: bytes) -> Response:
        """The writer's answer to this request, or the problem saying why there is none."""
        loop = asyncio.get_running_loop()
        url: str | None = await loop.run_in_executor(None, s.writer_url)
        own = s.cluster.url if s.cluster is not None else None
        if url is None or url == own:
            raise NotWriter("no process holds the writer's seat at the moment (an election "
                            "is under way); nothing was written", field="writer",
                            accepted=RETRY, extra={"retry_after_s": 1.0})
        if any(k.lower() == FORWARDED for k, _ in headers):
            raise NotWriter(f"this process does not write; the writer is at {url}",
                            field="writer", accepted=f"send it to {url}{path}",
                            extra={"writer": url, "location": url + path})
        sent = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers
                if k.lower() in PASSED}
        sent[FORWARDED.decode()] = s.cluster.name if s.cluster is not None else "accord"
        try:
            answer = await self.client().request(method, url + path, headers=sent,
                                                 content=body)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise Unavailable(f"the writer at {url} could not be reached "
                              f"({type(exc).__name__}); nothing was sent to it", field="writer",
                              accepted=RETRY, extra={"retry_after_s": 1.0}) from None
        except httpx.HTTPError as exc:
            raise Unavailable(f"the writer at {url} did not answer ({type(exc).__name__}); "
                              "the command may have been written", field="writer",
                              accepted="check GET /v1/me (next_seq) before sending it again: "
                                       "a replayed seq is refused") from None
        kept = {k: v for k, v in answer.headers.items()
                if k.lower() in ("content-type", "retry-after", "location")}
        return Response(answer.content, status_code=answer.status_code, headers=kept)
