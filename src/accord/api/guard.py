"""The ASGI guard in front of the routes: body size, the credential, the hot write path, a log
line per request.

Plain ASGI rather than Starlette's BaseHTTPMiddleware (no extra task per request). Order of
work for each request, cheapest first, so a stranger costs almost nothing:

1. a declared body larger than the limit is refused before anything is read;
2. every path that `auth.is_open` does not name needs a valid token of a party in force,
   checked from the headers alone (the party is left in `scope["state"]` for the routes);
3. only then is the body read (bounded) and, for POST /v1/events, served directly by the same
   `append` as the FastAPI route, without the routing, dependency and exception layers in
   between: at a thousand filings a second they are a third of the CPU.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.responses import JSONResponse, Response

from accord.api import auth
from accord.errors import AccordError, InvalidInput, LimitExceeded, NotWriter, RateLimited

log = logging.getLogger("accord.api")
PROBLEM = "application/problem+json"
PARTY = "accord.party"  # key of the authenticated party in scope["state"]

# (body, party, service, request headers) -> the answer: a result to encode, or a response
# passed on from the writer (accord.api.forward).
Append = Callable[[bytes, str, Any, list[tuple[bytes, bytes]]],
                  Awaitable[dict[str, Any] | Response]]


def problem_response(exc: AccordError) -> JSONResponse:
    """The RFC 9457 answer for `exc` (with Retry-After when it says when to try again, and
    Location when it names the writer)."""
    headers = {}
    if isinstance(exc, RateLimited) or "retry_after_s" in exc.extra:
        headers["Retry-After"] = str(max(1, round(exc.extra["retry_after_s"])))
    if isinstance(exc, NotWriter) and exc.extra.get("location"):
        headers["Location"] = str(exc.extra["location"])
    return JSONResponse(exc.problem(), status_code=exc.status, media_type=PROBLEM,
                        headers=headers)


def fast_json(obj: Any) -> Response:
    """JSON straight from the C encoder: the hot path skips FastAPI's generic encoding."""
    import json

    return Response(json.dumps(obj, separators=(",", ":")).encode(),
                    media_type="application/json")


class Guard:
    """ASGI middleware; see the module's docstring for the order of checks."""

    def __init__(self, app: Any, limit: int, service: Callable[[], Any],
                 append: Append) -> None:
        self.app = app
        self.limit = limit
        self.service = service  # () -> Service | None
        self.append = append

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = await self._handle(scope, receive, send)
        if log.isEnabledFor(logging.INFO):
            log.info("request", extra={"event": "request", "method": scope["method"],
                                       "path": scope["path"], "status": status,
                                       "ms": round((time.perf_counter() - started) * 1e3, 2)})

    async def _refuse(self, exc: AccordError, scope: dict[str, Any], receive: Any,
                      send: Any) -> int:
        await problem_response(exc)(scope, receive, send)
        return exc.status

    async def _handle(self, scope: dict[str, Any], receive: Any, send: Any) -> int:
        headers = dict(scope["headers"])
        too_big = LimitExceeded(f"the request body is larger than {self.limit} bytes",
                                field="body", accepted=f"at most {self.limit} bytes")
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = -1
            if declared < 0 or declared > self.limit:
                return await self._refuse(too_big if declared > self.limit else InvalidInput(
                    "Content-Length is not a number", field="Content-Length"),
                    scope, receive, send)
        svc = self.service()
        ready = svc is not None and svc.ready
        party: str | None = None
        if ready and not auth.is_open(scope["path"]):
            raw = headers.get(b"authorization")
            try:
                party = auth.authenticate(raw.decode("latin-1") if raw else None, svc)
            except AccordError as exc:
                return await self._refuse(exc, scope, receive, send)
            scope.setdefault("state", {})[PARTY] = party
        fast = ready and scope["method"] == "POST" and scope["path"] == "/v1/events"
        if fast or (length is None and scope["method"] in ("POST", "PUT", "PATCH")):
            body = b""
            more = True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    return 499  # the client went away
                body += message.get("body", b"")
                more = message.get("more_body", False)
                if len(body) > self.limit:
                    return await self._refuse(too_big, scope, receive, send)
            if fast:
                assert party is not None
                try:
                    result = await self.append(body, party, svc, scope["headers"])
                except AccordError as exc:
                    return await self._refuse(exc, scope, receive, send)
                response = result if isinstance(result, Response) else fast_json(result)
                await response(scope, receive, send)
                return response.status_code
            replayed = False

            async def replay() -> dict[str, Any]:
                nonlocal replayed
                if replayed:
                    return dict(await receive())
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}

            receive = replay
        status = 0

        async def watched(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, watched)
        return status
