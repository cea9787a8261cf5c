"""A follower folds the log another process writes into the same read model the writer
publishes; every entry reaches its listeners once, in order; a store that is not the log its
picture came from makes it load again instead of serving a wrong picture."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from accord.errors import InvalidInput
from accord.service.deployment import Deployment
from accord.service.follower import Follower
from accord.service.writer import load_picture
from accord.store.sqlite import SqliteStore
from support import World, make_world, volume


def follower_of(world: World) -> Follower:
    """A follower on a session of its own (another process's, in a deployment)."""
    store = Deployment.open(world.dir).store(readonly=True)
    return Follower(store, lambda s: load_picture(s, world.writer.operator_key), world.clock)


def test_a_follower_holds_what_the_writer_publishes(world: World) -> None:
    f = follower_of(world)
    heard: list[int] = []
    f.listeners.append(lambda batch: heard.extend(i for i, _ in batch))
    assert f.published.snapshot() == world.writer.published.snapshot()
    for i in range(5):
        world.file("A", {"kind": "transit", "volumes": [volume(35.0 + i * 0.01, 35.0)]})
    world.file("B", {"kind": "transit", "volumes": [volume(35.0, 35.0)]})  # a finding too
    assert f.catch_up() == world.store.size() - 1
    assert heard == list(range(1, world.store.size()))
    assert f.published.snapshot() == world.writer.published.snapshot()
    assert f.published.checkpoint == world.writer.published.checkpoint
    assert f.catch_up() == 0 and len(heard) == world.store.size() - 1  # nothing twice


def test_a_follower_drops_notices_that_ended(world: World) -> None:
    f = follower_of(world)
    world.file("A", {"kind": "transit", "volumes": [volume(35.0, 35.0, minutes=30)]},
               notice="A-short")
    f.catch_up()
    assert "A-short" in f.published.notices
    world.clock.advance(timedelta(hours=3))
    f.catch_up()  # nothing new: the model follows the clock all the same
    assert "A-short" not in f.published.notices


def test_a_log_the_fold_refuses_is_never_folded_into_the_model(world: World) -> None:
    f = follower_of(world)
    world.file("A", {"kind": "transit", "volumes": [volume(35.0, 35.0)]})
    f.catch_up()
    model = f.published
    # The next entries: one good, then one the fold refuses (entry 1 again: its receive
    # time goes back), as if the database held another log.
    world.file("A", {"kind": "transit", "volumes": [volume(35.5, 35.0)]})
    size = world.store.size()
    with world.store.transaction():
        world.store.add_entries([(size, world.store.entry(1))])
        world.store.add_checkpoint(size + 1, world.store.checkpoint()[1])  # type: ignore[index]
    with pytest.raises(InvalidInput):
        f.catch_up()  # loading it again folds from entry 0, and fails the same way
    assert f.published is model  # the last good model is served, never half a read
    with pytest.raises(InvalidInput):
        f.catch_up()  # and it stays so: nothing is folded on the unsure picture


def test_a_restored_shorter_log_makes_the_follower_load_again(tmp_path: Path) -> None:
    world = make_world(tmp_path / "dep")  # SQLite: its online backup is the restore here
    backup = tmp_path / "backup.db"
    world.file("A", {"kind": "transit", "volumes": [volume(35.0, 35.0)]}, notice="A-kept")
    with sqlite3.connect(backup) as copy:
        world.store.db.backup(copy)
    f = follower_of(world)
    world.file("A", {"kind": "transit", "volumes": [volume(35.5, 35.0)]}, notice="A-lost")
    f.catch_up()
    assert set(f.published.notices) == {"A-kept", "A-lost"}
    f.store = SqliteStore(backup, readonly=True)  # the database was restored from it
    assert f.catch_up() == 0 and f.reloads == 1
    assert set(f.published.notices) == {"A-kept"} and f.published.size == 2
