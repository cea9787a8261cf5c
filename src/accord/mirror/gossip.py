"""Gossip: a mirror hands the checkpoints it verified to the agreement's witnesses itself.

The service submits its checkpoints to the witnesses; a mirror does too, from its own tree
(tlog-witness add-checkpoint: the witness's size, a consistency proof from it, the log-signed
note). A witness that cosigned a checkpoint of another history refuses ours with 422: the
operator showed the witness (or us) a fork, and the mirror raises the alarm. A witness that
answers cosigns; its line is checked with its key from the agreement and kept with the
checkpoint (`Replica.keep_witnessed`), so the mirror's evidence is witnessed even if the
service never serves a cosigned checkpoint. The service's own latest cosigned checkpoint
(`GET /v1/log/witnessed`) is taken the same way, checked, never trusted.

A slow or dead witness is logged and left for the next round; it holds a round up for no more
than the HTTP timeout, or `witness.submit.MAX_SECONDS` if it trickles its answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx

from accord.errors import AccordError, ProofError, SizeMismatch
from accord.log.cosignature import (
    WitnessKey,
    WitnessPolicy,
    cosignatures,
    log_signed_only,
    merge_cosignatures,
)
from accord.log.merkle import consistency_proof
from accord.mirror.replica import Alarm, Replica
from accord.witness.submit import add_checkpoint

log = logging.getLogger("accord.mirror")


class Gossip:
    def __init__(self, replica: Replica, http: httpx.Client | None = None,
                 served: Callable[[], dict[str, Any]] | None = None) -> None:
        """`served`: the service's latest cosigned checkpoint (`Client.witnessed`), if any."""
        self.replica = replica
        self.http = http or httpx.Client(timeout=5.0)
        self.served = served
        self.sizes: dict[str, int] = {}  # each witness's size, as its 409s tell

    def close(self) -> None:
        self.http.close()

    def policy(self) -> WitnessPolicy | None:
        a = self.replica.picture.agreement
        return None if a is None else a.witnesses

    def round(self) -> list[str]:
        """Submit the held checkpoint to every witness with a URL; the names of those that
        cosigned. Alarm if a witness holds another history."""
        policy = self.policy()
        r = self.replica
        if policy is None or r.held is None:
            return []
        held_note, cp = r.held
        note = log_signed_only(held_note, r.verifier)
        lines: list[str] = []
        names: list[str] = []
        for w in policy.witnesses:
            if w.url is None or self.sizes.get(w.name, -1) >= cp.size:
                continue
            got = self._submit(w, note, cp.size)
            if got:
                lines.extend(got)
                names.append(w.name)
        if lines:
            r.keep_witnessed(merge_cosignatures(held_note, lines))
        self._served(policy)
        return names

    def _submit(self, w: WitnessKey, note: str, size: int) -> list[str]:
        assert w.url is not None
        old = self.sizes.get(w.name, 0)
        for _ in range(3):
            proof = consistency_proof(self.replica.store, old, size) if 0 < old < size else []
            try:
                got = add_checkpoint(self.http, w.url, old, proof, note)
            except SizeMismatch as e:
                if e.size > size:  # it holds more than this mirror yet: a later round
                    return []
                old = e.size  # equal: it cosigns the same again, or says the roots differ
                continue
            except ProofError as e:
                if "(422)" in e.detail:
                    raise Alarm("equivocation", f"witness {w.name} refused the checkpoint of size "
                                                f"{size} this mirror verified, as inconsistent "
                                                f"with what it cosigned: the log showed it "
                                                f"another history ({e.detail})",
                                {"checkpoint": note, "witness": w.name}) from None
                log.warning("witness %s refused the checkpoint: %s", w.name, e.detail)
                return []
            except AccordError as e:
                log.warning("witness %s: %s", w.name, e.detail)
                return []
            mine = [x for x in got if x.split(" ")[1:2] == [w.name]]
            try:
                _, good = cosignatures(merge_cosignatures(note, mine), WitnessPolicy((w,), 1))
            except (AccordError, IndexError) as e:
                log.warning("witness %s answered a bad cosignature: %s", w.name, e)
                return []
            if not good:
                return []
            self.sizes[w.name] = size
            return mine
        return []

    def _served(self, policy: WitnessPolicy) -> None:
        if self.served is None:
            return
        try:
            got = self.served()
        except AccordError:
            return  # none yet (404), or the service is away: next round
        note = got.get("checkpoint") if isinstance(got, dict) else None
        if not isinstance(note, str):
            return
        try:
            cosignatures(note, policy)
        except ProofError as e:
            raise Alarm("bad-checkpoint", f"the service's witnessed checkpoint carries a "
                                          f"cosignature that does not verify: {e.detail}",
                        {"checkpoint": note}) from None
        self.replica.keep_witnessed(note)
