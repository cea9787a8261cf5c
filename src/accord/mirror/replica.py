"""A party's replica of the log: pull, verify, rebuild the tree, hold the operator to its history.

Each round (`Replica.sync`) reads the source's latest signed checkpoint and, before taking any
entry, checks it against the checkpoint the replica holds: the same size must have the same
root, a smaller size is a rollback (or, if it is not a prefix, a fork), and a larger one must
come with a consistency proof from the held one. Then it pulls the new entries (entries the
party may not read as leaf hashes), checks each leaf against the entry's bytes, folds every
entry it can read with its signature checked (`picture.partial`), appends the leaves to its
own tree and requires the tree's root to be the checkpoint's. Only then does it store the
entries, the tree's new nodes and the checkpoint, in one transaction.

Anything that does not hold raises an `Alarm` with the evidence to keep: for a fork, a proof
anyone can check with the log key (`mirror.fork`). The replica's state is then reloaded from
its store, so nothing unverified stays in memory.

The source is a port (`Source`): the service over HTTP (`mirror.http`) or, in tests, a store.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from accord.errors import AccordError, InvalidInput, ProofError, Unavailable
from accord.log.cosignature import merge_cosignatures, verify_witnessed
from accord.log.event import Entry, Event
from accord.log.merkle import (
    HASH_SIZE,
    Frontier,
    MemoryTree,
    consistency_proof,
    leaf_hash,
    root,
    verify_consistency,
)
from accord.log.note import Checkpoint, NoteVerifier, open_checkpoint
from accord.log.receipt import Receipt, verify_receipt
from accord.mirror.fork import Fork
from accord.picture.partial import PartyPicture
from accord.store.mirror import MirrorStore
from accord.timefmt import Clock, format_time, parse_time

PAGE = 1000  # entries asked for at a time (the API's largest page)


class Source(Protocol):
    """Where a replica reads the log: the latest checkpoint, entries, consistency proofs."""

    def checkpoint(self) -> str:
        """The latest signed checkpoint note."""
        ...

    def entries(self, start: int, end: int) -> list[dict[str, Any]]:
        """Entries [start, end) as the party may see them (`picture.view.entry_for`); may
        return fewer than asked."""
        ...

    def consistency(self, size1: int, size2: int) -> list[bytes]:
        """The RFC 9162 consistency proof between two sizes."""
        ...


class Alarm(Exception):
    """Something the operator's log must never do, with the evidence to keep.

    Kinds: `equivocation` (two checkpoints that cannot both be true; the evidence is a
    `Fork`), `rollback` (a checkpoint older than one already held), `bad-checkpoint` (not
    signed by the log key), `bad-entry` (an entry whose bytes, signature, place in the log or
    tree do not verify), `bad-proof` (a consistency proof that does not verify), `stall`."""

    def __init__(self, kind: str, message: str, evidence: dict[str, Any] | None = None) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        self.evidence = evidence


class Incomplete(Unavailable):
    """The source did not serve every entry its checkpoint covers (yet): try again later."""


@dataclass
class Round:
    """What one round did."""

    size: int  # the checkpoint's size after the round
    new: int = 0  # entries taken in
    checkpoint: str | None = None  # the note accepted this round, if any


@dataclass
class _Pending:
    leaves: list[tuple[int, bytes, bytes | None, str | None]] = field(default_factory=list)
    nodes: list[tuple[int, int, bytes]] = field(default_factory=list)


def _leaf(row: dict[str, Any], index: int) -> bytes:
    value = row.get("leaf_hash")
    try:
        raw = base64.b64decode(str(value).encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raw = b""
    if not isinstance(value, str) or len(raw) != HASH_SIZE:
        raise Alarm("bad-entry", f"entry {index} comes without a 32-byte leaf hash",
                    {"index": index, "row": row})
    return raw


class Replica:
    """The replica in a `MirrorStore`, as `party` reads the log of `verifier`."""

    def __init__(self, store: MirrorStore, verifier: NoteVerifier, party: str,
                 clock: Clock) -> None:
        self.store = store
        self.verifier = verifier
        self.party = party
        self.clock = clock
        self.reload()

    def reload(self) -> None:
        """State from the store alone: the picture folded again (every entry in it was
        verified before it was stored), the tree's right edge, the checkpoint held."""
        key = self.verifier.public_key.public_bytes_raw()
        self.picture = PartyPicture(key, self.verifier.name, self.party)
        for _, leaf, data, shown in self.store.leaves():
            self._fold(leaf, data, shown, verify=False)
        self.frontier = Frontier.from_source(self.store, self.picture.size)
        held = self.store.checkpoint()
        self.held: tuple[str, Checkpoint] | None = None
        if held is not None:
            self.held = (held[1], open_checkpoint(held[1], self.verifier))

    @property
    def size(self) -> int:
        return self.picture.size

    def _fold(self, leaf: bytes, data: bytes | None, shown: str | None, *,
              verify: bool) -> None:
        if data is not None:
            self.picture.apply(Entry.decode(data), leaf, verify=verify)
        elif shown is not None:
            self.picture.apply_redacted(shown_entry(json.loads(shown)), leaf)
        else:
            self.picture.skip()

    # -- one round ---------------------------------------------------------------------------

    def sync(self, source: Source) -> Round:
        """Take in what the source's latest checkpoint adds; Alarm if anything is wrong."""
        try:
            return self._sync(source)
        except Alarm:
            self.reload()
            raise
        except Incomplete:
            self.reload()
            raise

    def _sync(self, source: Source) -> Round:
        note = source.checkpoint()
        try:
            cp = open_checkpoint(note, self.verifier)
        except ProofError as e:
            raise Alarm("bad-checkpoint", f"the served checkpoint does not verify with the log "
                                          f"key {self.verifier.name}: {e.detail}",
                        {"checkpoint": note}) from None
        held = self.held
        if held is not None:
            held_note, old = held
            if cp.size == old.size:
                if cp.root != old.root:
                    fork = Fork(self.verifier_key, held_note, note)
                    raise Alarm("equivocation", f"two checkpoints of size {cp.size} with "
                                                f"different roots", fork.to_json())
                return Round(cp.size)
            if cp.size < old.size:
                self._behind(note, cp, held_note, old)
            self._consistent(source, note, cp, held_note, old)
        pending = self._take(source, cp)
        if self.frontier.root() != cp.root:
            raise Alarm("bad-entry", f"the entries served for [{self.size - len(pending.leaves)}"
                                     f", {cp.size}) do not lead to the checkpoint's root: one "
                                     "of them is not the entry the log holds",
                        {"checkpoint": note})
        with self.store.transaction():
            self.store.add_leaves(pending.leaves)
            self.store.add_nodes(pending.nodes)
            self.store.add_checkpoint(cp.size, note, format_time(self.clock.now(), micro=True))
        self.held = (note, cp)
        return Round(cp.size, len(pending.leaves), note)

    @property
    def verifier_key(self) -> str:
        return self.store.meta("log_key") or ""

    def check_receipt(self, receipt: Any) -> bool:
        """Hold a receipt the operator gave the party to the replica's tree. True if the
        replica proves it (its checkpoint is a checkpoint of the replica's tree); False if the
        receipt is ahead of the replica (judge it after the next rounds); Alarm if it does not
        verify (`bad-receipt`) or belongs to another history (`equivocation`, proved)."""
        try:
            rc = Receipt.from_json(receipt)
            cp = verify_receipt(rc, self.verifier)
        except (InvalidInput, ProofError) as e:
            raise Alarm("bad-receipt", f"a receipt does not verify: {e.detail}",
                        {"receipt": receipt}) from None
        if cp.size > self.size or self.held is None:
            return False
        held_note, old = self.held
        mine = root(self.store, cp.size)
        if mine == cp.root:
            return True
        if cp.size == old.size:
            fork = Fork(self.verifier_key, rc.checkpoint, held_note)
        else:
            fork = Fork(self.verifier_key, rc.checkpoint, held_note, mine,
                        tuple(consistency_proof(self.store, cp.size, old.size)))
        raise Alarm("equivocation", f"the receipt for entry {rc.index} is proved to a checkpoint "
                                    f"of size {cp.size} that is not of the tree the mirror "
                                    "holds", fork.to_json())

    def evidence_checkpoint(self) -> str:
        """The checkpoint to prove evidence to: the latest held (with the cosignatures kept
        for it, if any)."""
        if self.held is None:
            raise Alarm("bad-checkpoint", "the mirror holds no checkpoint yet")
        return self.held[0]

    def witnessed_notes(self, limit: int = 10_000) -> list[str]:
        """The kept checkpoints a quorum of the agreement's witnesses cosigned, smallest
        first: the time bounds of evidence."""
        policy = self.picture.agreement.witnesses if self.picture.agreement else None
        if policy is None:
            return []
        out = []
        for _, note in reversed(self.store.checkpoints_newest(limit)):
            try:
                verify_witnessed(note, self.verifier, policy)
            except ProofError:
                continue
            out.append(note)
        return out

    def keep_witnessed(self, note: str) -> bool:
        """Keep a cosigned checkpoint (from the service's witnessed route or a witness) if it
        is of this log and of the tree the replica holds: its cosignature lines are merged
        into the note kept for that size, so evidence made later can be witnessed. False
        when it is ahead of the replica (kept later, once the entries are in); an Alarm if
        it contradicts the replica's tree (proved like any fork)."""
        try:
            cp = open_checkpoint(note, self.verifier)
        except ProofError as e:
            raise Alarm("bad-checkpoint", f"a cosigned checkpoint does not verify with the log "
                                          f"key: {e.detail}", {"checkpoint": note}) from None
        if cp.size > self.size or cp.size == 0 or self.held is None:
            return False
        held_note, old = self.held
        if root(self.store, cp.size) != cp.root:
            mine = root(self.store, cp.size)
            fork = Fork(self.verifier_key, note, held_note, mine,
                        tuple(consistency_proof(self.store, cp.size, old.size)))
            raise Alarm("equivocation", f"a cosigned checkpoint of size {cp.size} is not of the "
                                        f"tree the mirror holds", fork.to_json())
        kept = self.store.checkpoint(cp.size)
        merged = note if kept is None else merge_cosignatures(
            kept[1], [line for line in note.split("\n\n", 1)[1].splitlines() if line])
        with self.store.transaction():
            self.store.add_checkpoint(cp.size, merged, kept[2] if kept else format_time(
                self.clock.now(), micro=True))
        if cp.size == old.size:
            self.held = (merged, old)
        return True

    def _behind(self, note: str, cp: Checkpoint, held_note: str, old: Checkpoint) -> None:
        """A checkpoint smaller than the one held: a rollback if it is a prefix of what the
        replica holds, else a fork, proved from the replica's own tree."""
        mine = root(self.store, cp.size)
        proof = consistency_proof(self.store, cp.size, old.size) if cp.size > 0 else []
        if mine == cp.root:
            raise Alarm("rollback", f"the log went back from size {old.size} to {cp.size}",
                        {"held": held_note, "served": note,
                         "consistency": [base64.b64encode(h).decode() for h in proof]})
        fork = Fork(self.verifier_key, note, held_note, mine, tuple(proof))
        raise Alarm("equivocation", f"the served checkpoint of size {cp.size} is not a prefix "
                                    f"of the size {old.size} one held", fork.to_json())

    def _consistent(self, source: Source, note: str, cp: Checkpoint, held_note: str,
                    old: Checkpoint) -> None:
        """The source's consistency proof from the held checkpoint to `cp`; if it fails,
        rebuild the source's tree from its leaf hashes to prove the fork (or blame the
        proof)."""
        try:
            proof = source.consistency(old.size, cp.size)
            verify_consistency(old.size, cp.size, proof, old.root, cp.root)
            return
        except ProofError as e:
            failure = e.detail
        except InvalidInput as e:
            failure = f"malformed: {e.detail}"
        tree = MemoryTree()
        at = 0
        while at < cp.size:
            rows = source.entries(at, min(cp.size, at + PAGE))
            if not rows:
                raise Incomplete(f"the source served {at} of the {cp.size} leaf hashes")
            for row in rows:
                if row.get("index") != at:
                    raise Alarm("bad-entry", f"entry {at} was served out of order",
                                {"row": row})
                tree.append(_leaf(row, at), prehashed=True)
                at += 1
        if root(tree, cp.size) != cp.root:
            raise Alarm("bad-proof", f"the consistency proof from size {old.size} to "
                                     f"{cp.size} does not verify ({failure}), and the leaf "
                                     "hashes served do not lead to the new checkpoint",
                        {"held": held_note, "served": note})
        other = root(tree, old.size)
        if other == old.root:
            raise Alarm("bad-proof", f"the consistency proof from size {old.size} to "
                                     f"{cp.size} does not verify ({failure}), though the log "
                                     "is consistent", {"held": held_note, "served": note})
        fork = Fork(self.verifier_key, held_note, note, other,
                    tuple(consistency_proof(tree, old.size, cp.size)))
        raise Alarm("equivocation", f"the checkpoint of size {cp.size} does not extend the "
                                    f"size {old.size} one held: its first {old.size} entries "
                                    "differ", fork.to_json())

    def _take(self, source: Source, cp: Checkpoint) -> _Pending:
        """Pull, check and fold the entries [size, cp.size) (in memory only)."""
        pending = _Pending()
        at = self.size
        while at < cp.size:
            rows = source.entries(at, min(cp.size, at + PAGE))
            if not rows:
                raise Incomplete(f"the source served entries up to {at}, its checkpoint "
                                 f"covers {cp.size}")
            for row in rows:
                if at >= cp.size:
                    break
                if not isinstance(row, dict) or row.get("index") != at:
                    raise Alarm("bad-entry", f"entry {at} was not served in its place",
                                {"index": at, "row": row})
                pending.leaves.append(self._admit(row, at))
                pending.nodes.extend(self.frontier.append(pending.leaves[-1][1]))
                at += 1
        return pending

    def _admit(self, row: dict[str, Any], index: int
               ) -> tuple[int, bytes, bytes | None, str | None]:
        leaf = _leaf(row, index)
        data: bytes | None = None
        shown: str | None = None
        if isinstance(row.get("entry"), str):
            data = row["entry"].encode("utf-8")
            if leaf_hash(data) != leaf:
                raise Alarm("bad-entry", f"entry {index}: its bytes do not hash to the leaf "
                                         "hash served beside them", {"index": index, "row": row})
        elif row.get("redacted") and isinstance(row.get("value"), dict):
            shown = json.dumps(row["value"], sort_keys=True, separators=(",", ":"))
        elif row.get("hidden") is not True:
            raise Alarm("bad-entry", f"entry {index} is neither shown, redacted nor hidden",
                        {"index": index, "row": row})
        try:
            self._fold(leaf, data, shown, verify=True)
        except (AccordError, RecursionError, KeyError, TypeError, ValueError) as e:
            detail = e.detail if isinstance(e, AccordError) else str(e)
            raise Alarm("bad-entry", f"entry {index} does not verify: {detail}",
                        {"index": index, "row": row}) from None
        return index, leaf, data, shown


def shown_entry(value: dict[str, Any]) -> Entry:
    """An entry as shown with the title withheld (not its exact bytes)."""
    return Entry(event=Event.from_json(value["event"], "entry.event"),
                 received_at=parse_time(value["received_at"], "entry.received_at"),
                 sig=value.get("sig"), sigs=value.get("sigs"))


@dataclass
class Watch:
    """The follow loop's memory: when the checkpoint last moved, for the stall alarm."""

    stall_s: float
    now: Callable[[], float]
    moved_at: float = 0.0
    raised: bool = False

    def __post_init__(self) -> None:
        self.moved_at = self.now()

    def saw(self, r: Round) -> None:
        """After a round the server answered: Alarm('stall') once the checkpoint has not moved
        for `stall_s` seconds (0: never)."""
        t = self.now()
        if r.checkpoint is not None:
            self.moved_at, self.raised = t, False
            return
        if self.stall_s > 0 and not self.raised and t - self.moved_at >= self.stall_s:
            self.raised = True
            raise Alarm("stall", f"no new checkpoint for {t - self.moved_at:.0f} s while the "
                                 f"server answers (size {r.size})")
