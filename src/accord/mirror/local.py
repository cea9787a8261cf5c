"""A deployment's store as one party reads it through the API (`picture.view.entry_for`): a
replica's source on the operator's own machine (the demo, tests), with no HTTP in between.
What it serves is exactly what `GET /v1/log/entries` would."""

from __future__ import annotations

from typing import Any

from accord.log.event import Entry
from accord.log.merkle import consistency_proof, leaf_hash
from accord.log.note import NoteVerifier
from accord.picture.view import entry_for
from accord.service.writer import load_picture
from accord.store.base import Store


class StoreSource:
    def __init__(self, store: Store, party: str) -> None:
        self.store = store
        self.party = party

    def checkpoint(self) -> str:
        cp = self.store.checkpoint()
        if cp is None:
            raise ValueError("the log is empty")
        return cp[1]

    def entries(self, start: int, end: int) -> list[dict[str, Any]]:
        key = NoteVerifier.parse(self.store.meta("log_key") or "").public_key.public_bytes_raw()
        pic = load_picture(self.store, key)
        return [entry_for(i, d, leaf_hash(d), Entry.decode(d), self.party, pic.agreement,
                          pic.messages)
                for i, d in self.store.entries(start, min(end, pic.size))]

    def consistency(self, size1: int, size2: int) -> list[bytes]:
        return consistency_proof(self.store, size1, size2)
