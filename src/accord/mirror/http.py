"""The service as a replica's source: `GET /v1/log/checkpoint`, `/v1/log/entries` (pages of
1,000, entries the party may not read as leaf hashes) and `/v1/log/consistency`, with the
party's token. Nothing the service says is trusted: the replica checks it all."""

from __future__ import annotations

from typing import Any

from accord.client import Client
from accord.errors import InvalidInput
from accord.log.event import unb64


class HttpSource:
    def __init__(self, client: Client) -> None:
        self.client = client

    def checkpoint(self) -> str:
        got = self.client.checkpoint()
        note = got.get("checkpoint") if isinstance(got, dict) else None
        if not isinstance(note, str):
            raise InvalidInput("the service sent no checkpoint note", field="checkpoint")
        return note

    def entries(self, start: int, end: int) -> list[dict[str, Any]]:
        rows = self.client.entries(start, end, min(1000, max(1, end - start)))
        if not isinstance(rows, list):
            raise InvalidInput("the service did not send a list of entries", field="entries")
        return rows

    def consistency(self, size1: int, size2: int) -> list[bytes]:
        got = self.client.consistency(size1, size2)
        proof = got.get("proof") if isinstance(got, dict) else None
        if not isinstance(proof, list) or len(proof) > 128:
            raise InvalidInput("the service sent no consistency proof", field="proof")
        return [unb64(h, f"proof[{i}]", 32) for i, h in enumerate(proof)]
