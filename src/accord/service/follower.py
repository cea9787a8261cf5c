"""A follower: an `accord serve` process that is not the writer keeps its read model by folding
the log the writer commits to the shared database.

Each `catch_up` reads the latest checkpoint first and then the entries up to its size (all
committed: the writer stores entries and their checkpoint in one transaction), folds them
into its own picture and publishes the next read model, then tells the stream listeners,
as the writer does after each batch. The entries are not verified again here (the writer
admitted them, `accord verify` proves the log); they are folded by the same rule book, so
an entry the fold refuses means the database is not the log this picture came from (a
restore, a bug), as does a log shorter than the picture: the picture is then loaded again
whole, and until that succeeds the last model is served and nothing is folded.

Never imports the API or a database driver: the store is whatever the deployment opened.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from accord.log.event import Entry
from accord.log.merkle import leaf_hash
from accord.picture.fold import Picture
from accord.picture.readmodel import Publisher, ReadModel, Touched
from accord.timefmt import Clock

log = logging.getLogger("accord.follower")

Listener = Callable[[list[tuple[int, Entry]]], None]


class Follower:
    """The read side of a process that does not write: `published` is its committed read
    model, `listeners` hear of each entry once (in order, never twice)."""

    def __init__(self, store: Any, load: Callable[[Any], Picture], clock: Clock) -> None:
        """`load(store)` gives the picture as of a size that has a checkpoint (the store's
        projection read in one snapshot)."""
        self.store = store
        self.load = load
        self.clock = clock
        self.listeners: list[Listener] = []
        self.picture = load(store)
        self.publisher = Publisher(self.picture, self._checkpoint_at(self.picture.size),
                                   clock.now())
        self.reloads = 0
        self._stale = False  # a failed read left the picture unsure: load before folding

    @property
    def published(self) -> ReadModel:
        return self.publisher.model

    @property
    def size(self) -> int:
        return self.picture.size

    def _checkpoint_at(self, size: int) -> tuple[int, str] | None:
        return self.store.checkpoint(size) if size else None

    def catch_up(self) -> int:
        """Fold whatever the writer committed since the last call; the number of entries.
        Raises (and serves the last model meanwhile) when the store cannot be read."""
        if self._stale:
            self.reload()
        cp = self.store.checkpoint()
        if (cp[0] if cp is not None else 0) < self.picture.size:
            log.error("the log is shorter than this follower's picture (a restore?); "
                      "loading it again")
            self.reload()
            return 0
        if cp is None or cp[0] <= self.picture.size:
            self.publisher.prune(self.picture, self.clock.now())
            return 0
        start = self.picture.size
        new: list[tuple[int, Entry]] = []
        touched = Touched()
        try:
            for index, data in self.store.entries(start, cp[0]):
                if index != self.picture.size:
                    raise ValueError(f"entry {index} where {self.picture.size} was due")
                entry = Entry.decode(data)
                touched.add(self.picture.apply(entry, leaf_hash(data), verify=False))
                new.append((index, entry))
            if self.picture.size != cp[0]:
                raise ValueError(f"the log ends at {self.picture.size}, its checkpoint "
                                 f"at {cp[0]}")
        except Exception:
            log.exception("the log does not follow this follower's picture; loading it again")
            self._stale = True  # the picture took part of this read: never fold on it
            self.reload()
            return 0
        self.publisher.advance(self.picture, touched, cp, self.clock.now())
        self._tell(new)
        return len(new)

    def reload(self) -> None:
        """Load the picture again from the store and publish it whole. Listeners hear of
        nothing: a stream that finds a gap reads the store."""
        self.reloads += 1
        self._stale = True
        self.picture = self.load(self.store)
        self._stale = False
        self.publisher = Publisher(self.picture, self._checkpoint_at(self.picture.size),
                                   self.clock.now())

    def _tell(self, new: list[tuple[int, Entry]]) -> None:
        if not new:
            return
        for listener in list(self.listeners):
            try:
                listener(new)
            except Exception:  # one broken listener must not stop the others
                log.exception("a listener of new entries failed")
