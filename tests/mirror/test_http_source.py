"""The mirror's HTTP source reads at most `max_answer` bytes of any answer: an operator that
sends an endless (or endlessly decompressing) body gets a one-line error, not the mirror's
memory; pages of entries too large for the cap are asked for again smaller, and the replica
still verifies."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from accord.client import Client
from accord.errors import DeploymentError, InvalidInput
from accord.mirror.http import HttpSource, Oversized
from mirror_support import StoreSource, replica
from support import make_world, volume


def endless() -> Iterator[bytes]:
    yield b'{"checkpoint": "'
    while True:
        yield b"x" * 65536


def source(handler: httpx.MockTransport, cap: int = 1 << 20) -> HttpSource:
    return HttpSource(Client("http://operator", transport=handler), max_answer=cap)


def test_an_endless_answer_is_cut_off_with_one_line() -> None:
    src = source(httpx.MockTransport(lambda req: httpx.Response(200, content=endless())))
    with pytest.raises(Oversized) as got:
        src.checkpoint()
    assert isinstance(got.value, DeploymentError)  # the follow loop reports it and retries
    assert got.value.detail == ("http://operator answered more than 1048576 bytes to "
                                "/v1/log/checkpoint")


def test_a_compressed_answer_is_capped_as_decoded() -> None:
    bomb = gzip.compress(b"[" + b" " * (8 << 20) + b"]")  # ~8 KiB on the wire
    src = source(httpx.MockTransport(lambda req: httpx.Response(
        200, content=bomb, headers={"content-encoding": "gzip"})))
    with pytest.raises(Oversized):
        src.entries(0, 1)


def test_an_answer_that_is_not_json_is_one_line_and_a_problem_is_kept() -> None:
    src = source(httpx.MockTransport(lambda req: httpx.Response(200, content=b"[" * 100_000)))
    with pytest.raises(DeploymentError, match="other than JSON"):
        src.checkpoint()
    problem = {"type": "https://accord.dev/problems/invalid-input", "status": 422,
               "detail": "no", "field": "size1"}
    src = source(httpx.MockTransport(lambda req: httpx.Response(422, json=problem)))
    with pytest.raises(InvalidInput):
        src.consistency(1, 2)


def test_pages_too_large_for_the_cap_shrink_and_the_replica_still_verifies(
        tmp_path: Path) -> None:
    w = make_world(tmp_path / "dep", ("A", "B"))
    for n in range(12):
        w.file("A", {"notice": f"A-{n}", "kind": "transit", "title": "t" * 200,
                     "volumes": [volume()]})
    local = StoreSource(w, "A")
    asked: list[int] = []

    def serve(req: httpx.Request) -> httpx.Response:
        q = req.url.params
        if req.url.path == "/v1/log/checkpoint":
            return httpx.Response(200, json={"checkpoint": local.checkpoint()})
        start, limit = int(q["start"]), int(q["limit"])
        asked.append(limit)
        rows = local.entries(start, min(int(q["end"]), start + limit))
        return httpx.Response(200, json=rows)

    one = len(json.dumps(StoreSource(w, "A").entries(1, 2)))
    src = source(httpx.MockTransport(serve), cap=4 * one)
    r = replica(tmp_path, w, "A")
    got = r.sync(src)
    assert got.new == w.store.checkpoint()[0]  # type: ignore[index]
    assert asked[:3] == [got.new, got.new // 2, got.new // 4]  # too large: halved
    assert src.page == asked[2] and max(asked[3:]) <= src.page  # and kept small
    assert base64.b64decode(local.entries(0, 1)[0]["leaf_hash"]) == next(iter(r.store.leaves()))[1]
