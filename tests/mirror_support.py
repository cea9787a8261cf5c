"""An in-process source for replicas: a deployment's store served as one party sees it, as
the API serves it (`picture.view.entry_for`), with a hook to tamper with what it serves. Two
stores under one log key make a malicious operator."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from accord.log.note import NoteVerifier
from accord.mirror.local import StoreSource as LocalSource
from accord.mirror.replica import Replica
from accord.service.deployment import Deployment
from accord.service.writer import Writer
from accord.store.mirror import MirrorStore
from accord.store.sqlite import SqliteStore
from accord.timefmt import ManualClock
from support import T0, World


class StoreSource(LocalSource):
    def __init__(self, world: World, party: str,
                 tamper: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> None:
        super().__init__(world.writer.store, party)
        self.tamper = tamper
        self.checkpoint_note: str | None = None  # served instead of the latest, if set

    def checkpoint(self) -> str:
        return self.checkpoint_note if self.checkpoint_note is not None else super().checkpoint()

    def entries(self, start: int, end: int) -> list[dict[str, Any]]:
        rows = super().entries(start, end)
        return [self.tamper(r) for r in rows] if self.tamper else rows


def fork(world: World, dir: Path) -> World:
    """A copy of the deployment (same log key) that goes on on its own: the operator's second
    history."""
    world.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copytree(world.dir, dir)
    d = Deployment.open(dir)
    from accord.timefmt import ManualClock

    clock = ManualClock(world.clock.now())
    return World(dir, Writer(SqliteStore(d.db_path), d.signer(), clock), clock, world.keys)


def replica(tmp: Path, w: World, party: str = "A") -> Replica:
    """An empty replica of `w`'s log for `party`, in `tmp`, given the log key out of band."""
    store = MirrorStore(tmp / f"mirror-{party}.db", create=True)
    vkey = w.store.meta("log_key") or ""
    store.set_meta("log_key", vkey)
    return Replica(store, NoteVerifier.parse(vkey), party, ManualClock(T0))


def replica_of(tmp: Path, w: World, party: str) -> Replica:
    """A replica of `w`'s log for `party`, caught up."""
    r = replica(tmp, w, party)
    r.sync(StoreSource(w, party))
    return r
