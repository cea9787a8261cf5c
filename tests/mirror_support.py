"""An in-process source for replicas: a deployment's store served as one party sees it, as
the API serves it (`picture.view.entry_for`), with a hook to tamper with what it serves. Two
stores under one log key make a malicious operator."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from accord.log.event import Entry
from accord.log.merkle import consistency_proof, leaf_hash
from accord.log.note import NoteVerifier
from accord.picture.view import entry_for
from accord.service.deployment import Deployment
from accord.service.writer import Writer, load_picture
from accord.store.sqlite import SqliteStore
from support import World


class StoreSource:
    def __init__(self, world: World, party: str,
                 tamper: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> None:
        self.world = world
        self.party = party
        self.tamper = tamper
        self.checkpoint_note: str | None = None  # served instead of the latest, if set

    @property
    def store(self) -> SqliteStore:
        return self.world.writer.store

    def checkpoint(self) -> str:
        if self.checkpoint_note is not None:
            return self.checkpoint_note
        cp = self.store.checkpoint()
        assert cp is not None
        return cp[1]

    def entries(self, start: int, end: int) -> list[dict[str, Any]]:
        key = NoteVerifier.parse(self.store.meta("log_key") or "").public_key.public_bytes_raw()
        pic = load_picture(self.store, key)
        rows = [entry_for(i, d, leaf_hash(d), Entry.decode(d), self.party, pic.agreement,
                          pic.messages)
                for i, d in self.store.entries(start, min(end, pic.size))]
        return [self.tamper(r) for r in rows] if self.tamper else rows

    def consistency(self, size1: int, size2: int) -> list[bytes]:
        return consistency_proof(self.store, size1, size2)


def fork(world: World, dir: Path) -> World:
    """A copy of the deployment (same log key) that goes on on its own: the operator's second
    history."""
    world.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copytree(world.dir, dir)
    d = Deployment.open(dir)
    from accord.timefmt import ManualClock

    clock = ManualClock(world.clock.now())
    return World(dir, Writer(SqliteStore(d.db_path), d.signer(), clock), clock, world.keys)
