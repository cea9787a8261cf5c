"""One elected writer among several `accord serve` processes on one PostgreSQL database.

Three real processes serve one deployment; parties file through all of them (the followers
pass writes on to the writer). The writer is killed with SIGKILL under load: another takes
over within seconds, and afterwards every receipt any party got is in the log at its index,
byte for byte, under a checkpoint that is the log's own tree (two writers acknowledging would
have signed two trees); the whole log verifies. A writer frozen with SIGSTOP is cut off by
the server and replaced; when it wakes it finds the seat gone and follows.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from accord.service.deployment import Deployment
from accord.service.runtime import issue_token
from accord.timefmt import SystemClock
from accord.verify import verify_store
from failover import Node, Party, check_receipts, serve, wait_for, writer_of
from support import make_world

SPOTS = [(20.0 + i * 0.5, 10.0) for i in range(4)]


@pytest.fixture
def deployment(tmp_path: Path, pg_server: Any) -> Iterator[tuple[Path, dict[str, str], Any]]:
    with pg_server.database() as url:
        clock = SystemClock()
        world = make_world(tmp_path / "dep", parties=("A", "B", "C", "D"), start=clock.now(),
                           database=url)
        tokens = {p: issue_token(world.store, p, "failover", clock) for p in world.keys}
        world.store.close()
        # Writes that hang on a frozen writer give up sooner than the default 15 s.
        with (world.dir / "accord.toml").open("a") as fh:
            fh.write("\n[service]\nwrite_timeout_s = 4.0\n")
        yield world.dir, tokens, world.keys


@pytest.fixture
def nodes(deployment: tuple[Path, dict[str, str], Any], tmp_path: Path) -> Iterator[list[Node]]:
    dir = deployment[0]
    started: list[Node] = []
    try:
        for i in range(3):
            started.append(serve(dir, tmp_path / f"serve{i}.log"))
        yield started
    finally:
        for n in started:
            n.stop()


def parties(deployment: tuple[Path, dict[str, str], Any], urls: list[str]) -> list[Party]:
    _, tokens, keys = deployment
    return [Party(keys[p], tokens[p], urls[i % len(urls):] + urls[:i % len(urls)], SPOTS[i])
            for i, p in enumerate(sorted(keys))]


def final_check(dir: Path, filers: list[Party]) -> dict[str, int]:
    d = Deployment.open(dir)
    store = d.store(readonly=True)
    try:
        counts = check_receipts(filers, store, d.verifier_key)
        report = verify_store(store, d.verifier_key)
        assert report.ok, report
    finally:
        store.close()
    return counts


def test_the_writer_killed_under_load_is_replaced_and_no_receipt_is_lost(
        deployment: tuple[Path, dict[str, str], Any], nodes: list[Node]) -> None:
    old = writer_of(nodes)
    assert sum(n.role() == "follower" for n in nodes) == 2
    filers = parties(deployment, [n.url for n in nodes])
    stop = threading.Event()
    for f in filers:
        f.start(stop)
    wait_for("filings before the kill", lambda: sum(len(f.acked) for f in filers) >= 60, 60)
    old.kill()
    killed = time.monotonic()
    before = sum(len(f.acked) for f in filers)
    wait_for("filings after the kill",
             lambda: sum(len(f.acked) for f in filers) >= before + 60, 60)
    stop.set()
    for f in filers:
        f.join()
    new = writer_of([n for n in nodes if n is not old])
    assert new is not old
    after = [a.at for f in filers for a in f.acked if a.at > killed]
    took = min(after) - killed
    assert took < 10.0, f"the first write after the kill was acknowledged {took:.1f} s later"
    assert not [x for f in filers for x in f.failures]
    counts = final_check(deployment[0], filers)
    assert counts["receipts"] >= before + 60
    # Followers answer reads from the log the new writer keeps writing.
    follower = next(n for n in nodes if n is not old and n is not new)
    size = counts["entries"]
    wait_for("the follower caught up", lambda: (follower.readyz() or {}).get("entries") == size,
             10)


def test_a_follower_passes_writes_on_and_serves_what_the_writer_wrote(
        deployment: tuple[Path, dict[str, str], Any], nodes: list[Node]) -> None:
    writer = writer_of(nodes)
    followers = [n for n in nodes if n is not writer]
    filer = parties(deployment, [followers[0].url])[0]
    filer.run(threading.Event(), limit=5)
    assert len(filer.acked) == 5 and not filer.failures
    headers = {"Authorization": f"Bearer {deployment[1][filer.name]}"}
    last = filer.acked[-1]
    for f in followers:
        wait_for("the follower's read model", lambda f=f: httpx.get(
            f"{f.url}/v1/notices/{filer.name}-5", headers=headers).status_code == 200, 10)
        r = httpx.get(f"{f.url}/v1/log/receipt/{last.index}", headers=headers)
        assert r.status_code == 200 and r.json()["leaf_hash"] == last.receipt["leaf_hash"]
    # A write that was passed on once is not passed on again: the problem names the writer.
    r = httpx.post(followers[1].url + "/v1/events", headers={
        **headers, "Accord-Forwarded-By": "elsewhere"}, json={"event": {}, "sig": ""})
    assert r.status_code in (400, 503)
    r = httpx.post(followers[1].url + "/v1/events", headers={
        **headers, "Accord-Forwarded-By": "elsewhere"},
        json={"event": filer_event(filer), "sig": "x"})
    assert r.status_code == 503, r.text
    assert r.json()["type"].endswith("/not-the-writer")
    assert r.headers["location"] == writer.url + "/v1/events"
    assert r.json()["writer"] == writer.url
    final_check(deployment[0], [filer])


def filer_event(filer: Party) -> dict[str, Any]:
    return {"v": 2, "type": "notice.file", "party": filer.name, "seq": 99,
            "issued_at": "2030-01-01T00:00:00Z", "log": "x", "agreement": None, "body": {}}


def test_a_frozen_writer_is_cut_off_replaced_and_follows_when_it_wakes(
        deployment: tuple[Path, dict[str, str], Any], nodes: list[Node]) -> None:
    old = writer_of(nodes)
    others = [n for n in nodes if n is not old]
    filers = parties(deployment, [n.url for n in others])
    stop = threading.Event()
    for f in filers:
        f.start(stop)
    wait_for("filings before the freeze", lambda: sum(len(f.acked) for f in filers) >= 40, 60)
    old.proc.send_signal(signal.SIGSTOP)
    frozen = time.monotonic()
    try:
        new = writer_of(others)
        before = sum(len(f.acked) for f in filers)
        wait_for("filings after the freeze",
                 lambda: sum(len(f.acked) for f in filers) >= before + 40, 60)
        assert time.monotonic() - frozen < 30
    finally:
        old.proc.send_signal(signal.SIGCONT)
    # Awake again, it finds its session cut and the term moved on: it follows.
    wait_for("the old writer follows", lambda: old.role() == "follower", 30)
    stop.set()
    for f in filers:
        f.join()
    assert new.role() == "writer"
    assert sum(n.role() == "writer" for n in nodes) == 1
    assert not [x for f in filers for x in f.failures]
    final_check(deployment[0], filers)
