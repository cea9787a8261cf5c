"""Witnesses and their policy: which cosignatures make a checkpoint witnessed, and what they prove.

A witness cosigns a checkpoint (c2sp.org/tlog-cosignature, Ed25519 `cosignature/v1`, signature
type 0x04; the line format and signed message are in `log.note`) after checking that it is
consistent with every checkpoint of the same log it cosigned before. The agreement names the
witnesses (their verifier keys, where to reach them) and a quorum k: a checkpoint is
*witnessed* when the log key signed it and at least k of the named witnesses cosigned it.

Time: a cosignature's timestamp says the witness saw the checkpoint no later than then, so an
entry inside a witnessed checkpoint existed no later than the k-th earliest of the valid
cosignature timestamps (if any k witnesses include an honest one, that bound holds). Each
witness's own time is reported too: a party that trusts its own witness reads that one.

Pure: no I/O. Imports only `errors` and `log`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from accord.errors import InvalidInput, ProofError
from accord.log.note import (
    Checkpoint,
    CosignatureVerifier,
    NoteVerifier,
    open_checkpoint,
    open_note,
    signature_lines,
    split_note,
)

MAX_WITNESSES = 16
"""The C2SP signed-note spec requires verifiers to accept at least 16 signatures."""
_URL = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+(/[A-Za-z0-9._~/%\-]*)?")
_MAX_URL = 200


@dataclass(frozen=True, slots=True)
class WitnessKey:
    """One witness named by the agreement: its cosignature verifier key and, optionally, the
    submission prefix of its add-checkpoint endpoint (the service submits checkpoints there)."""

    vkey: str
    verifier: CosignatureVerifier
    url: str | None = None

    @property
    def name(self) -> str:
        return self.verifier.name

    def to_json(self) -> dict[str, str]:
        out = {"key": self.vkey}
        if self.url is not None:
            out["url"] = self.url
        return out


@dataclass(frozen=True, slots=True)
class WitnessPolicy:
    """The agreement's witnesses and how many of them (`quorum`) must cosign a checkpoint."""

    witnesses: tuple[WitnessKey, ...]
    quorum: int

    def __post_init__(self) -> None:
        if not self.witnesses:
            raise InvalidInput("a witness policy names at least one witness", field="witnesses")
        if len(self.witnesses) > MAX_WITNESSES:
            raise InvalidInput(f"at most {MAX_WITNESSES} witnesses", field="witnesses.list")
        if not 1 <= self.quorum <= len(self.witnesses):
            raise InvalidInput(
                f"quorum {self.quorum} is not between 1 and the {len(self.witnesses)} "
                f"witnesses named", field="witnesses.quorum",
                accepted=f"an integer from 1 to {len(self.witnesses)}")
        names = [w.name for w in self.witnesses]
        if len(set(names)) != len(names):
            raise InvalidInput("each witness needs its own name", field="witnesses.list")
        keys = [w.verifier.public_key.public_bytes_raw() for w in self.witnesses]
        if len(set(keys)) != len(keys):
            raise InvalidInput("each witness needs its own key (the cosignature/v1 message "
                               "does not name the witness)", field="witnesses.list")

    def witness(self, name: str) -> WitnessKey:
        for w in self.witnesses:
            if w.name == name:
                return w
        raise InvalidInput(f"{name!r} is not a witness of the agreement", field="witness",
                           accepted=", ".join(w.name for w in self.witnesses))

    def to_json(self) -> dict[str, Any]:
        return {"quorum": self.quorum, "list": [w.to_json() for w in self.witnesses]}

    @staticmethod
    def from_json(obj: Any, field: str = "witnesses") -> WitnessPolicy:
        """Parse `{"quorum": k, "list": [{"key": vkey, "url": "http://..."}]}` strictly."""
        if not isinstance(obj, dict):
            raise InvalidInput("witnesses must be a table", field=field,
                               accepted='{"quorum": k, "list": [{"key": vkey, "url": ...}]}')
        unknown = sorted(set(obj) - {"quorum", "list"})
        if unknown:
            raise InvalidInput(f"unknown key(s) {unknown}", field=field, accepted="quorum, list")
        raw = obj.get("list")
        if not isinstance(raw, list) or not raw:
            raise InvalidInput("witnesses.list must be a non-empty list", field=f"{field}.list",
                               accepted="a list of {key, url} tables")
        if len(raw) > MAX_WITNESSES:
            raise InvalidInput(f"at most {MAX_WITNESSES} witnesses", field=f"{field}.list")
        out: list[WitnessKey] = []
        for i, item in enumerate(raw):
            f = f"{field}.list[{i}]"
            if not isinstance(item, dict):
                raise InvalidInput("a witness is a table", field=f, accepted="{key, url}")
            extra = sorted(set(item) - {"key", "url"})
            if extra:
                raise InvalidInput(f"unknown key(s) {extra}", field=f, accepted="key, url")
            vkey = item.get("key")
            if not isinstance(vkey, str) or len(vkey) > 300:
                raise InvalidInput("key must be the witness's verifier key", field=f"{f}.key",
                                   accepted="name+keyid+base64(0x04 || Ed25519 public key), "
                                            "as `accord witness key` prints it")
            try:
                verifier = CosignatureVerifier.parse(vkey)
            except InvalidInput as e:
                raise InvalidInput(e.detail, field=f"{f}.key", accepted=e.accepted) from None
            url = item.get("url")
            if url is not None and (not isinstance(url, str) or len(url) > _MAX_URL
                                    or not _URL.fullmatch(url)):
                raise InvalidInput(f"{url!r} is not a witness URL", field=f"{f}.url",
                                   accepted="http(s)://host[:port][/prefix], at most "
                                            f"{_MAX_URL} characters")
            out.append(WitnessKey(vkey, verifier, url.rstrip("/") if url else None))
        quorum = obj.get("quorum", 1)
        if isinstance(quorum, bool) or not isinstance(quorum, int):
            raise InvalidInput("quorum must be an integer", field=f"{field}.quorum")
        try:
            return WitnessPolicy(tuple(out), quorum)
        except InvalidInput as e:
            raise InvalidInput(e.detail, field=f"{field}.{(e.field or '').split('.')[-1]}",
                               accepted=e.accepted) from None


@dataclass(frozen=True, slots=True)
class Cosignature:
    """A valid cosignature by `witness` at `timestamp` (POSIX seconds)."""

    witness: str
    timestamp: int


@dataclass(frozen=True, slots=True)
class Witnessed:
    """A checkpoint signed by the log key and cosigned by at least `quorum` named witnesses."""

    checkpoint: Checkpoint
    note: str
    cosignatures: tuple[Cosignature, ...]
    quorum: int

    @property
    def no_later_than(self) -> int:
        """The k-th earliest valid cosignature time: the tree existed by then, unless k
        witnesses all lied."""
        return sorted(c.timestamp for c in self.cosignatures)[self.quorum - 1]

    def time_of(self, witness: str) -> int | None:
        return next((c.timestamp for c in self.cosignatures if c.witness == witness), None)


def cosignatures(note: str, policy: WitnessPolicy) -> tuple[Checkpoint, list[Cosignature]]:
    """The checkpoint body and the policy's witnesses whose cosignatures verify on it.

    Lines of unknown keys are ignored (signed-note); a line whose name and key ID match a named
    witness but whose signature fails rejects the whole note (ProofError), as the spec advises.
    """
    text, lines = split_note(note)
    try:
        cp = Checkpoint.parse(text)
    except InvalidInput as e:
        raise ProofError(f"the cosigned note is not a checkpoint: {e.detail}",
                         field="checkpoint") from None
    by_id = {(w.name, w.verifier.key_id): w for w in policy.witnesses}
    found: dict[str, Cosignature] = {}
    for line in lines:
        w = by_id.get((line.name, line.key_id))
        if w is None:
            continue
        if not w.verifier.verify(text, line.sig):
            raise ProofError(f"the cosignature of witness {w.name} does not verify on this "
                             f"checkpoint", field="checkpoint")
        found.setdefault(w.name, Cosignature(w.name, int.from_bytes(line.sig[:8], "big")))
    return cp, list(found.values())


def verify_witnessed(note: str, log_verifier: NoteVerifier, policy: WitnessPolicy, *,
                     now: int | None = None, max_future_s: int = 300) -> Witnessed:
    """Check a cosigned checkpoint: the log key signed it (origin = key name) and at least
    `policy.quorum` of the policy's witnesses cosigned it. With `now`, a cosignature dated more
    than `max_future_s` after it is refused (the spec lets verifiers refuse future times).
    ProofError naming what is missing or wrong."""
    try:
        open_checkpoint(note, log_verifier)
    except ProofError as e:
        raise ProofError(f"the checkpoint does not verify with the log key "
                         f"{log_verifier.name}: {e.detail}", field="checkpoint") from None
    cp, good = cosignatures(note, policy)
    if now is not None:
        for c in good:
            if c.timestamp > now + max_future_s:
                raise ProofError(f"the cosignature of witness {c.witness} is dated "
                                 f"{c.timestamp}, {c.timestamp - now} s in the future",
                                 field="checkpoint")
    if len(good) < policy.quorum:
        have = ", ".join(c.witness for c in good) or "none"
        raise ProofError(
            f"the checkpoint of size {cp.size} has {len(good)} valid cosignature(s) of the "
            f"agreement's witnesses ({have}); the agreement asks for {policy.quorum} of "
            f"{len(policy.witnesses)}", field="checkpoint",
            accepted=", ".join(w.name for w in policy.witnesses))
    return Witnessed(cp, note, tuple(good), policy.quorum)


def merge_cosignatures(note: str, lines: Sequence[str]) -> str:
    """The signed note with signature `lines` (each "— name base64", with or without the final
    newline) added after its own; a line by the same (name, key ID) replaces the older one.
    Nothing is verified here; InvalidInput if the note or a line is malformed."""
    try:
        text, existing = split_note(note)
        added = signature_lines("".join(x if x.endswith("\n") else x + "\n" for x in lines))
    except ProofError as e:
        raise InvalidInput(e.detail, field="cosignature") from None
    new = {(s.name, s.key_id) for s in added}
    kept = [s.line for s in existing if (s.name, s.key_id) not in new]
    return text + "\n" + "".join(x + "\n" for x in [*kept, *(s.line for s in added)])


def log_signed_only(note: str, log_verifier: NoteVerifier) -> str:
    """The note with only the log key's signature line: what a log submits as its own."""
    text, _ = open_note(note, [log_verifier])
    _, lines = split_note(note)
    mine = [s.line for s in lines if (s.name, s.key_id) == (log_verifier.name,
                                                              log_verifier.key_id)]
    return text + "\n" + "".join(x + "\n" for x in mine)

