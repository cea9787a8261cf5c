"""The service as a replica's source: `GET /v1/log/checkpoint`, `/v1/log/entries` (pages of
1,000, entries the party may not read as leaf hashes) and `/v1/log/consistency`, with the
party's token. Nothing the service says is trusted: the replica checks it all.

Every answer is read as a stream and cut off at `MAX_ANSWER` bytes (as decoded, so a
compressed answer cannot grow past it either): an operator, hostile or broken, cannot make
the mirror hold more than that at once. A page of entries that is larger is asked for again
in smaller pages (down to one entry); anything else that is larger, or not JSON, is a
one-line `DeploymentError`, which the follow loop reports and retries like an unreachable
service.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from accord.client import Client
from accord.errors import DeploymentError, InvalidInput, from_problem
from accord.log.event import unb64
from accord.mirror.replica import PAGE

MAX_ANSWER = 16 << 20  # bytes of one answer: pages shrink to fit; one entry is ~1 MiB at most


class Oversized(DeploymentError):
    """An answer longer than the mirror takes."""


class HttpSource:
    def __init__(self, client: Client, max_answer: int = MAX_ANSWER) -> None:
        self.client = client
        self.max_answer = max_answer
        self.page = PAGE  # halved for good when a page does not fit in `max_answer`

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        url = self.client.base_url
        data = bytearray()
        try:
            with self.client.http.stream("GET", path, params=params) as r:
                for chunk in r.iter_bytes():
                    data += chunk
                    if len(data) > self.max_answer:
                        raise Oversized(f"{url} answered more than {self.max_answer} bytes to "
                                        f"{path}", field="server")
                status = r.status_code
        except httpx.HTTPError as exc:
            raise DeploymentError(f"cannot reach {url}: {exc}",
                                  accepted="a running `accord serve` at --server") from None
        try:
            got = json.loads(data)
        except (ValueError, RecursionError):
            got = None
        if status >= 400:
            problem = got if isinstance(got, dict) else {
                "status": status, "detail": data[:200].decode("utf-8", "replace")}
            raise from_problem(problem)
        if got is None:
            raise DeploymentError(f"{url} answered {path} with something other than JSON",
                                  field="server")
        return got

    def checkpoint(self) -> str:
        got = self._get("/v1/log/checkpoint")
        note = got.get("checkpoint") if isinstance(got, dict) else None
        if not isinstance(note, str):
            raise InvalidInput("the service sent no checkpoint note", field="checkpoint")
        return note

    def witnessed(self) -> dict[str, Any]:
        """The service's latest cosigned checkpoint (`Gossip`'s `served`), unverified."""
        got = self._get("/v1/log/witnessed")
        if not isinstance(got, dict):
            raise InvalidInput("the service sent no witnessed checkpoint", field="checkpoint")
        return got

    def entries(self, start: int, end: int) -> list[dict[str, Any]]:
        while True:
            limit = min(self.page, max(1, end - start))
            try:
                rows = self._get("/v1/log/entries", {"start": start, "end": end,
                                                     "limit": limit})
                break
            except Oversized:
                if limit == 1:
                    raise
                self.page = limit // 2
        if not isinstance(rows, list):
            raise InvalidInput("the service did not send a list of entries", field="entries")
        return rows

    def consistency(self, size1: int, size2: int) -> list[bytes]:
        got = self._get("/v1/log/consistency", {"size1": size1, "size2": size2})
        proof = got.get("proof") if isinstance(got, dict) else None
        if not isinstance(proof, list) or len(proof) > 128:
            raise InvalidInput("the service sent no consistency proof", field="proof")
        return [unb64(h, f"proof[{i}]", 32) for i, h in enumerate(proof)]
