"""The writer's failure model seen over HTTP (issue 7, items 9 and 10): deep bodies are a 400,
one party's poison filings never cost another party a write, clients that vanish mid-request
never stop the writer, and /readyz tells the truth about it."""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import Server, future_volume
from fastapi.testclient import TestClient

from accord import commands
from accord.api.app import create_app
from accord.errors import Unavailable
from accord.log.event import private_digest
from accord.service.runtime import Service, ServiceConfig, issue_token
from accord.timefmt import SystemClock
from support import make_world, volume

PROBLEM = "application/problem+json"


def nested_text(depth: int) -> str:
    return "[" * depth + "]" * depth


def post(server: Server, party: str, body: bytes, timeout: float = 30) -> httpx.Response:
    return httpx.post(server.url + "/v1/events", content=body, timeout=timeout,
                      headers={"Authorization": f"Bearer {server.tokens[party]}",
                               "Content-Type": "application/json"})


@pytest.mark.parametrize("depth", [65, 900, 5000, 100_000])
def test_deeply_nested_bodies_are_a_400_problem(server: Server, depth: int) -> None:
    for raw in (nested_text(depth), '{"event":' + nested_text(depth) + "}",
                '{"event":{"v":1,"body":' + '{"a":' * depth + "1" + "}" * depth + "}}"):
        r = post(server, "A", raw.encode())
        assert r.status_code == 400, r.text
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["type"].endswith("/too-deep")
    assert httpx.get(server.url + "/readyz", timeout=10).status_code == 200


def deep_private_body(server: Server, seq: int, depth: int) -> bytes:
    """A's notice whose private part is nested `depth` deep, with the matching digest."""
    data: Any = []
    for _ in range(depth - 1):
        data = [data]
    salt = secrets.token_bytes(16)
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, depth * 4 + 1000))
    try:
        digest = private_digest(salt, data)
        body, _ = commands.notice_body({"kind": "transit", "volumes": [future_volume(40.0)]},
                                       "A")
        body["private_digest"] = digest
        sub = commands.signed(server.keys["A"], "notice.file", server.context("A").at(seq),
                              SystemClock().now(), body)
        return json.dumps({"event": sub.event, "sig": sub.sig,
                           "private": {"salt": base64.b64encode(salt).decode(),
                                       "data": data}}).encode()
    finally:
        sys.setrecursionlimit(old)


def test_one_partys_poison_filings_cost_no_other_party_a_write(server: Server) -> None:
    """The issue's attack: A sends notices with a private part ~900 deep while B and C file
    valid notices at the same time. Every valid filing succeeds; A's get a 400."""
    with server.client("A") as c:
        a_seq = c.me()["next_seq"]
    poison = [deep_private_body(server, a_seq + i, 900) for i in range(40)]
    answers: dict[str, list[int]] = {"A": [], "B": [], "C": []}

    def attack(bodies: list[bytes]) -> None:
        for b in bodies:
            answers["A"].append(post(server, "A", b).status_code)

    def file_valid(party: str, lon: float) -> None:
        with server.client(party) as c:
            seq = c.me()["next_seq"]
            for i in range(60):
                doc = {"kind": "transit", "volumes": [future_volume(lon + i * 0.05, 20.0)]}
                body, reveal = commands.notice_body(doc, party)
                sub = commands.signed(server.keys[party], "notice.file",
                                      c.context().at(seq + i), SystemClock().now(), body, reveal)
                r = httpx.post(server.url + "/v1/events", timeout=30,
                               content=json.dumps({"event": sub.event, "sig": sub.sig,
                                                   "private": sub.private}).encode(),
                               headers={"Authorization": f"Bearer {server.tokens[party]}"})
                answers[party].append(r.status_code)

    with ThreadPoolExecutor(6) as pool:
        jobs = [pool.submit(attack, poison[i::4]) for i in range(4)]
        jobs += [pool.submit(file_valid, "B", 10.0), pool.submit(file_valid, "C", 60.0)]
        for j in jobs:
            j.result()
    assert answers["B"] == [200] * 60 and answers["C"] == [200] * 60
    assert answers["A"] == [400] * 40


def test_clients_that_vanish_mid_write_never_stop_the_writer(server: Server) -> None:
    """Many writes whose clients give up after a millisecond (the connection is closed while
    the writer works on them); afterwards a write succeeds and /readyz says the writer lives."""
    context = server.context("B")
    seq = context.seq
    bodies = []
    for i in range(200):
        doc = {"kind": "transit", "volumes": [future_volume(-20.0 + i * 0.05, -30.0)]}
        body, reveal = commands.notice_body(doc, "B")
        sub = commands.signed(server.keys["B"], "notice.file", context.at(seq + i),
                              SystemClock().now(), body, reveal)
        bodies.append(json.dumps({"event": sub.event, "sig": sub.sig,
                                  "private": sub.private}).encode())

    def impatient(b: bytes) -> None:
        with contextlib.suppress(httpx.HTTPError):
            post(server, "B", b, timeout=0.001)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(impatient, bodies))
    ready = httpx.get(server.url + "/readyz", timeout=10)
    assert ready.status_code == 200
    writer = ready.json()["writer"]
    assert writer["alive"] is True and writer["failure"] is None
    with server.client("B") as c:
        seq = c.me()["next_seq"]
    doc = {"kind": "transit", "volumes": [future_volume(-25.0, -30.0)]}
    body, reveal = commands.notice_body(doc, "B")
    sub = commands.signed(server.keys["B"], "notice.file", server.context("B").at(seq),
                          SystemClock().now(), body, reveal)
    with server.client("B") as c:
        assert c.submit(sub)["index"] > 0


class Crash(BaseException):
    """Stands for anything that escapes every handler in the writer's loop."""


def test_readyz_is_503_with_the_reason_when_the_writer_thread_dies(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = make_world(tmp_path / "dep")
    w.writer.store.close()
    s = Service(w.dir, clock=w.clock, config=ServiceConfig(tactical_interval_s=3600))
    try:
        with TestClient(create_app(service=s)) as http:
            ok = http.get("/readyz")
            assert ok.status_code == 200
            assert set(ok.json()["writer"]) >= {"alive", "queued", "last_batch_at", "failure",
                                                "wal_bytes"}

            def crash(subs: Any) -> Any:
                raise Crash("the loop broke")

            monkeypatch.setattr(s.writer, "submit_batch", crash)
            body, reveal = commands.notice_body(
                {"kind": "transit", "volumes": [volume(35.0, 35.0)]}, "A")
            sub = w.sub("A", "notice.file", body, seq=1, private=reveal)
            assert isinstance(s.submit(sub).exception(10), Unavailable)
            s.sequencer._thread.join(10)
            r = http.get("/readyz")
            assert r.status_code == 503 and r.headers["content-type"] == PROBLEM
            problem = r.json()
            assert "Crash: the loop broke" in problem["detail"]
            assert problem["writer"]["alive"] is False
    finally:
        s.close()


def test_a_write_that_outlasts_the_timeout_is_a_503_problem(tmp_path: Path) -> None:
    w = make_world(tmp_path / "dep")
    w.writer.store.close()
    s = Service(w.dir, clock=w.clock,
                config=ServiceConfig(tactical_interval_s=3600, write_timeout_s=0.5))
    release = threading.Event()
    entered = threading.Event()

    def hold(_: Any) -> None:
        entered.set()
        release.wait(30)

    try:
        with TestClient(create_app(service=s)) as http:
            store = s.deployment.store()
            token = issue_token(store, "A", "t", w.clock)
            store.close()
            s.call(hold)
            assert entered.wait(10)
            body, reveal = commands.notice_body(
                {"kind": "transit", "volumes": [volume(35.0, 35.0)]}, "A")
            sub = w.sub("A", "notice.file", body, seq=1, private=reveal)
            r = http.post("/v1/events", headers={"Authorization": f"Bearer {token}"},
                          content=json.dumps({"event": sub.event, "sig": sub.sig,
                                              "private": sub.private}))
            release.set()
            assert r.status_code == 503 and r.headers["content-type"] == PROBLEM
            assert "will not be written" in r.json()["detail"]
    finally:
        release.set()
        s.close()
