"""The writer survives whatever a caller does: cancellation, timeouts, poison commands, bugs.

Issue 7, items 9 and 10: a cancelled caller must not reach the writer's thread, a command that
fails in any way (not only with an AccordError, and also after its entry was appended) is
rolled back alone, and a writer that cannot answer says so instead of hanging.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from accord import commands
from accord.errors import AccordError, TooDeep, Unavailable, WriteFailed
from accord.limits import MAX_DEPTH, check_depth, parse_json
from accord.log.event import canonical, private_digest
from accord.service.runtime import Service, ServiceConfig
from accord.service.writer import Alerts, Outcome, Submission, Tick, rebuild_picture
from accord.verify import verify_store
from support import World, live_snapshot, make_world, volume


def nested(depth: int) -> list[Any]:
    root: list[Any] = []
    cur = root
    for _ in range(depth - 1):
        nxt: list[Any] = []
        cur.append(nxt)
        cur = nxt
    return root


def notice(w: World, party: str, seq: int, lon: float,
           private: dict[str, Any] | None = None) -> Submission:
    doc: dict[str, Any] = {"kind": "transit", "volumes": [volume(lon, 35.0, half=0.01)]}
    if private is not None:
        doc["private"] = private
    body, reveal = commands.notice_body(doc, party)
    return w.sub(party, "notice.file", body, seq=seq, private=reveal)


def deep_private(w: World, seq: int, depth: int) -> Submission:
    """A notice whose private part is nested `depth` deep, with the digest that matches it (as
    a hostile party computes it, with a raised recursion limit)."""
    data = nested(depth)
    salt = secrets.token_bytes(16)
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, depth * 4 + 1000))
    try:
        digest = private_digest(salt, data)
    finally:
        sys.setrecursionlimit(old)
    body, _ = commands.notice_body({"kind": "transit", "volumes": [volume(36.0, 35.0)]}, "A")
    body["private_digest"] = digest
    return w.sub("A", "notice.file", body, seq=seq,
                 private={"salt": base64.b64encode(salt).decode(), "data": data})


def in_thread(fn: Any) -> Any:
    """Run `fn` on a fresh thread (as the writer does: a shallow stack), return or raise."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:
            out["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


# -- nesting limits ------------------------------------------------------------------------------


def test_depth_limit_is_exact() -> None:
    check_depth(nested(MAX_DEPTH))
    with pytest.raises(TooDeep):
        check_depth(nested(MAX_DEPTH + 1))
    check_depth({"a": [{"b": nested(MAX_DEPTH - 3)}]})
    with pytest.raises(TooDeep):
        check_depth({"a": [{"b": nested(MAX_DEPTH - 2)}]})
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(TooDeep):
        check_depth(cyclic)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 900, 5000, 100_000])
def test_parse_refuses_deep_json_with_an_accord_error(depth: int) -> None:
    raw = b"[" * depth + b"]" * depth
    with pytest.raises(TooDeep) as err:
        parse_json(raw)
    assert err.value.status == 400 and err.value.field == "body"
    obj_raw = ('{"a":' * depth + "1" + "}" * depth)
    with pytest.raises(TooDeep):
        parse_json(obj_raw)
    assert parse_json(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None


def test_canonical_refuses_what_it_cannot_encode() -> None:
    with pytest.raises(TooDeep):
        in_thread(lambda: canonical(nested(5000)))


# -- item 10: one command's failure is its own -------------------------------------------------


@pytest.mark.parametrize("depth", [500, 900, 990])
def test_deeply_nested_private_part_fails_alone(world: World, depth: int) -> None:
    bad = deep_private(world, 1, depth)
    good = [notice(world, "B", 1, 38.0), notice(world, "B", 2, 38.5)]
    results = in_thread(lambda: world.writer.submit_batch([good[0], bad, good[1]]))
    assert isinstance(results[1], TooDeep)
    assert all(isinstance(r, Outcome) and r.receipt is not None for r in (results[0], results[2]))
    assert world.store.size() == 3  # the agreement and B's two notices


def snapshot(w: World) -> dict[str, Any]:
    return w.writer.picture.snapshot()


def assert_consistent(w: World) -> None:
    """Memory, projection and log agree, and the whole store verifies."""
    rebuilt = rebuild_picture(w.store, w.writer.operator_key)
    assert snapshot(w) == rebuilt.snapshot()
    # The read model readers use holds exactly the committed log, with its checkpoint.
    model = w.writer.published
    assert model.snapshot() == live_snapshot(rebuilt, model.live_at, model.findings)
    assert w.writer.published.checkpoint == w.store.checkpoint()
    assert w.writer.log.size == w.store.size()
    report = verify_store(w.store, (w.dir / "log.pub").read_text().strip())
    assert report.ok, report


def test_failure_after_the_entry_was_appended_rolls_back_that_command_only(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """A finding that fails to record (here a TypeError from a bug) happens after the
    notice's entry is appended: the savepoint removes the entry, the picture forgets it, the
    caller hears WriteFailed, and the rest of the batch commits."""
    world.file("B", {"kind": "transit", "volumes": [volume(35.0, 35.0, half=0.02)]},
               notice="B-1")
    before = world.store.size()
    w = world.writer
    real = w._record
    calls = {"n": 0}

    def flaky(finding: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise TypeError("a bug in recording the finding")
        return real(finding)

    monkeypatch.setattr(w, "_record", flaky)
    conflicting = notice(world, "A", 1, 35.02)  # conflicts with B-1: raises a finding
    also = notice(world, "A", 1, 35.03)  # the same seq: the first one was rolled back
    other = notice(world, "B", 2, 39.0)
    results = w.submit_batch([conflicting, other, also])
    assert isinstance(results[0], WriteFailed)
    assert "nothing of it was written" in results[0].detail
    assert isinstance(results[1], Outcome)
    assert isinstance(results[2], Outcome) and results[2].findings
    ids = {n for n in w.picture.notices}
    assert conflicting.event["body"]["notice"] not in ids
    assert world.store.size() == before + 3  # other, also, and also's finding
    assert_consistent(world)


@pytest.mark.parametrize("boom", [RecursionError, TypeError, KeyError, ZeroDivisionError])
def test_any_exception_in_a_command_is_isolated(world: World, monkeypatch: pytest.MonkeyPatch,
                                                boom: type[Exception]) -> None:
    w = world.writer
    real = w.store.add_private

    def failing(notice_id: str, *args: Any) -> None:
        if notice_id.startswith("A-"):
            raise boom("injected")
        real(notice_id, *args)

    monkeypatch.setattr(w.store, "add_private", failing)
    bad = notice(world, "A", 1, 35.0, private={"callsign": "X"})
    good = notice(world, "B", 1, 38.0, private={"callsign": "Y"})
    results = w.submit_batch([bad, good])
    assert isinstance(results[0], WriteFailed) and isinstance(results[1], Outcome)
    assert world.store.size() == 2
    assert w.picture.seqs.get("A") is None  # A may send seq 1 again
    monkeypatch.undo()
    again = w.submit(notice(world, "A", 1, 35.0, private={"callsign": "X"}))
    assert again.index == 2
    assert_consistent(world)


def test_exceptions_in_alerts_and_escalation_do_not_take_others_down(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    w = world.writer
    good = notice(world, "B", 1, 38.0)
    malformed = Alerts([{"key": "k", "level": 1}])  # no "change": a KeyError in _alerts
    raised = {"change": "raised", "key": "A1|B1", "level": 2, "kind": "separation"}
    half_bad = Alerts([raised, {"key": "x"}])  # the first alert is appended, then it fails

    def overdue(at: Any) -> Any:
        raise RuntimeError("escalation bug")

    monkeypatch.setattr(w.picture, "overdue", overdue)
    results = w.submit_batch([malformed, good, half_bad, Tick()])
    assert isinstance(results[0], WriteFailed)
    assert isinstance(results[1], Outcome)
    assert isinstance(results[2], WriteFailed)  # and its first alert went with it
    assert isinstance(results[3], WriteFailed)
    assert world.store.size() == 2 and w.picture.alerts == {}
    monkeypatch.undo()
    assert_consistent(world)


def test_refusal_after_a_partial_command_leaves_no_trace(world: World) -> None:
    """An AccordError raised after an append (here: an alert change refused by the fold
    after the first alert of the same item was appended) is undone like any other."""
    w = world.writer
    raised = {"change": "raised", "key": "A1|B1", "level": 2, "kind": "separation"}
    results = w.submit_batch([Alerts([raised, dict(raised, change="raised")])])
    # the second "raised" for an open key becomes "updated": both are written
    assert isinstance(results[0], list) and len(results[0]) == 2
    twice = Alerts([dict(raised, key="k2"), {"change": "bogus", "key": "k2"}])
    [res] = w.submit_batch([twice])
    assert isinstance(res, AccordError)
    assert "k2" not in w.picture.open_alerts
    assert_consistent(world)


def test_a_batch_that_cannot_commit_writes_nothing_and_the_writer_goes_on(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    w = world.writer

    def broken(*args: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(w.log, "seal", broken)
    with pytest.raises(OSError):
        w.submit_batch([notice(world, "A", 1, 35.0), notice(world, "B", 1, 38.0)])
    assert world.store.size() == 1 and w.picture.size == 1
    assert w.published.size == 1 and not w.published.notices
    monkeypatch.undo()
    out = w.submit(notice(world, "A", 1, 35.0))
    assert out.index == 1
    assert_consistent(world)


def test_readers_never_see_a_half_applied_or_rolled_back_batch(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a reader takes while a batch runs (here: at the moment a command fails after its
    entry was appended, and at the moment the whole batch fails to commit) is the model of
    the last commit; after the batch, the model holds what committed and nothing else."""
    w = world.writer
    world.file("B", {"kind": "transit", "volumes": [volume(35.0, 35.0, half=0.02)]},
               notice="B-1")
    before = w.published
    seen: list[Any] = []
    real = w._record

    def flaky(finding: Any) -> Any:
        seen.append(w.published)  # a reader on another thread would take exactly this
        raise TypeError("a bug in recording the finding")

    monkeypatch.setattr(w, "_record", flaky)
    conflicting = notice(world, "A", 1, 35.02)
    other = notice(world, "B", 2, 39.0)
    results = w.submit_batch([other, conflicting])
    assert isinstance(results[0], Outcome) and isinstance(results[1], WriteFailed)
    b2 = other.event["body"]["notice"]
    assert seen == [before]  # mid-batch: B's notice applied in memory, not yet committed
    assert b2 in w.picture.notices and b2 not in seen[0].notices
    model = w.published
    assert model is not before and model.size == before.size + 1
    assert set(model.notices) == {"B-1", b2}  # the rolled-back notice of A is not there
    assert before.size == 2 and set(before.notices) == {"B-1"}  # the old model is unchanged
    monkeypatch.setattr(w, "_record", real)

    def broken() -> None:
        seen.append(w.published)
        raise OSError("disk full")

    monkeypatch.setattr(w.log, "seal", broken)
    third = notice(world, "B", 3, 38.0)
    with pytest.raises(OSError):
        w.submit_batch([notice(world, "A", 1, 35.5), third])
    assert seen[-1] is model and w.published is model  # all applied in memory, none shown
    assert third.event["body"]["notice"] not in model.notices and "A" not in model.seqs
    monkeypatch.undo()
    assert_consistent(world)


# -- item 9: the sequencer's thread --------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[World, Service]]:
    w = make_world(tmp_path / "dep")
    w.writer.store.close()
    s = Service(w.dir, clock=w.clock,
                config=ServiceConfig(tactical_interval_s=3600, write_timeout_s=1.0))
    yield w, s
    s.close()


def block_writer(s: Service) -> threading.Event:
    """Hold the writer's thread on a call until the returned event is set."""
    release = threading.Event()
    entered = threading.Event()

    def hold(_: Any) -> None:
        entered.set()
        release.wait(30)

    s.call(hold)
    assert entered.wait(10)
    return release


def test_cancelled_before_the_writer_takes_it_is_dropped_unwritten(
        served: tuple[World, Service]) -> None:
    w, s = served
    release = block_writer(s)
    futs = [s.submit(notice(w, p, i, 35.0 + i * 0.2)) for i in (1, 2) for p in ("A", "B")]
    assert futs[1].cancel() and futs[3].cancel()  # B's seq 1 and 2
    release.set()
    assert [futs[0].result(10).index, futs[2].result(10).index] == [1, 2]
    later = s.submit(notice(w, "B", 1, 39.0)).result(10)  # B's seq 1 was never written
    assert later.index == 3
    assert s.sequencer.alive and s.writer_health()["alive"]


def test_cancelled_while_the_batch_runs_still_gets_its_answer(
        served: tuple[World, Service]) -> None:
    """The future is taken (running) when the batch starts: a cancel then fails, the command
    is written, and the writer hands over the result without dying."""
    w, s = served
    release = block_writer(s)
    in_batch = threading.Event()
    go_on = threading.Event()

    def listener(entries: Any) -> None:
        in_batch.set()
        go_on.wait(30)

    s.writer.listeners.append(listener)
    futs = [s.submit(notice(w, "A", i, 35.0 + i * 0.2)) for i in (1, 2, 3)]
    release.set()
    assert in_batch.wait(10)
    assert not any(f.cancel() for f in futs)
    go_on.set()
    assert [f.result(10).index for f in futs] == [1, 2, 3]
    s.writer.listeners.remove(listener)
    assert s.submit(notice(w, "B", 1, 39.0)).result(10).index == 4
    assert s.sequencer.alive


def test_asyncio_cancellation_under_load_never_kills_the_writer(
        served: tuple[World, Service]) -> None:
    """Many awaiting tasks, cancelled at random moments (a client gone, a shutdown), as the
    API awaited the writer before this fix (asyncio.wrap_future): then a write succeeds."""
    w, s = served
    subs = [notice(w, p, i, (35.0 if p == "A" else 38.0) + i * 0.01)
            for i in range(1, 151) for p in ("A", "B")]

    async def run() -> None:
        tasks = [asyncio.ensure_future(asyncio.wrap_future(s.submit(sub))) for sub in subs]
        for i, t in enumerate(tasks):
            if i % 3 == 0:
                await asyncio.sleep(0)
                t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(run())
    seq = s.call(lambda wr: wr.picture.next_seq("B")).result(10)
    after = s.submit(notice(w, "B", seq, 39.5)).result(10)
    assert isinstance(after, Outcome)
    assert s.sequencer.alive and s.sequencer.failure is None


def test_a_write_the_writer_does_not_take_in_time_is_503_and_withdrawn(
        served: tuple[World, Service]) -> None:
    w, s = served
    release = block_writer(s)
    size = s.store.size()
    started = time.monotonic()

    async def run() -> Any:
        return await s.wait(s.submit(notice(w, "A", 1, 35.0)))

    with pytest.raises(Unavailable) as err:
        asyncio.run(run())
    assert 0.9 < time.monotonic() - started < 5
    assert err.value.status == 503 and "will not be written" in err.value.detail
    release.set()
    assert s.submit(notice(w, "B", 1, 38.0)).result(10).index == size
    assert s.store.size() == size + 1  # A's withdrawn command never reached the log


def test_a_write_taken_but_not_finished_in_time_says_it_may_still_be_written(
        served: tuple[World, Service]) -> None:
    w, s = served
    hold = threading.Event()

    def slow(entries: Any) -> None:
        hold.wait(30)

    s.writer.listeners.append(slow)

    async def run() -> Any:
        return await s.wait(s.submit(notice(w, "A", 1, 35.0)))

    with pytest.raises(Unavailable) as err:
        asyncio.run(run())
    assert "may still be written" in err.value.detail
    hold.set()
    s.writer.listeners.remove(slow)


class Crash(BaseException):
    """Stands for anything that escapes every handler (a bug in the loop itself)."""


def test_a_dead_writer_thread_is_not_ready_and_refuses_at_once(
        served: tuple[World, Service], monkeypatch: pytest.MonkeyPatch) -> None:
    w, s = served
    assert s.writer_health()["alive"]

    def crash(subs: Any) -> Any:
        raise Crash("the loop broke")

    monkeypatch.setattr(s.writer, "submit_batch", crash)
    fut = s.submit(notice(w, "A", 1, 35.0))
    assert isinstance(fut.exception(10), Unavailable)
    s.sequencer._thread.join(10)
    with pytest.raises(Unavailable) as err:
        s.writer_health()
    assert "Crash: the loop broke" in err.value.detail
    assert err.value.extra["writer"]["alive"] is False
    started = time.monotonic()
    later: Future[Outcome] = s.submit(notice(w, "B", 1, 38.0))
    assert isinstance(later.exception(1), Unavailable)
    assert time.monotonic() - started < 1


def test_a_writer_stuck_on_a_batch_is_not_ready(served: tuple[World, Service]) -> None:
    w, s = served
    hold = threading.Event()

    def slow(entries: Any) -> None:
        hold.wait(30)

    s.writer.listeners.append(slow)
    fut = s.submit(notice(w, "A", 1, 35.0))
    time.sleep(1.3)
    with pytest.raises(Unavailable) as err:
        s.writer_health()
    assert "on one batch" in err.value.detail
    hold.set()
    assert fut.result(10).index == 1
    s.writer.listeners.remove(slow)
    assert s.writer_health()["alive"]


@pytest.mark.parametrize("name,text", [
    ("deep.json", "[" * 5000 + "]" * 5000),
    ("deep.json", '{"kind":' + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "}"),
    ("deep.toml", "x = " + "[" * 5000 + "]" * 5000 + "\n"),
    ("deep.toml", "x = " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "\n"),
])
def test_documents_read_by_the_cli_are_bounded_too(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(TooDeep):
        commands.load_document(path)


def test_the_journal_restores_fields_it_was_not_written_for(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """A field added to Picture later (here a list, a set and a reassigned dict) is undone too."""
    w = world.writer
    p = w.picture
    p.extra_list = [1]  # type: ignore[attr-defined]
    p.extra_set = {"a"}  # type: ignore[attr-defined]
    real = w._one

    def meddle(sub: Any) -> Any:
        p.extra_list.append(2)  # type: ignore[attr-defined]
        p.extra_set.add("b")  # type: ignore[attr-defined]
        p.pending = {"new": "dict"}  # type: ignore[assignment]
        p.notices["ghost"] = "x"  # type: ignore[assignment]
        real(sub)
        raise ValueError("after the append")

    before = snapshot(world)
    pending = dict(p.pending)
    monkeypatch.setattr(w, "_one", meddle)
    [res] = w.submit_batch([notice(world, "A", 1, 35.0)])
    assert isinstance(res, WriteFailed)
    assert w.picture.extra_list == [1] and w.picture.extra_set == {"a"}  # type: ignore[attr-defined]
    assert dict(w.picture.pending) == pending and "ghost" not in w.picture.notices
    assert snapshot(world) == before
    monkeypatch.undo()
    del p.extra_list, p.extra_set  # type: ignore[attr-defined]
    assert_consistent(world)
