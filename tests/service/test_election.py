"""The writer's seat on PostgreSQL: one holder at a time, a term that fences every batch, a
seat that goes with its session, and local commands that take it or are refused."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from accord.errors import Unavailable
from accord.service.deployment import Deployment
from accord.service.election import Seat, SeatLost, SeatTaken, holder, take_for_command
from accord.service.writer import Writer
from support import World, make_world, volume


@pytest.fixture
def pg_world(tmp_path: Path, pg_server: Any) -> Iterator[World]:
    with pg_server.database() as url:
        w = make_world(tmp_path / "dep", database=url)
        yield w
        w.writer.store.close()


def eventually(take: Any) -> Any:
    """`take()` once the server has ended a closed session (it does so a moment after the
    client hangs up, and only then releases that session's locks)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            got = take()
        except SeatTaken:
            got = None
        if got is not None or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def session(w: World) -> Any:
    return Deployment.open(w.dir).store()


def test_one_holder_at_a_time_and_the_seat_goes_with_its_session(pg_world: World) -> None:
    a, b = session(pg_world), session(pg_world)
    origin = pg_world.writer.origin
    first = Seat(a.db, origin, "a", "http://a")
    second = Seat(b.db, origin, "b", "http://b")
    assert first.try_take() == 1
    assert second.try_take() is None
    found = holder(b.db)
    assert found is not None and (found.term, found.name, found.url) == (1, "a", "http://a")
    a.close()  # the process died: the server releases the lock with the session
    assert eventually(second.try_take) == 2
    with pytest.raises(SeatLost):
        first.heartbeat()
    b.close()


def test_a_batch_whose_term_moved_on_is_rolled_back_whole(pg_world: World) -> None:
    store = session(pg_world)
    seat = Seat(store.db, pg_world.writer.origin, "w")
    assert seat.try_take() == 1
    pg_world.writer.store.close()
    writer = Writer(store, Deployment.open(pg_world.dir).signer(), pg_world.clock,
                    fence=seat.fence)
    pg_world.writer = writer
    pg_world.file("A", {"kind": "transit", "volumes": [volume(35.0, 35.0)]})
    size = store.size()
    # Someone moves the term on (a bug, or a writer that should not be): the next batch of
    # this writer must not commit, and it says so.
    with psycopg.connect(Deployment.open(pg_world.dir).database_url(),
                         autocommit=True) as other:
        other.execute("UPDATE accord_writer SET term = term + 1")
    with pytest.raises(SeatLost):
        pg_world.file("A", {"kind": "transit", "volumes": [volume(35.5, 35.0)]})
    assert store.size() == size and seat.lost is not None
    with pytest.raises(SeatLost):
        seat.heartbeat()


def test_a_local_command_takes_the_seat_or_is_refused(pg_world: World) -> None:
    a, b = session(pg_world), session(pg_world)
    origin = pg_world.writer.origin
    service = Seat(a.db, origin, "svc", "http://10.0.0.5:8470")
    assert service.try_take() == 1
    with pytest.raises(SeatTaken) as refused:
        take_for_command(b.db, origin)
    assert "http://10.0.0.5:8470" in refused.value.detail
    assert "--server" in (refused.value.accepted or "")
    a.close()
    assert eventually(lambda: take_for_command(b.db, origin)).term == 2
    b.close()


def test_a_commit_not_confirmed_is_told_as_maybe_written(world: World,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The connection failed during COMMIT (the writer's session cut, the server gone): the
    server may have committed, so the callers hear "may have been written", never "nothing
    was written", and the writer takes the store's word for where the log ends."""
    store = world.store
    real = store.transaction

    @contextmanager
    def cut() -> Iterator[None]:
        with real():
            yield
        raise ConnectionError("the server closed the connection during COMMIT")

    monkeypatch.setattr(store, "transaction", cut)
    with pytest.raises(Unavailable) as told:
        world.file("A", {"kind": "transit", "volumes": [volume(35.0, 35.0)]})
    assert "may have been written" in told.value.detail
    assert "next_seq" in (told.value.accepted or "")
    monkeypatch.undo()
    # Here the commit did happen: the writer reloaded and goes on after it.
    assert world.writer.picture.size == store.size() == 2
    out = world.file("A", {"kind": "transit", "volumes": [volume(35.5, 35.0)]})
    assert out.index == 2
