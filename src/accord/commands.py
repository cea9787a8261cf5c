"""Turning what a party means into signed commands: the party's side of the protocol.

A notice document (what an officer writes) becomes a `notice.file` or `notice.amend` event
signed with the party's key; its private part is replaced by a salted digest in the signed body
and travels beside it. Agreement proposals are built here too, to be signed by every party.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from accord.errors import InvalidInput, TooDeep
from accord.files import DOCUMENT_MAX, read_text
from accord.keys import KeyFile
from accord.limits import MAX_DEPTH, check_depth, parse_json
from accord.log.event import ALL_PARTIES, EVENT_VERSION, Context, Event, b64, private_digest
from accord.rules.agreement import Agreement
from accord.service.writer import Submission
from accord.timefmt import format_time

_DOC_KEYS = {"notice", "kind", "title", "volumes", "private"}


def load_document(path: Path) -> Any:
    """A JSON or TOML document from disk, with a clear error naming the file."""
    text = read_text(path, DOCUMENT_MAX, "file")
    if not str(path).endswith(".toml"):
        return parse_json(text, field="file", what=str(path),
                          accepted="a JSON (or .toml) document")
    try:
        doc = tomllib.loads(text)
    except RecursionError:
        raise TooDeep(f"{path} is nested too deeply", field="file",
                      accepted=f"at most {MAX_DEPTH} levels of nested arrays and tables") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path} is not valid TOML: {exc}", field="file",
                           accepted="a JSON (or .toml) document") from None
    check_depth(doc, "file")
    return doc


def new_notice_id(party: str) -> str:
    return f"{party}-{secrets.token_hex(4)}"


def notice_body(doc: Any, party: str, *, replaces: int | None = None,
                notice: str | None = None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The signed body and the private reveal for a notice document."""
    if not isinstance(doc, dict):
        raise InvalidInput("a notice document is a JSON object", field="notice",
                           accepted='{"kind", "volumes", optional "notice", "title", "private"}')
    unknown = sorted(set(doc) - _DOC_KEYS)
    if unknown:
        raise InvalidInput(f"unknown key(s) {unknown}", field="notice",
                           accepted=", ".join(sorted(_DOC_KEYS)))
    body: dict[str, Any] = {"notice": notice or doc.get("notice") or new_notice_id(party),
                            "kind": doc.get("kind"), "volumes": doc.get("volumes")}
    if doc.get("title") is not None:
        body["title"] = doc["title"]
    reveal = None
    if doc.get("private") is not None:
        salt = os.urandom(16)
        body["private_digest"] = private_digest(salt, doc["private"])
        reveal = {"salt": b64(salt), "data": doc["private"]}
    if replaces is not None:
        body["replaces"] = replaces
    return body, reveal


def signed(key: KeyFile, type: str, context: Context, issued_at: datetime,
           body: dict[str, Any], private: dict[str, Any] | None = None) -> Submission:
    """`key`'s party signs a `type` event for the log, agreement and seq of `context` (from
    `GET /v1/me`, or `Picture.context` on the operator's machine)."""
    event = context.event(type, key.name, format_time(issued_at), body)
    return Submission(event=event.to_json(), sig=key.sign(event), private=private)


def propose_agreement(doc: Any, issued_at: datetime, log: str, replaces: str | None = None,
                      version: int | None = None) -> dict[str, Any]:
    """An unsigned agreement event for `log` with an empty `sigs` map, for each party to sign.

    An amendment names the agreement in force it replaces (`replaces`, its leaf hash), both in
    the event's `agreement` and in the body's `replaces`; the first agreement names none."""
    if not isinstance(doc, dict):
        raise InvalidInput("an agreement is a table", field="agreement")
    body = dict(doc)
    if version is not None:
        body["version"] = version
    if replaces is not None:
        body["replaces"] = replaces
    agreement = Agreement.from_json(body)  # refuse a bad proposal before anyone signs it
    event = Event(type="agreement", party=ALL_PARTIES, seq=agreement.version,
                  issued_at=format_time(issued_at), body=body, log=log,
                  agreement=agreement.replaces)
    return {"event": event.to_json(), "sigs": {}}


def sign_proposal(proposal: Any, key: KeyFile) -> dict[str, Any]:
    """Add `key`'s signature; refuses a key that is not one of the agreement's parties."""
    if not isinstance(proposal, dict) or set(proposal) != {"event", "sigs"}:
        raise InvalidInput("not an agreement proposal", field="proposal",
                           accepted="a file written by `accord agreement propose`")
    event = Event.from_json(proposal["event"], "proposal.event")
    if event.v != EVENT_VERSION:
        raise InvalidInput(f"the proposal is in the version {event.v} event format, which is "
                           f"no longer admitted", field="proposal.event.v",
                           accepted="a proposal made again with `accord agreement propose`")
    agreement = Agreement.from_json(event.body)
    if event.agreement != agreement.replaces:
        raise InvalidInput("the proposal's agreement and its body's replaces disagree",
                           field="proposal.event.agreement",
                           accepted="a proposal made with `accord agreement propose`")
    if key.name not in agreement.party_ids and agreement.version == 1:
        agreement.party(key.name, "key")  # refuses: only the parties sign a first agreement
    # A party being removed by an amendment signs too; the writer checks its key against the
    # agreement in force.
    party = next((p for p in agreement.parties if p.id == key.name), None)
    if party is not None and party.key != key.public_key:
        raise InvalidInput(f"the key file for {key.name!r} does not hold the key the agreement "
                           f"names for that party", field="key",
                           accepted=f"the private key of {b64(party.key)}")
    sigs = dict(proposal["sigs"])
    sigs[key.name] = key.sign(event)
    return {"event": event.to_json(), "sigs": dict(sorted(sigs.items()))}


def signed_by_all(doc: Any, keys: Iterable[KeyFile], issued_at: datetime,
                  log: str) -> Submission:
    """Propose (a first agreement for `log`), have every key sign, and adopt: for tests, demos
    and a single operator who holds every party's key in an exercise (real parties sign on
    their own machines)."""
    proposal = propose_agreement(doc, issued_at, log)
    for k in keys:
        proposal = sign_proposal(proposal, k)
    return adoption(proposal)


def adoption(proposal: Any) -> Submission:
    if not isinstance(proposal, dict) or set(proposal) != {"event", "sigs"}:
        raise InvalidInput("not an agreement proposal", field="proposal",
                           accepted="a file written by `accord agreement propose`")
    return Submission(event=proposal["event"], sigs=proposal["sigs"])
