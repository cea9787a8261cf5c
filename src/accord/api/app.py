"""The HTTP API: the service's commands and reads, one party per credential, RFC 9457 errors.

Writes are the parties' signed events (the signature is the authority; the bearer token must
belong to the same party). Reads and the live stream show each party what the agreement lets
it see (`accord.picture.view`). Every refusal is an `application/problem+json` response built
from the same `AccordError` the CLI prints.

No `from __future__ import annotations` here: FastAPI reads the annotations at run time.
"""


import asyncio
import base64
import json
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from accord import __version__
from accord.api import auth
from accord.api.forward import Forwarder
from accord.api.guard import PARTY, PROBLEM, Guard, fast_json, problem_response
from accord.api.stream import Stream, events
from accord.console import site
from accord.console.settings import ConsoleSettings
from accord.errors import (
    AccordError,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthorized,
    Unavailable,
)
from accord.limits import parse_json
from accord.log.event import Entry, Event
from accord.log.merkle import consistency_proof, leaf_hash, root
from accord.picture.view import Area, entry_for, picture_for, picture_geojson, reader
from accord.service.runtime import Service, ServiceConfig
from accord.service.writer import Outcome, Submission, make_receipt
from accord.timefmt import SystemClock, format_time, parse_time

log = logging.getLogger("accord.api")
__all__ = ["Forbidden", "RateLimited", "Unauthorized", "Unavailable", "create_app"]
MAX_INDEX = 2**53 - 1  # log indices and sizes: beyond this SQLite and JSON numbers give out


# -- request and response models (they are the OpenAPI document) -----------------------------


class SubmissionIn(BaseModel):
    """A party's signed event, as made by `accord.commands.signed` or any client."""

    model_config = ConfigDict(extra="forbid")
    event: dict[str, Any] = Field(
        description='{"v":2,"log","agreement","type","party","seq","issued_at","body"}')
    sig: str | None = Field(None, description="base64 Ed25519 signature over the event")
    sigs: dict[str, str] | None = Field(None, description="agreement events: one per party")
    private: dict[str, Any] | None = Field(None, description='{"salt", "data"} beside a '
                                                             "notice's private_digest")


class TracksIn(BaseModel):
    """A batch of position reports: `{aircraft, time, lat, lon, alt_m, gs_mps, trk_deg,
    vs_mps?, callsign?, reference?}` each."""

    model_config = ConfigDict(extra="forbid")
    reports: list[Any]  # rows are parsed, and their number capped, by the tactical monitor


class CheckIn(BaseModel):
    """A notice document to check without filing it."""

    model_config = ConfigDict(extra="forbid")
    notice: dict[str, Any]


# -- the hot path, shared by the route and the middleware's fast path --------------------------


async def append(raw: bytes, party: str, s: Service, headers: list[tuple[bytes, bytes]],
                 forwarder: Forwarder) -> dict[str, Any] | Response:
    """POST /v1/events for `party` (already authenticated): parse, authorise, queue for the
    writer, and answer once durable; on a process that does not write, the writer's answer
    (`accord.api.forward`). A refusal carries the operator's signed statement of it
    (`refusal` in the problem; not for 503, where the outcome is not known)."""
    try:
        return await _append(raw, party, s, headers, forwarder)
    except AccordError as exc:
        if not isinstance(exc, Unavailable):
            exc.extra["refusal"] = s.refusal(raw, party, exc)
        raise


async def _append(raw: bytes, party: str, s: Service, headers: list[tuple[bytes, bytes]],
                  forwarder: Forwarder) -> dict[str, Any] | Response:
    body = _submission(raw)
    event = Event.from_json(body.event)
    if not s.writes:
        return await forwarder.forward(s, "POST", "/v1/events", headers, raw)
    if event.type == "agreement":  # an amendment: signed by every party, sent by one in force
        if s.published.agreement is None:
            raise Forbidden("the first agreement is not adopted over HTTP", field="event",
                            accepted=auth.ADOPT_FIRST)
    elif party != event.party:
        raise Forbidden(f"this credential belongs to {party}, the event to {event.party}",
                        field="event.party", accepted=party)
    sub = Submission(event=body.event, sig=body.sig, sigs=body.sigs, private=body.private)
    loop = asyncio.get_running_loop()
    fut = await loop.run_in_executor(None, s.submit, sub)  # signatures verified off the loop
    outcome: Outcome = await s.wait(fut)  # 503 after write_timeout_s, never a hang
    return outcome.to_json()


# -- the app ---------------------------------------------------------------------------------


ASOF_PER_PARTY = 2  # as-of pictures one party may have being rebuilt at once


class Running:
    """How many of one kind of costly read each party has running, across threads: a party
    over `cap` is refused (429) at once, so it cannot hold every worker thread (each as-of
    picture is a snapshot read and a fold: about a second of CPU on a long log) and leave
    the other parties' reads waiting behind its own."""

    def __init__(self, cap: int, what: str) -> None:
        self.cap, self.what = cap, what
        self._lock = threading.Lock()
        self._count: dict[str, int] = {}

    @contextmanager
    def slot(self, party: str) -> Iterator[None]:
        with self._lock:
            n = self._count.get(party, 0)
            if n >= self.cap:
                raise RateLimited(f"{party} already has {n} {self.what} being made",
                                  field="at", accepted=f"at most {self.cap} at once per "
                                                       "party (wait for one to finish)",
                                  extra={"retry_after_s": 1.0})
            self._count[party] = n + 1
        try:
            yield
        finally:
            with self._lock:
                self._count[party] -= 1
                if not self._count[party]:
                    del self._count[party]


def create_app(dir: Path | None = None, service: Service | None = None) -> FastAPI:
    """The API for one deployment. Give `service` to share a running one (tests, the demo)."""
    state: dict[str, Service] = {}
    asof_reads = Running(ASOF_PER_PARTY, "as-of pictures (?at=)")
    config = service.config if service is not None else ServiceConfig.load(Path(dir or "."))
    forwarder = Forwarder(config.write_timeout_s + 5.0)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = service or Service(Path(dir or "."))
        if service is None:
            svc.announce(None)
        state["svc"] = svc
        log.info("service started", extra={"event": "started", "dir": str(svc.deployment.dir),
                                           "origin": svc.deployment.origin})
        try:
            yield
        finally:
            app.state.stream_pool.shutdown(wait=False, cancel_futures=True)
            await forwarder.aclose()
            if service is None:
                await asyncio.get_running_loop().run_in_executor(None, svc.close)

    app = FastAPI(title="Accord", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None,  # /docs from the package: accord.console
                  description="Deconfliction for parties that share airspace but not a command:"
                              " signed notices, checks, the hotline and a verifiable log.")
    app.state.draining = threading.Event()  # set by whoever stops the server: streams end
    app.state.streams = {}  # party -> open streams (touched on the event loop only)
    # One thread renders every stream's pages and batches, in turn: however many streams
    # replay at once, the event loop (every other request) competes with one thread only.
    app.state.stream_pool = ThreadPoolExecutor(max_workers=1,
                                               thread_name_prefix="accord-streams")

    async def append_(raw: bytes, party: str, s: Service,
                      headers: list[tuple[bytes, bytes]]) -> dict[str, Any] | Response:
        return await append(raw, party, s, headers, forwarder)

    app.add_middleware(Guard, limit=config.max_body_bytes, service=lambda: state.get("svc"),
                       append=append_)
    # The console at / and /docs; its security headers wrap every response, the Guard's too.
    site.mount(app, ConsoleSettings.load(service.deployment.dir if service is not None
                                         else Path(dir or ".")))

    async def svc() -> Service:  # async: no threadpool hop for a dictionary lookup
        s = state.get("svc")
        if s is None or not s.ready:
            raise Unavailable("the service is starting or stopping")
        return s

    async def party(request: Request, s: Service = Depends(svc),
                    authorization: Annotated[str | None, Header()] = None) -> str:
        """Authenticated by the Guard before the body was read (see `accord.api.auth`)."""
        p: str | None = request.scope.get("state", {}).get(PARTY)
        return p if p is not None else auth.authenticate(authorization, s)

    Party = Annotated[str, Depends(party)]
    Svc = Annotated[Service, Depends(svc)]

    @app.exception_handler(AccordError)
    async def accord_error(request: Request, exc: AccordError) -> JSONResponse:
        return problem_response(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body") or "body"
        return problem_response(InvalidInput(first.get("msg", "invalid request"), field=where,
                                             accepted="see the OpenAPI document at /openapi.json"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        err = (NotFound(f"no such endpoint {request.url.path}", field="path",
                        accepted="see /openapi.json") if exc.status_code == 404 else
               InvalidInput(str(exc.detail), field="request"))
        err.status = exc.status_code  # type: ignore[misc]
        return problem_response(err)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s", request.url.path)
        return JSONResponse({"type": "https://accord.dev/problems/internal", "status": 500,
                             "title": "Internal error",
                             "detail": "the service failed; nothing was written"},
                            status_code=500, media_type=PROBLEM)

    # -- health ------------------------------------------------------------------------------

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """The process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz(s: Svc) -> dict[str, Any]:
        """The writer and timer run and the store answers; 503 naming what is wrong if not."""
        writer = s.writer_health()
        with s.reader() as store:
            size = store.size()
        return {"status": "ready", "origin": s.deployment.origin, "entries": size,
                "started": s.started, "writer": writer,
                "clock": s.clock_status()}

    # -- writes ------------------------------------------------------------------------------

    @app.post("/v1/events", tags=["write"], response_class=JSONResponse,
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": SubmissionIn.model_json_schema()}}}},
              responses={200: {"description": "The entry's index and receipt, and the "
                                              "findings it raised with theirs"}})
    async def post_event(request: Request, p: Party, s: Svc) -> Response:
        """Append a signed event (notice, acknowledgement, message, agreement). Returns its
        receipt and the findings it raised, once durable.

        The body is parsed here rather than by FastAPI's model machinery: this is the hot
        path, and `Event.from_json` checks every field anyway."""
        result = await append(await request.body(), p, s, request.scope["headers"], forwarder)
        return result if isinstance(result, Response) else fast_json(result)

    async def passed_on(request: Request, s: Service) -> Response | None:
        """The writer's answer, when this process does not write (accord.api.forward)."""
        if s.writes:
            return None
        return await forwarder.forward(s, request.method, request.url.path,
                                       request.scope["headers"], await request.body())

    @app.post("/v1/check", tags=["write"])
    def post_check(body: CheckIn, p: Party, s: Svc) -> dict[str, Any]:
        """The strategic check of a notice document as `p` would file it; nothing is written.
        Run on the committed read model in a worker thread: never on the writer's thread,
        never on the event loop."""
        from accord import commands

        notice_body, _ = commands.notice_body(body.notice, p)
        return s.check(p, notice_body)

    # -- reads -------------------------------------------------------------------------------

    @app.get("/v1/me", tags=["read"])
    def me(p: Party, s: Svc) -> dict[str, Any]:
        """Who this credential is, and what its next event must name: the next seq, this log
        (its origin) and the agreement in force (its leaf hash)."""
        with s.reader() as store:
            seq = store.seqs().get(p, 0)
            state = store.state()
        agreement = state.get("agreement_leaf") if state.get("agreement_entry", -1) >= 0 else None
        return {"party": p, "next_seq": seq + 1, "log": s.deployment.origin,
                "agreement": agreement}

    @app.get("/v1/time", tags=["read"])
    def service_time(p: Party, s: Svc) -> dict[str, Any]:
        """The service's clock, to compare with the client's (the console warns when they
        differ by more than a few seconds). `scenario` is true when the service runs a
        scenario's clock (the demo) rather than the system's."""
        return {"now": format_time(s.clock.now(), micro=True),
                "scenario": not isinstance(s.clock, SystemClock)}

    @app.get("/v1/agreement", tags=["read"])
    def agreement(p: Party, s: Svc) -> dict[str, Any]:
        """The agreement in force, exactly as all parties signed it."""
        with s.reader() as store:
            state = store.state()
            index = state.get("agreement_entry", -1)
            if index < 0:
                raise NotFound("no agreement has been adopted yet", field="agreement")
            entry = json.loads(store.entry(index))
        return {"entry": index, "agreement": entry["event"]["body"], "sigs": entry["sigs"]}

    @app.get("/v1/picture", tags=["read"], response_model=None)
    def picture(p: Party, s: Svc,
                at: Annotated[str | None, Query(description="RFC 3339 UTC: as of this time, "
                                                            "from the nearest snapshot of the "
                                                            "log and the entries after it")] = None,
                bbox: Annotated[str | None, Query(description="lon_min,lat_min,lon_max,lat_max"
                                                  )] = None,
                start: Annotated[str | None, Query()] = None,
                end: Annotated[str | None, Query()] = None,
                format: Annotated[str, Query(pattern="^(json|geojson)$")] = "json",
                ) -> Response:
        """Live notices, zones, open findings and hotline traffic as this party may see them,
        now or as of `at`, optionally within an area and a time window.

        Encoded with the C JSON encoder: FastAPI's generic encoding of a large picture took
        most of the request's time (1.0 s of 1.2 s at 20,000 notices)."""
        when = parse_time(at, "at") if at else s.clock.now()
        area = Area.parse(bbox, start, end)
        if at:  # rebuilt from a snapshot and a tail: at most a few at once per party
            with asof_reads.slot(p):
                pic = s.picture(when, area)
                return fast_json(picture_geojson(pic, p, when, area) if format == "geojson"
                                 else picture_for(pic, p, when, area))
        pic = s.picture()
        # The 4D index narrows the area to the notices near it (as of `at`: the snapshot's
        # boxes did).
        near = s.area_notices(pic, area) if area is not None else None
        if format == "geojson":
            return fast_json(picture_geojson(pic, p, when, area, near))
        return fast_json(picture_for(pic, p, when, area, near))

    @app.get("/v1/notices/{notice_id}", tags=["read"])
    def notice(notice_id: str, p: Party, s: Svc) -> dict[str, Any]:
        """One notice (current version), as this party may see it."""
        from accord.picture.view import notice_for

        pic = s.picture()
        n = s.notice(pic, notice_id)  # ended and cancelled ones too
        if n is None:
            raise NotFound(f"no notice {notice_id!r}", field="notice_id")
        return notice_for(n, p, pic, s.clock.now())

    @app.get("/v1/notices/{notice_id}/private", tags=["read"])
    def notice_private(notice_id: str, p: Party, s: Svc,
                       version: Annotated[int | None, Query(ge=1, le=MAX_INDEX)] = None
                       ) -> dict[str, Any]:
        """The private part of one of this party's own notices (never anyone else's)."""
        n = s.notice(s.picture(), notice_id)
        if n is None or n.party != p:
            raise NotFound(f"no notice {notice_id!r} of {p}", field="notice_id")
        v = version or n.version
        with s.reader() as store:
            got = store.private(notice_id, v)
        if got is None:
            raise NotFound(f"{notice_id} v{v} has no private part", field="version")
        salt, data = got
        return {"notice": notice_id, "version": v, "salt": base64.b64encode(salt).decode(),
                "data": data}

    @app.get("/v1/findings", tags=["read"])
    def findings(p: Party, s: Svc,
                 open: Annotated[bool, Query(description="only findings still open")] = False,
                 ) -> list[dict[str, Any]]:
        """Findings addressed to this party (an observer: every finding): those still open
        from the live picture, all of them (history too) from the store's projection."""
        pic = s.picture()
        seen_as = reader(pic.agreement, p)
        if open:
            now = s.clock.now()
            return [f.to_json() for f in sorted(pic.findings.values(), key=lambda f: f.entry)
                    if (seen_as is None or p in f.parties) and pic.is_open(f, now)]
        return s.findings(pic, None if seen_as is None else p)

    @app.post("/v1/tracks", tags=["tracks"],
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": TracksIn.model_json_schema()}}}})
    async def post_tracks(request: Request, p: Party, s: Svc) -> Response:
        """Position reports of this party's own aircraft (SI units). Bad rows are counted
        and described; the rest are kept. Tracks are not logged; alerts they raise are.
        An observer of the agreement has no aircraft here.

        The body (up to 4,096 rows, 1 MiB) is parsed and validated in a worker thread, not
        on the event loop that every other request shares."""
        agreement = s.published.agreement
        if agreement is not None and p in agreement.observers:
            raise Forbidden(f"{p} observes this agreement and reports no aircraft",
                            field="Authorization", accepted="a token of a party with role "
                                                            "party")
        if (answer := await passed_on(request, s)) is not None:
            return answer  # tracks are watched in the writer's process
        raw = await request.body()
        loop = asyncio.get_running_loop()
        return fast_json(await loop.run_in_executor(None, _tracks, raw, p, s))

    @app.get("/v1/tracks", tags=["tracks"], response_model=None)
    async def tracks(request: Request, p: Party, s: Svc) -> dict[str, Any] | Response:
        """The aircraft this party may see now: its own tracks, and the other parties'
        aircraft named by an open alert that concerns it (as the alert's samples disclose
        them), each at its last report. What the console draws and moves. (Tracks are kept
        in the writer's process: another passes the request on.)"""
        if (answer := await passed_on(request, s)) is not None:
            return answer
        return {"at": format_time(s.clock.now(), micro=True),
                "tracks": s.monitor.visible_tracks(p, s.picture())}

    @app.get("/v1/alerts", tags=["tracks"])
    def alerts(p: Party, s: Svc,
               open: Annotated[bool, Query(description="only alerts still open")] = False,
               ) -> list[dict[str, Any]]:
        """Tactical alerts that concern this party (an observer: every alert), latest state
        first."""
        pic = s.picture()
        seen_as = reader(pic.agreement, p)
        items = [a for a in pic.alerts.values() if (seen_as is None or p in a["parties"])
                 and (not open or a["state"] == "open")]
        return sorted(items, key=lambda a: a["entry"], reverse=True)

    # -- the log -----------------------------------------------------------------------------

    @app.get("/v1/log/checkpoint", tags=["log"])
    def checkpoint(p: Party, s: Svc) -> dict[str, Any]:
        """The latest signed checkpoint (C2SP signed note) and the log's verifier key."""
        with s.reader() as store:
            cp = store.checkpoint()
        if cp is None:
            raise NotFound("the log is empty", field="log")
        return {"size": cp[0], "checkpoint": cp[1], "log_key": s.deployment.verifier_key}

    @app.get("/v1/log/witnessed", tags=["log"])
    def witnessed(p: Party, s: Svc) -> dict[str, Any]:
        """The latest checkpoint cosigned by the quorum of the agreement's witnesses (a C2SP
        signed note with the log's signature and the witnesses' cosignatures), 404 while there
        is none. Check it with the witness keys of the agreement, never with this answer's."""
        return s.witnessed()

    @app.get("/v1/log/entries", tags=["log"])
    def entries(p: Party, s: Svc, start: Annotated[int, Query(ge=0, le=MAX_INDEX)] = 0,
                end: Annotated[int | None, Query(ge=0, le=MAX_INDEX)] = None,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
        """Entries [start, end): in full where this party may read them, else index and leaf
        hash only (enough to check proofs)."""
        pic = s.picture()  # first: the entries shown are those it holds, never newer
        stop = min(end if end is not None else pic.size, pic.size, start + limit)
        with s.reader() as store:
            rows = list(store.entries(start, stop))
        return [entry_for(i, d, leaf_hash(d), Entry.decode(d), p, pic.agreement, pic.messages)
                for i, d in rows]

    @app.get("/v1/log/receipt/{index}", tags=["log"])
    def receipt(index: Annotated[int, PathParam(ge=0, le=MAX_INDEX)], p: Party, s: Svc,
                size: Annotated[int | None, Query(ge=1, le=MAX_INDEX)] = None
                ) -> dict[str, Any]:
        """A receipt for entry `index` against the checkpoint of `size` (default: latest), with
        the entry's bytes where this party may read the entry in full."""
        with s.reader() as store:
            cp = store.checkpoint(size)
            if cp is None:
                raise NotFound(f"no checkpoint of size {size}", field="size")
            out = make_receipt(store, index, cp).to_json()
        # The disclosure rule of the entries route; an entry committed a moment ago but not
        # yet in the read model is not shown (the receipt proves it all the same).
        shown = entries(p, s, index, index + 1, 1)
        if shown and "entry" in shown[0]:
            out["entry"] = base64.b64encode(shown[0]["entry"].encode("utf-8")).decode("ascii")
        return out

    @app.get("/v1/log/consistency", tags=["log"])
    def consistency(p: Party, s: Svc, size1: Annotated[int, Query(ge=1, le=MAX_INDEX)],
                    size2: Annotated[int, Query(ge=1, le=MAX_INDEX)]) -> dict[str, Any]:
        """RFC 9162 consistency proof between two sizes of the log."""
        with s.reader() as store:
            n = store.size()
            if not size1 <= size2 <= n:
                raise InvalidInput(f"sizes must satisfy size1 <= size2 <= {n}", field="size2",
                                   accepted=f"1 <= size1 <= size2 <= {n}")
            b64 = base64.b64encode
            return {"size1": size1, "size2": size2,
                    "root1": b64(root(store, size1)).decode(),
                    "root2": b64(root(store, size2)).decode(),
                    "proof": [b64(h).decode() for h in consistency_proof(store, size1, size2)]}

    # -- the live stream ---------------------------------------------------------------------

    @app.get("/v1/stream", tags=["stream"], response_class=StreamingResponse)
    async def stream(request: Request, p: Party, s: Svc,
                     authorization: Annotated[str | None, Header()] = None,
                     last_event_id: Annotated[str | None, Header()] = None,
                     from_index: Annotated[int | None, Query(alias="from", ge=0, le=MAX_INDEX)]
                     = None,
                     ) -> StreamingResponse:
        """Server-Sent Events: every new entry this party may see, `id` = log index. Resume
        with Last-Event-ID (or ?from=INDEX) and nothing is missed or repeated."""
        after = -1
        if last_event_id:
            try:
                after = int(last_event_id)
                if not -1 <= after <= MAX_INDEX:
                    raise ValueError(after)
            except ValueError:
                raise InvalidInput("Last-Event-ID must be a log index",
                                   field="Last-Event-ID", accepted="an integer") from None
        elif from_index is not None:
            after = from_index - 1
        streams: dict[str, int] = request.app.state.streams  # on the event loop only
        cap = s.config.max_streams_per_party
        if streams.get(p, 0) >= cap:
            raise RateLimited(f"{p} already has {cap} open streams", field="stream",
                              accepted=f"at most {cap} open streams per party (close one; "
                                       "[service] max_streams_per_party)",
                              extra={"retry_after_s": 1.0})
        streams[p] = streams.get(p, 0) + 1

        def release() -> None:
            streams[p] -= 1
            if not streams[p]:
                del streams[p]

        return Stream(events(request, s, p, authorization, after), release,
                      s.config.stream_send_timeout_s, p)

    return app


def _tracks(raw: bytes, party: str, s: Service) -> dict[str, Any]:
    """POST /v1/tracks off the loop: the body parsed (`{"reports": [...]}`), each row checked
    and kept or described by the tactical monitor."""
    obj = parse_json(raw, accepted='a JSON object {"reports": [...]}')
    if not isinstance(obj, dict) or set(obj) != {"reports"} or not isinstance(
            obj["reports"], list):
        raise InvalidInput("the body must be an object with one key, reports, a list",
                           field="reports", accepted='{"reports": [report, ...]}')
    return s.monitor.ingest(party, obj["reports"])


def _submission(raw: bytes) -> SubmissionIn:
    obj = parse_json(raw, accepted="a JSON object {event, sig | sigs, private?}")
    if not isinstance(obj, dict) or not isinstance(obj.get("event"), dict):
        raise InvalidInput("the body must be an object with an event", field="event",
                           accepted="{event, sig | sigs, private?}")
    unknown = sorted(set(obj) - {"event", "sig", "sigs", "private"})
    if unknown:
        raise InvalidInput(f"unknown key(s) {unknown}", field="body",
                           accepted="event, sig, sigs, private")
    sig, sigs, private = obj.get("sig"), obj.get("sigs"), obj.get("private")
    if sig is not None and not isinstance(sig, str):
        raise InvalidInput("sig must be a string", field="sig", accepted="base64")
    if sigs is not None and not (isinstance(sigs, dict)
                                 and all(isinstance(v, str) for v in sigs.values())):
        raise InvalidInput("sigs must map party to signature", field="sigs",
                           accepted='{"PARTY": base64, ...}')
    if private is not None and not isinstance(private, dict):
        raise InvalidInput("private must be an object", field="private",
                           accepted='{"salt", "data"}')
    return SubmissionIn.model_construct(event=obj["event"], sig=sig, sigs=sigs, private=private)
