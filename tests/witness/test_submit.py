"""The log's side of add-checkpoint against a witness that misbehaves: an answer that never
ends, or that trickles in a byte at a time, ends in one `Unavailable` line, never holds the
caller (the service's worker, a mirror's gossip round) past the cap or the deadline."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from accord.errors import Unavailable
from accord.witness.submit import MAX_ANSWER, add_checkpoint


def call(answer: Iterator[bytes], within_s: float = 30.0) -> list[str]:
    client = httpx.Client(transport=httpx.MockTransport(
        lambda req: httpx.Response(200, content=answer)))
    return add_checkpoint(client, "http://witness", 0, [], "log\n1\nroot\n", within_s=within_s)


def endless() -> Iterator[bytes]:
    while True:
        yield b"x" * 4096


def trickle() -> Iterator[bytes]:
    while True:
        time.sleep(0.02)
        yield b"x"


def test_an_endless_answer_stops_at_the_cap() -> None:
    with pytest.raises(Unavailable, match=f"more than {MAX_ANSWER} bytes"):
        call(endless())


def test_a_trickled_answer_stops_at_the_deadline() -> None:
    began = time.monotonic()
    with pytest.raises(Unavailable, match=r"took more than 0\.3 s over its answer"):
        call(trickle(), within_s=0.3)
    assert time.monotonic() - began < 2
