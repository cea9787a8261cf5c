"""The HTTP edge of `accord serve`: slow or idle clients cannot hold the process's descriptors.

uvicorn closes a keep-alive connection idle between requests (`timeout_keep_alive`) and can
answer 503 past a global count of requests in flight (`limit_concurrency`), but it has no
timeout on reading a request's headers or body and no cap on connections per client: a client
that sends one header byte every few seconds holds a descriptor for ever, and some thousands of
them exhaust the limit for everyone. `EdgeProtocol` is uvicorn's httptools protocol with the
missing part:

- a connection over the cap (all clients, or one client address; an IPv6 /64 counts as one
  address) is closed as soon as it is accepted, before anything is read;
- the request line and headers must arrive within `header_timeout_s` of the connection (or of
  the first byte of the next request on a keep-alive connection), and be at most
  `max_header_bytes`; else 408 (or 431) and the connection is closed;
- the body must arrive within `body_timeout_s` of the headers; else the connection is closed
  (the route sees the client gone; nothing is written).

A response that takes long (the live stream) is not limited here: streams are capped per
party by the API. A response that gives up on its client (a stream whose client stopped
reading, `accord.api.stream`) drops the connection through the `accord.drop` scope extension:
the connection is closed at once and the response counts as ended by its client, not as an
application that returned without completing it (which uvicorn logs as an error).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("accord.api")

MAX_HEADER_BYTES = 64 * 1024
_TIMEOUT = (b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
_TOO_LARGE = (b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n"
              b"Connection: close\r\n\r\n")


def client_key(client: tuple[str, int] | None) -> str:
    """The address a per-client cap counts by: the IPv4 address, or the IPv6 /64."""
    if client is None:
        return ""
    try:
        ip = ipaddress.ip_address(client[0])
    except ValueError:
        return client[0]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


@dataclass
class Edge:
    """Connection counts and limits shared by every connection of one server (event loop only,
    so no lock)."""

    header_timeout_s: float
    body_timeout_s: float
    max_connections: int
    max_per_client: int
    max_header_bytes: int = MAX_HEADER_BYTES
    open: dict[str, int] = field(default_factory=dict)
    total: int = 0
    refused: int = 0
    timed_out: int = 0
    _logged: float = 0.0

    def admit(self, key: str) -> bool:
        if self.total >= self.max_connections or self.open.get(key, 0) >= self.max_per_client:
            self.refused += 1
            self._note()
            return False
        self.open[key] = self.open.get(key, 0) + 1
        self.total += 1
        return True

    def release(self, key: str) -> None:
        self.total -= 1
        left = self.open[key] - 1
        if left:
            self.open[key] = left
        else:
            del self.open[key]

    def _note(self) -> None:
        """Say what was refused, at most every ten seconds (an attack must not flood the log)."""
        now = time.monotonic()
        if now - self._logged >= 10.0:
            self._logged = now
            log.warning("connections refused", extra={
                "event": "edge", "refused": self.refused, "timed_out": self.timed_out,
                "open": self.total})


class EdgeProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header and body deadlines and connection caps.
    Made per server by `protocol(edge)`, which sets `edge`."""

    edge: Edge

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        self._key: str | None = None
        self._awaiting_headers = True
        self._header_bytes = 0
        key = client_key(self.client)
        if not self.edge.admit(key):
            transport.abort()  # before a byte is read; connection_lost follows
            return
        self._key = key
        self._arm(self.edge.header_timeout_s, headers=True)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._key is not None:
            self.edge.release(self._key)
            self._key = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._awaiting_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        # Still no end of the headers after this many bytes: every byte so far was header.
        if self._awaiting_headers and self._header_bytes > self.edge.max_header_bytes:
            self._close(_TOO_LARGE)

    # parser callbacks -------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:  # the next request on a kept-alive connection
            self._arm(self.edge.header_timeout_s, headers=True)

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope:  # not an upgrade
            self.scope.setdefault("extensions", {})["accord.drop"] = {
                "drop": lambda: self._drop(cycle)}
        self._arm(self.edge.body_timeout_s, headers=False)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()
        self._awaiting_headers = True
        self._header_bytes = 0

    # deadlines --------------------------------------------------------------------------------

    def _arm(self, seconds: float, *, headers: bool) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired, headers)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, headers: bool) -> None:
        self._deadline = None
        self.edge.timed_out += 1
        self.edge._note()
        idle = self.cycle is None or self.cycle.response_complete
        self._close(_TIMEOUT if headers and idle else None)

    def _drop(self, cycle: Any) -> None:
        """Close the connection under a response that gives up on its client: the response
        is over, by the client's doing (as when the client leaves)."""
        cycle.disconnected = True
        self.transport.abort()  # connection_lost follows and releases what it holds

    def _close(self, answer: bytes | None) -> None:
        self._disarm()
        if self.transport.is_closing():
            return
        if answer is not None:
            self.transport.write(answer)
        self.transport.close()


def protocol(edge: Edge) -> type[EdgeProtocol]:
    """The protocol class for one server, bound to its `Edge` (give it to uvicorn's `http`)."""
    return type("AccordEdgeProtocol", (EdgeProtocol,), {"edge": edge})


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft descriptor limit towards `wanted` (within the hard limit); the limit now
    in force."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return int(soft) if soft != resource.RLIM_INFINITY else wanted


def edge_for(config: Any) -> Edge:
    """The edge for a `ServiceConfig`: the global cap kept 256 descriptors below the process's
    limit (the store, the log files and the listening socket need theirs)."""
    reserve = 256
    limit = raise_fd_limit(int(config.max_connections) + reserve)
    return Edge(header_timeout_s=float(config.header_timeout_s),
                body_timeout_s=float(config.body_timeout_s),
                max_connections=max(1, min(int(config.max_connections), limit - reserve)),
                max_per_client=int(config.max_connections_per_client))
