"""Clock steps (issue 7, item 13): a step of the wall clock against the monotonic clock, either
way, is logged as an operator `clock` entry and puts the clock in doubt in `/readyz`."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from accord.api.app import create_app
from accord.errors import InvalidInput, InvalidTime, UnknownParty
from accord.log.event import Entry, Event, sign_event
from accord.log.merkle import leaf_hash
from accord.picture.view import entry_audience
from accord.service.deployment import Deployment
from accord.service.runtime import Service, ServiceConfig
from accord.service.writer import Submission, Writer
from accord.timefmt import CLOCK_DOUBT, CLOCK_STEP, ClockWatch, ManualClock, format_time
from accord.verify import verify_store
from support import T0, World, make_world, volume


def clock_entries(world: World) -> list[dict[str, Any]]:
    out = []
    for _, data in world.store.entries():
        e = json.loads(data)
        if e["event"]["type"] == "clock":
            out.append(e)
    return out


def transit(n: int) -> dict[str, Any]:
    return {"kind": "transit", "volumes": [volume(lon=10 + n)]}


def signed_at(world: World, party: str, issued: datetime, n: int) -> Submission:
    """A filing signed by a party whose own clock reads `issued` (it did not step)."""
    sub = world.sub(party, "notice.file", {**transit(n), "notice": f"N{n}"})
    event = Event.from_json({**sub.event, "issued_at": format_time(issued)})
    return Submission(event=event.to_json(), sig=world.keys[party].sign(event))


@pytest.mark.parametrize("minutes", [2, -2])
def test_a_step_is_logged_before_the_next_entry(world: World, minutes: int) -> None:
    world.file("A", transit(1))
    real = world.clock.now()
    world.clock.step(timedelta(minutes=minutes))
    out = world.writer.submit(signed_at(world, "A", real, 2))
    [clock] = clock_entries(world)
    assert clock["event"]["party"] == "operator"
    body = clock["event"]["body"]
    assert abs(body["step_us"] - minutes * 60_000_000) < 1_000  # the µs ticks in between
    assert (body["wall"] > body["previous_wall"]) == (minutes > 0)
    # The step entry comes just before the entry whose receive time follows the new clock;
    # receive times still strictly increase (pinned to the last + 1 µs when it went back).
    before = Entry.decode(world.store.entry(out.index - 1))
    assert before.event.type == "clock"
    received = [json.loads(d)["received_at"] for _, d in world.store.entries()]
    assert received == sorted(received) and len(set(received)) == len(received)
    # Every party may read it, and the log still verifies (the fold checks the body).
    assert entry_audience(before, world.writer.picture.agreement) is None
    assert verify_store(world.store, Deployment.open(world.dir).verifier_key).ok


@pytest.mark.parametrize("hours", [1, -1])
def test_after_a_large_step_parties_are_refused_and_the_step_is_logged(world: World,
                                                                         hours: int) -> None:
    """Off by an hour, the operator cannot give a true receive time: a party whose clock is
    right is refused (issued_at outside the window), and the step is in the log anyway."""
    world.file("A", transit(1))
    real = world.clock.now()
    world.clock.step(timedelta(hours=hours))
    world.clock.advance(timedelta(minutes=2))
    size = world.store.size()
    with pytest.raises(InvalidTime) as exc:
        world.writer.submit(signed_at(world, "A", real + timedelta(minutes=2), 2))
    assert exc.value.field == "event.issued_at"
    assert world.store.size() == size + 1 and len(clock_entries(world)) == 1
    assert verify_store(world.store, Deployment.open(world.dir).verifier_key).ok


def test_time_passing_and_small_steps_are_not_steps(world: World) -> None:
    world.clock.advance(timedelta(minutes=50))  # both clocks: time passing
    world.file("A", transit(1))
    world.clock.step(CLOCK_STEP / 2)  # within the threshold: what slewing does
    world.file("A", transit(2))
    assert clock_entries(world) == []


def test_slewing_over_a_long_interval_is_not_a_step(world: World) -> None:
    world.file("A", transit(1))
    world.clock.advance(timedelta(hours=2))
    world.clock.step(timedelta(seconds=3))  # 3 s over 2 h: under 500 ppm (3.6 s)
    world.file("A", transit(2))
    assert clock_entries(world) == []


def test_a_forged_clock_entry_does_not_fold(world: World) -> None:
    """The fold checks that step_us is the readings' difference and that only the operator
    records steps."""
    world.clock.step(timedelta(minutes=5))
    world.file("A", transit(1))
    [clock] = clock_entries(world)
    body = dict(clock["event"]["body"], step_us=clock["event"]["body"]["step_us"] + 1)
    picture = world.writer.picture
    now = world.clock.now()
    ev = picture.context("operator").event("clock", "operator", format_time(now), body)
    entry = Entry(event=ev, received_at=now, sig=sign_event(ev, world.writer.signer.private_key))
    with pytest.raises(InvalidInput) as exc:
        picture.apply(entry, leaf_hash(entry.encode()))
    assert exc.value.field == "event.body.step_us"
    with pytest.raises(UnknownParty):
        world.writer.submit(world.sub("A", "clock", clock["event"]["body"]))


def test_the_watch_puts_the_clock_in_doubt_for_a_bounded_time() -> None:
    clock = ManualClock(T0)
    watch = ClockWatch(clock)
    watch.now()
    assert watch.status() == {"state": "ok"}
    clock.step(timedelta(minutes=2))
    status = watch.status()
    assert status["state"] == "in doubt" and status["step_s"] == pytest.approx(120, abs=1e-3)
    assert len(watch.take()) == 1 and watch.take() == []
    clock.advance(CLOCK_DOUBT - timedelta(seconds=1))
    assert watch.status()["state"] == "in doubt"
    clock.advance(timedelta(seconds=2))
    assert watch.status() == {"state": "ok"}
    # Back by an hour: in doubt until real time has caught up as well.
    clock.step(timedelta(hours=-1))
    watch.now()  # seen here
    clock.advance(CLOCK_DOUBT + timedelta(minutes=1))
    status = watch.status()
    assert status["state"] == "in doubt" and status["step_s"] == pytest.approx(-3600, abs=1e-3)
    clock.advance(timedelta(hours=1))
    assert watch.status() == {"state": "ok"}


def test_readyz_reports_the_clock_in_doubt_and_the_service_logs_the_step(tmp_path: Path) -> None:
    w = make_world(tmp_path / "dep")
    w.writer.store.close()
    s = Service(w.dir, clock=w.clock, config=ServiceConfig(tactical_interval_s=3600,
                                                           timer_interval_s=0.05))
    try:
        with TestClient(create_app(service=s)) as http:
            assert http.get("/readyz").json()["clock"] == {"state": "ok"}
            w.clock.step(timedelta(minutes=-30))
            r = http.get("/readyz")
            assert r.status_code == 200
            clock = r.json()["clock"]
            assert clock["state"] == "in doubt" and clock["step_s"] < -1799
            # The timer queues a batch that logs the step, with no other write.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with s.reader() as store:
                    types = [json.loads(d)["event"]["type"] for _, d in store.entries()]
                if "clock" in types:
                    break
                time.sleep(0.05)
            assert types[-1] == "clock"
    finally:
        s.close()


def test_a_clock_behind_the_log_at_start_is_a_step(world: World) -> None:
    """Stepped back while the writer was not running (a restart, a restored machine): the
    wall clock is behind the log's last receive time, and the first batch logs it."""
    world.file("A", transit(1))
    last = world.writer.picture.last_received
    assert last is not None
    world.writer.store.close()
    clock = ManualClock(last - timedelta(hours=1))
    d = Deployment.open(world.dir)
    writer = Writer(d.store(), d.signer(), clock)
    assert writer.watch.status()["state"] == "in doubt"
    writer.escalate()  # any batch
    [step] = [json.loads(data)["event"]["body"] for _, data in writer.store.entries()
              if json.loads(data)["event"]["type"] == "clock"]
    assert abs(step["step_us"] + 3_600_000_000) < 1_000
    assert step["previous_wall"] == format_time(last, micro=True)
    assert verify_store(writer.store, d.verifier_key).ok
    writer.store.close()
    # Ahead of the log (the time it was stopped, or a forward step: no telling): nothing.
    again = Writer(d.store(), d.signer(), ManualClock(last + timedelta(days=1)))
    again.escalate()
    assert again.store.size() == writer.picture.size
    again.store.close()


class Interrupt(BaseException):
    pass


def test_a_step_taken_by_a_failed_batch_is_logged_by_the_next(world: World,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    world.file("A", transit(1))
    world.clock.step(timedelta(minutes=3))
    size = world.store.size()

    def fail(sub: Any) -> Any:
        raise Interrupt

    with monkeypatch.context() as m:
        m.setattr(world.writer, "_one", fail)
        with pytest.raises(Interrupt):
            world.writer.submit(world.sub("A", "notice.file", transit(2)))
    assert world.store.size() == size  # nothing of the batch, the clock entry neither
    world.file("A", transit(3))
    assert len(clock_entries(world)) == 1
