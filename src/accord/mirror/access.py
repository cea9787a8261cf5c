"""The CLI's read commands over a party mirror (`accord picture -d MIRROR`, `accord log ...`):
the party's picture, entries, receipts and proofs from its own copy, with no server at all.

A mirror is read-only: writes go to the service (`--server`)."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

from accord.errors import InvalidInput, NoAgreement, NotFound
from accord.log.event import Context, Entry
from accord.log.merkle import consistency_proof, inclusion_proof, root
from accord.log.receipt import Proved, Receipt, prove
from accord.mirror.folder import MirrorFolder
from accord.mirror.replica import Replica, shown_entry
from accord.picture.partial import PartyPicture
from accord.picture.view import Area, picture_for, picture_geojson
from accord.service.writer import Submission
from accord.timefmt import Clock, SystemClock


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


class MirrorAccess:
    def __init__(self, dir: Path) -> None:
        self.folder = MirrorFolder.open(dir)
        self.clock: Clock = SystemClock()
        self.replica: Replica = self.folder.replica(self.clock)
        self.party = self.folder.party

    def close(self) -> None:
        self.replica.store.close()

    def _read_only(self, what: str) -> NoReturn:
        raise InvalidInput(f"{what}: a mirror is a read-only copy", field="dir",
                           accepted="--server URL --token TOKEN to write to the service")

    def context(self, party: str) -> Context:
        self._read_only("signing needs the service's context")

    def submit(self, sub: Submission) -> tuple[dict[str, Any], Proved]:
        self._read_only("writing")

    def check(self, party: str, doc: dict[str, Any]) -> dict[str, Any]:
        self._read_only("the strategic check runs on the service")

    def current_version(self, notice: str) -> int | None:
        n = self.replica.picture.notices.get(notice)
        return None if n is None else n.version

    def _picture(self, at: datetime | None) -> PartyPicture:
        if at is None:
            return self.replica.picture
        r = self.replica
        pic = PartyPicture(r.picture.operator_key, r.picture.origin, self.party)
        for _, leaf, data, shown in r.store.leaves():
            if data is not None:
                entry = Entry.decode(data)
                if entry.received_at >= at:
                    break
                pic.apply(entry, leaf, verify=False)
            elif shown is not None:
                entry = shown_entry(json.loads(shown))
                if entry.received_at >= at:
                    break
                pic.apply_redacted(entry, leaf)
            else:
                pic.skip()
        return pic

    def picture(self, at: datetime | None, geojson: bool,
                area: Area | None = None) -> dict[str, Any]:
        when = at or self.clock.now()
        p = self._picture(at)
        out = (picture_geojson(p, self.party, when, area) if geojson
               else picture_for(p, self.party, when, area))
        if not geojson:
            held = self.replica.held
            out["mirror"] = {"size": p.size, "checkpoint_size": held[1].size if held else 0}
        return out

    def findings(self, open: bool) -> list[dict[str, Any]]:
        p = self.replica.picture
        now = self.clock.now()
        return [f.to_json() for f in sorted(p.findings.values(), key=lambda f: f.entry)
                if self.party in f.parties and (not open or p.is_open(f, now))]

    def entries(self, start: int, end: int | None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for i, leaf, data, shown in self.replica.store.leaves(start, end):
            row: dict[str, Any] = {"index": i, "leaf_hash": _b64(leaf)}
            if data is not None:
                row["entry"] = data.decode("utf-8")
            elif shown is not None:
                row.update(redacted=["event.body.title"], value=json.loads(shown))
            else:
                row["hidden"] = True
            out.append(row)
        return out

    def agreement(self) -> dict[str, Any]:
        p = self.replica.picture
        if p.agreement_entry < 0:
            raise NoAgreement("the mirror holds no agreement yet",
                              accepted="run `accord mirror` first")
        [row] = self.entries(p.agreement_entry, p.agreement_entry + 1)
        entry = json.loads(row["entry"])
        return {"entry": p.agreement_entry, "agreement": entry["event"]["body"],
                "sigs": entry["sigs"]}

    def checkpoint(self) -> dict[str, Any]:
        held = self.replica.held
        if held is None:
            raise InvalidInput("the mirror holds no checkpoint yet", field="dir",
                               accepted="run `accord mirror` first")
        return {"size": held[1].size, "checkpoint": held[0],
                "log_key": self.folder.verifier.verifier_key}

    def witnessed(self) -> dict[str, Any]:
        raise NotFound("this mirror keeps no witnesses' cosignatures", field="dir",
                       accepted="--server URL (GET /v1/log/witnessed), or a witness's "
                                "<sha256(origin)>/checkpoint")

    def entry(self, index: int) -> dict[str, Any]:
        rows = self.entries(index, index + 1)
        if not rows:
            raise NotFound(f"the mirror holds no entry {index}", field="index")
        return rows[0]

    def receipt(self, index: int, size: int | None) -> dict[str, Any]:
        store = self.replica.store
        cp = store.checkpoint(size)
        if cp is None:
            raise InvalidInput(f"the mirror holds no checkpoint of size {size}", field="size")
        if not 0 <= index < cp[0]:
            raise InvalidInput(f"entry {index} is not covered by the checkpoint of size "
                               f"{cp[0]}", field="index", accepted=f"0 to {cp[0] - 1}")
        [(_, leaf, data, _)] = list(store.leaves(index, index + 1))
        rc = Receipt(index=index, leaf_hash=leaf, checkpoint=cp[1],
                     inclusion_proof=tuple(inclusion_proof(store, index, cp[0])), entry=data)
        if data is not None:
            prove(rc, self.folder.verifier)
        return rc.to_json()

    def consistency(self, size1: int, size2: int) -> dict[str, Any]:
        store = self.replica.store
        n = self.replica.size
        if not 0 < size1 <= size2 <= n:
            raise InvalidInput(f"sizes must satisfy 0 < size1 <= size2 <= {n}", field="size2",
                               accepted=f"1 <= size1 <= size2 <= {n}")
        return {"size1": size1, "size2": size2, "root1": _b64(root(store, size1)),
                "root2": _b64(root(store, size2)),
                "proof": [_b64(h) for h in consistency_proof(store, size1, size2)]}
