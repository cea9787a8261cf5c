"""Evidence bundles: every entry about a notice a party may read, proved to one checkpoint.

A bundle is one canonical JSON file (RFC 8785, so any changed byte either breaks the JSON,
its canonical form, or a proof):

    {"format": "accord-evidence/v1", "notice", "party", "log_key", "checkpoint",
     "utc_offset", "entries": [{"index", "entry", "proof"}], "withheld": [{"index",
     "leaf_hash", "proof"}], "report"}

`entries` are the exact bytes of the agreements up to the checkpoint and of every entry that
mentions the notice (or a message or finding about it), each with its inclusion proof to the
checkpoint; `withheld` are entries about it whose content the party may not read in full (a
title withheld), proved as leaf hashes only; `report` is the HTML page `evidence.report`
makes from the verified content, so it is checked too. `verify_bundle` needs nothing but the
file: the log key is in it, and must be the one the reader holds (`expect_key`).

What a bundle cannot prove: that it holds every entry about the notice; only that each entry
in it is in the log, signed by whom it says, at the place and receive time it says. Pure.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from accord.errors import AccordError, InvalidInput, ProofError
from accord.log.cosignature import Witnessed, cosignatures, verify_witnessed
from accord.log.event import ALL_PARTIES, OPERATOR, Entry, b64, canonical, verify_event_signature
from accord.log.merkle import (
    NodeSource,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from accord.log.note import Checkpoint, NoteVerifier, open_checkpoint
from accord.rules.agreement import Agreement

FORMAT = "accord-evidence/v1"
MAX_BUNDLE = 64 * 1024 * 1024
_KEYS = {"format", "notice", "party", "log_key", "checkpoint", "utc_offset", "entries",
         "withheld", "bounds", "report"}


def _mentions(value: Any, ids: set[str]) -> bool:
    if isinstance(value, str):
        return value in ids
    if isinstance(value, dict):
        return any(_mentions(v, ids) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, ids) for v in value)
    return False


def about(notice: str, events: Sequence[tuple[int, dict[str, Any]]]) -> set[int]:
    """Indices of the entries about `notice`: those whose body names it, or names a message
    or finding that does (and so on, to a fixed point)."""
    ids = {notice}
    found: set[int] = set()
    while True:
        grew = False
        for index, ev in events:
            if index in found or ev.get("type") == "agreement":
                continue
            body = ev.get("body", {})
            if _mentions(body, ids):
                found.add(index)
                for key in ("message", "finding", "escalation", "alert"):
                    if isinstance(body.get(key), str) and ev.get("type") != "message.ack":
                        ids.add(body[key])
                grew = True
        if not grew:
            return found


@dataclass(frozen=True, slots=True)
class Proven:
    """One entry of a verified bundle."""

    index: int
    entry: Entry
    agreement: Agreement | None  # the agreement it was signed under (None: an agreement)


@dataclass
class Verified:
    """What a bundle proves."""

    notice: str
    party: str
    origin: str
    log_key: str
    checkpoint: Checkpoint
    note: str
    utc_offset: str
    entries: list[Proven] = field(default_factory=list)
    withheld: list[int] = field(default_factory=list)
    witnessed: Witnessed | None = None
    witness_problem: str | None = None  # why the checkpoint is not witnessed, if not
    bounds: list[Witnessed] = field(default_factory=list)  # earlier witnessed, by size

    def bound_of(self, index: int) -> Witnessed | None:
        """The smallest witnessed checkpoint holding entry `index`: the entry existed no
        later than its time."""
        for w in [*self.bounds, *([self.witnessed] if self.witnessed else [])]:
            if index < w.checkpoint.size:
                return w
        return None


def _b64hash(value: object, where: str) -> bytes:
    if not isinstance(value, str):
        raise ProofError(f"{where} is not a base64 hash", field=where)
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raw = b""
    if len(raw) != 32 or b64(raw) != value:
        raise ProofError(f"{where} is not a canonical base64 32-byte hash", field=where)
    return raw


def _proof(value: object, where: str) -> list[bytes]:
    if not isinstance(value, list) or len(value) > 64:
        raise ProofError(f"{where} is not a list of hashes", field=where)
    return [_b64hash(h, f"{where}[{i}]") for i, h in enumerate(value)]


def _offset(text: object) -> str:
    if not (isinstance(text, str) and len(text) == 6 and text[0] in "+-" and text[3] == ":"
            and text[1:3].isdigit() and text[4:].isdigit() and int(text[1:3]) <= 14
            and int(text[4:]) < 60):
        raise InvalidInput("the UTC offset must be +HH:MM or -HH:MM", field="utc_offset",
                           accepted="e.g. +03:00")
    return text


def make_bundle(notice: str, party: str, log_key: str, note: str,
                rows: Iterable[tuple[int, bytes, bytes | None, str | None]],
                nodes: NodeSource, utc_offset: str = "+00:00",
                witnessed: Sequence[str] = ()) -> bytes:
    """The bundle for `notice` as `party` reads the log: `rows` are (index, leaf hash, exact
    bytes or None, shown JSON or None) up to the checkpoint `note`, `nodes` the tree.
    `witnessed`: cosigned checkpoints no larger than `note`; for each entry the smallest that
    holds it goes in as a bound (with its consistency proof to `note`)."""
    verifier = NoteVerifier.parse(log_key)
    cp = open_checkpoint(note, verifier)
    events: list[tuple[int, dict[str, Any]]] = []
    agreements: list[int] = []
    data_of: dict[int, bytes] = {}
    leaf_of: dict[int, bytes] = {}
    for index, leaf, data, shown in rows:
        if index >= cp.size:
            break
        leaf_of[index] = leaf
        if data is not None:
            ev = json.loads(data)["event"]
            data_of[index] = data
        elif shown is not None:
            ev = json.loads(shown)["event"]
        else:
            continue
        events.append((index, ev))
        if ev.get("type") == "agreement":
            agreements.append(index)
    chosen = about(notice, events)
    if not chosen:
        raise InvalidInput(f"no entry about notice {notice!r} that {party} may read, in the "
                           f"checkpoint of size {cp.size}", field="notice")
    entries = [{"index": i, "entry": data_of[i].decode("utf-8"),
                "proof": [b64(h) for h in inclusion_proof(nodes, i, cp.size)]}
               for i in sorted(set(agreements) | {i for i in chosen if i in data_of})]
    withheld = [{"index": i, "leaf_hash": b64(leaf_of[i]),
                 "proof": [b64(h) for h in inclusion_proof(nodes, i, cp.size)]}
                for i in sorted(chosen - set(data_of))]
    earlier = sorted(((open_checkpoint(n, verifier), n) for n in witnessed),
                     key=lambda x: x[0].size)
    wanted: dict[int, str] = {}
    for i in sorted(chosen):
        first = next(((c, n) for c, n in earlier if i < c.size < cp.size), None)
        if first is not None:
            wanted[first[0].size] = first[1]
    bounds = [{"checkpoint": n, "consistency": [b64(h) for h in
                                                consistency_proof(nodes, size, cp.size)]}
              for size, n in sorted(wanted.items())]
    doc: dict[str, Any] = {"format": FORMAT, "notice": notice, "party": party,
                           "log_key": log_key, "checkpoint": note,
                           "utc_offset": _offset(utc_offset), "entries": entries,
                           "withheld": withheld, "bounds": bounds, "report": ""}
    verified = _check(doc, None)
    from accord.evidence.report import render

    doc["report"] = render(verified)
    return canonical(doc, "bundle")


def verify_bundle(raw: bytes, expect_key: NoteVerifier | None = None,
                  now: int | None = None) -> Verified:
    """Everything a bundle claims, from its bytes alone; ProofError naming the first thing
    wrong (which entry, which proof, which field)."""
    if len(raw) > MAX_BUNDLE:
        raise ProofError(f"the bundle is larger than {MAX_BUNDLE} bytes", field="bundle")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise ProofError(f"the bundle is not JSON: {e}", field="bundle") from None
    if not isinstance(doc, dict) or set(doc) != _KEYS or doc.get("format") != FORMAT:
        raise ProofError("not an evidence bundle", field="format",
                         accepted=f"{FORMAT}: " + ", ".join(sorted(_KEYS)))
    try:
        same = canonical(doc, "bundle") == raw
    except AccordError:
        same = False
    if not same:
        raise ProofError("the bundle's bytes are not its canonical JSON (RFC 8785): a byte "
                         "was changed, added or removed", field="bundle")
    verified = _check(doc, now)
    if expect_key is not None and expect_key.verifier_key != doc["log_key"]:
        raise ProofError(f"the bundle is for log key {verified.log_key}, not the one you hold",
                         field="log_key")
    from accord.evidence.report import render

    if render(verified) != doc["report"]:
        raise ProofError("the report is not the one the verified entries make: it was changed",
                         field="report")
    return verified


def _check(doc: dict[str, Any], now: int | None) -> Verified:
    for key in ("notice", "party", "log_key", "checkpoint", "report"):
        if not isinstance(doc[key], str):
            raise ProofError(f"{key} must be a string", field=key)
    try:
        verifier = NoteVerifier.parse(doc["log_key"])
        offset = _offset(doc["utc_offset"])
    except InvalidInput as e:
        raise ProofError(e.detail, field=e.field) from None
    try:
        cp = open_checkpoint(doc["checkpoint"], verifier)
    except ProofError as e:
        raise ProofError(f"the checkpoint does not verify with the bundle's log key: "
                         f"{e.detail}", field="checkpoint") from None
    out = Verified(doc["notice"], doc["party"], cp.origin, doc["log_key"], cp,
                   doc["checkpoint"], offset)
    if not isinstance(doc["entries"], list) or not isinstance(doc["withheld"], list):
        raise ProofError("entries and withheld must be lists", field="entries")
    by_leaf: dict[str, Agreement] = {}
    current: Agreement | None = None
    last = -1
    for n, item in enumerate(doc["entries"]):
        where = f"entries[{n}]"
        if not isinstance(item, dict) or set(item) != {"index", "entry", "proof"}:
            raise ProofError(f"{where} must be {{index, entry, proof}}", field=where)
        index, text = item["index"], item["entry"]
        if type(index) is not int or not last < index < cp.size or not isinstance(text, str):
            raise ProofError(f"{where}: index must increase within the checkpoint's size "
                             f"{cp.size}", field=f"{where}.index")
        last = index
        data = text.encode("utf-8")
        leaf = leaf_hash(data)
        try:
            verify_inclusion(leaf, index, cp.size, _proof(item["proof"], f"{where}.proof"),
                             cp.root)
        except ProofError as e:
            raise ProofError(f"{where} (entry {index}): not in the log at that index: "
                             f"{e.detail}", field=f"{where}.proof") from None
        try:
            entry = Entry.decode(data)
        except (AccordError, RecursionError) as e:
            detail = e.detail if isinstance(e, AccordError) else "nested too deeply"
            raise ProofError(f"{where} (entry {index}) is not a canonical entry: {detail}",
                             field=f"{where}.entry") from None
        ev = entry.event
        try:
            if ev.type == "agreement":
                new = Agreement.from_json(ev.body, "event.body")
                signers = {p.id: p.key for p in new.parties}
                if current is not None:
                    signers.update({p.id: p.key for p in current.parties
                                    if p.id not in signers})
                if ev.party != ALL_PARTIES or entry.sigs is None or \
                        set(entry.sigs) != set(signers):
                    raise ProofError("the agreement is not signed by every party",
                                     field="sigs")
                for pid, pkey in sorted(signers.items()):
                    verify_event_signature(ev, entry.sigs[pid], pkey, f"sigs.{pid}")
                by_leaf[b64(leaf)] = current = new
                out.entries.append(Proven(index, entry, None))
                continue
            if entry.sig is None:
                raise ProofError("the entry carries no signature", field="sig")
            signed_under = by_leaf.get(ev.agreement or "") if ev.v >= 2 else current
            if ev.party == OPERATOR:
                verify_event_signature(ev, entry.sig, verifier.public_key.public_bytes_raw())
            else:
                if signed_under is None:
                    raise ProofError(f"it was signed under an agreement the bundle does not "
                                     f"hold ({ev.agreement})", field="event.agreement")
                verify_event_signature(ev, entry.sig,
                                       signed_under.party(ev.party, "event.party").key)
        except AccordError as e:
            raise ProofError(f"{where} (entry {index}, {ev.party} {ev.type}): {e.detail}",
                             field=f"{where}.entry") from None
        if ev.v >= 2 and ev.log != cp.origin:
            raise ProofError(f"{where} (entry {index}) was signed for another log",
                             field=f"{where}.entry")
        out.entries.append(Proven(index, entry, signed_under))
    for n, item in enumerate(doc["withheld"]):
        where = f"withheld[{n}]"
        if not isinstance(item, dict) or set(item) != {"index", "leaf_hash", "proof"} or \
                type(item["index"]) is not int or not 0 <= item["index"] < cp.size:
            raise ProofError(f"{where} must be {{index, leaf_hash, proof}} within the "
                             "checkpoint", field=where)
        try:
            verify_inclusion(_b64hash(item["leaf_hash"], f"{where}.leaf_hash"), item["index"],
                             cp.size, _proof(item["proof"], f"{where}.proof"), cp.root)
        except ProofError as e:
            raise ProofError(f"{where} (entry {item['index']}): {e.detail}",
                             field=where) from None
        out.withheld.append(item["index"])
    if not any(p.agreement is not None for p in out.entries) and not out.withheld:
        raise ProofError(f"the bundle holds no entry about notice {doc['notice']}",
                         field="entries")
    chosen = about(doc["notice"], [(p.index, p.entry.event.to_json()) for p in out.entries])
    stray = [p.index for p in out.entries
             if p.agreement is not None and p.index not in chosen]
    if stray:
        raise ProofError(f"entries {stray} are not about notice {doc['notice']}",
                         field="notice")
    if current is not None and current.witnesses is not None:
        try:
            out.witnessed = verify_witnessed(doc["checkpoint"], verifier, current.witnesses,
                                             now=now)
        except ProofError as e:
            cosignatures(doc["checkpoint"], current.witnesses)  # a bad cosignature fails
            out.witness_problem = e.detail
    else:
        out.witness_problem = "the agreement names no witnesses"
    if not isinstance(doc["bounds"], list) or len(doc["bounds"]) > 10_000:
        raise ProofError("bounds must be a list", field="bounds")
    last_size = 0
    for n, item in enumerate(doc["bounds"]):
        where = f"bounds[{n}]"
        if not isinstance(item, dict) or set(item) != {"checkpoint", "consistency"} or \
                not isinstance(item["checkpoint"], str):
            raise ProofError(f"{where} must be {{checkpoint, consistency}}", field=where)
        if current is None or current.witnesses is None:
            raise ProofError(f"{where}: the agreement names no witnesses", field=where)
        try:
            w = verify_witnessed(item["checkpoint"], verifier, current.witnesses, now=now)
            if not last_size < w.checkpoint.size < cp.size:
                raise ProofError("bounds must grow and stay below the checkpoint's size",
                                 field="size")
            verify_consistency(w.checkpoint.size, cp.size,
                               _proof(item["consistency"], f"{where}.consistency"),
                               w.checkpoint.root, cp.root)
        except ProofError as e:
            raise ProofError(f"{where}: {e.detail}", field=where) from None
        last_size = w.checkpoint.size
        out.bounds.append(w)
    return out


def local_time(t: datetime, offset: str) -> str:
    """`t` at the fixed UTC offset `offset` (+HH:MM), as HH:MM:SS."""
    from datetime import timedelta

    sign = 1 if offset[0] == "+" else -1
    delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])) * sign
    return (t + delta).strftime("%Y-%m-%d %H:%M:%S")
