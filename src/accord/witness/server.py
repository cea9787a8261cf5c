"""The witness's HTTP face (c2sp.org/tlog-witness): add-checkpoint and the monitoring read.

    POST /add-checkpoint              old size, proof, checkpoint -> cosignature line(s)
    GET  /<sha256(origin) hex>/checkpoint   the latest checkpoint it cosigned, with both sigs
    GET  /healthz                     200 and the witness's name

Refusals carry the spec's status codes; their bodies are RFC 9457 problems, except 409, whose
body is the witness's size in decimal (`text/x.tlog.size`), as the spec requires. There is no
authentication: the log's signature on the checkpoint is the only credential (spec).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from accord.errors import AccordError, InvalidInput, SizeMismatch
from accord.witness.protocol import MAX_BODY, parse_add_checkpoint
from accord.witness.state import WitnessState

log = logging.getLogger("accord.witness")


def problem(e: AccordError) -> Response:
    if isinstance(e, SizeMismatch):
        return PlainTextResponse(f"{e.size}\n", status_code=409,
                                 media_type="text/x.tlog.size")
    return JSONResponse(e.problem(), status_code=e.status,
                        media_type="application/problem+json")


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        raise InvalidInput(f"request body over {MAX_BODY} bytes", field="body")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise InvalidInput(f"request body over {MAX_BODY} bytes", field="body")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(state: WitnessState) -> Starlette:
    by_hash = {hashlib.sha256(o.encode()).hexdigest(): o for o in state.logs}

    async def add_checkpoint(request: Request) -> Response:
        try:
            req = parse_add_checkpoint(await _body(request))
            # the state's lock and fsync block: off the event loop
            done = await asyncio.to_thread(state.add, req)
        except AccordError as e:
            log.info("add-checkpoint refused: %s %s", e.status, e.detail)
            return problem(e)
        log.info("cosigned %s size %d at %d", done.checkpoint.origin, done.checkpoint.size,
                 done.timestamp)
        return PlainTextResponse(done.line + "\n", media_type="text/plain; charset=utf-8")

    async def checkpoint(request: Request) -> Response:
        origin = by_hash.get(str(request.path_params["origin_hash"]))
        held = None if origin is None else await asyncio.to_thread(state.latest, origin)
        if held is None:
            return PlainTextResponse("this witness has cosigned no checkpoint of that log\n",
                                     status_code=404)
        return PlainTextResponse(held[1], media_type="text/plain; charset=utf-8")

    async def healthz(request: Request) -> Response:
        body: dict[str, Any] = {"witness": state.signer.name, "key": state.signer.verifier_key,
                                "logs": sorted(state.logs)}
        return JSONResponse(body)

    return Starlette(routes=[
        Route("/add-checkpoint", add_checkpoint, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/{origin_hash:str}/checkpoint", checkpoint, methods=["GET"]),
    ])
