"""The log's side of tlog-witness: send one add-checkpoint request and read the answer.

Used by the service (`service/witnessing.py`) and by anyone gossiping checkpoints to a witness
(a party's mirror). Returns the witness's cosignature lines, or raises: `SizeMismatch` (409,
with the witness's size, so the caller can send the right proof), `Unavailable` when the
witness cannot be reached, answers 5xx or takes more than `MAX_SECONDS` over its answer's
body (one that trickles it a byte at a time would otherwise hold the caller for as long as each
byte comes within the HTTP read timeout), and `ProofError` for a refusal of the checkpoint
itself (403, 422: the checkpoint is not signed, or not consistent with what the witness
cosigned; the witness's problem detail is kept).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import httpx

from accord.errors import AccordError, InvalidInput, ProofError, SizeMismatch, Unavailable
from accord.witness.protocol import AddCheckpoint, response_lines

MAX_ANSWER = 64 * 1024
MAX_SECONDS = 30.0


def add_checkpoint(client: httpx.Client, url: str, old_size: int, proof: Sequence[bytes],
                   note: str, *, within_s: float = MAX_SECONDS) -> list[str]:
    """POST `<url>/add-checkpoint`; the cosignature lines of a 200 answer (unverified: merge
    them into the note and check with `log.cosignature.verify_witnessed`)."""
    body = AddCheckpoint(old_size, tuple(proof), note).body()
    deadline = time.monotonic() + within_s
    try:
        with client.stream("POST", url.rstrip("/") + "/add-checkpoint", content=body,
                           headers={"content-type": "text/plain; charset=utf-8"}) as r:
            data = b""
            for chunk in r.iter_bytes():
                data += chunk
                if len(data) > MAX_ANSWER:
                    raise Unavailable(f"the witness at {url} answered more than {MAX_ANSWER} "
                                      f"bytes", field="witness")
                if time.monotonic() > deadline:
                    raise Unavailable(f"the witness at {url} took more than {within_s:g} s "
                                      f"over its answer", field="witness")
            status = r.status_code
    except httpx.HTTPError as e:
        raise Unavailable(f"the witness at {url} cannot be reached: {e}",
                          field="witness") from None
    text = data.decode("utf-8", "replace")
    if status == 200:
        return response_lines(text)
    if status == 409:
        size = text.strip()
        if not size.isdigit() or len(size) > 20:
            raise Unavailable(f"the witness at {url} answered 409 without its size",
                              field="witness")
        raise SizeMismatch(f"the witness at {url} holds size {size}, not {old_size}",
                           size=int(size))
    detail = text.strip()[:300]
    if status in (403, 422):
        raise ProofError(f"the witness at {url} refused the checkpoint ({status}): {detail}",
                         field="witness")
    if status in (400, 404):
        raise InvalidInput(f"the witness at {url} refused the request ({status}): {detail}",
                           field="witness")
    err: AccordError = Unavailable(f"the witness at {url} answered {status}: {detail}",
                                   field="witness")
    raise err
