"""One face for the CLI over two ways in: the deployment's store on this machine, or a running
service over HTTP. Both answer with the same JSON the API returns, so every command prints
the same thing either way, and both prove every receipt before the CLI shows it: a write's
receipt must prove the very event the party signed (`log.receipt.prove_write`).

The log's public key comes from the party, never from the service: locally it is the
deployment's own `log.pub`; over HTTP it is `--log-key` (or `ACCORD_LOG_KEY`), which writes
and receipts cannot do without.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from accord import commands
from accord.errors import InvalidInput, NoAgreement, NotFound, ProofError
from accord.log.event import Context, Event
from accord.log.merkle import consistency_proof, root
from accord.log.note import NoteVerifier, open_checkpoint
from accord.log.receipt import Proved, prove, prove_write
from accord.picture.fold import Picture
from accord.picture.view import Area, picture_for, picture_geojson
from accord.service.asof import picture_at
from accord.service.deployment import Deployment, WriterLock
from accord.service.writer import Submission, Writer, load_picture, make_receipt
from accord.store.base import Store
from accord.store.witnessed import WITNESSED_DB, CosignatureBook, witnessed_note
from accord.timefmt import Clock, SystemClock, format_time


class Access(Protocol):
    clock: Clock

    def context(self, party: str) -> Context: ...
    def submit(self, sub: Submission) -> tuple[dict[str, Any], Proved]: ...
    def check(self, party: str, doc: dict[str, Any]) -> dict[str, Any]: ...
    def current_version(self, notice: str) -> int | None: ...
    def picture(self, at: datetime | None, geojson: bool,
                area: Area | None = None) -> dict[str, Any]: ...
    def findings(self, open: bool) -> list[dict[str, Any]]: ...
    def entries(self, start: int, end: int | None) -> list[dict[str, Any]]: ...
    def agreement(self) -> dict[str, Any]: ...
    def checkpoint(self) -> dict[str, Any]: ...
    def witnessed(self) -> dict[str, Any]: ...
    def entry(self, index: int) -> dict[str, Any]: ...
    def receipt(self, index: int, size: int | None) -> dict[str, Any]: ...
    def consistency(self, size1: int, size2: int) -> dict[str, Any]: ...


def log_key(deployment: Deployment) -> bytes:
    return NoteVerifier.parse(deployment.verifier_key).public_key.public_bytes_raw()


def local_verifier(deployment: Deployment, given: NoteVerifier | None) -> NoteVerifier:
    """The deployment's own log key; a key the party gave as well must be the same one."""
    own = NoteVerifier.parse(deployment.verifier_key)
    if given is not None and given != own:
        raise InvalidInput(f"the deployment in {deployment.dir} is log {own.name} "
                           f"(key {own.key_id.hex()}), not the log key you hold "
                           f"({given.name}, key {given.key_id.hex()})", field="log_key",
                           accepted="the folder of the log your key belongs to")
    return own


def _check_checkpoint(note: object, size: object, verifier: NoteVerifier) -> None:
    """A checkpoint signed by the log key, of the size stated beside it (ProofError if not)."""
    if not isinstance(note, str):
        raise ProofError("the service sent no checkpoint note", field="checkpoint")
    try:
        cp = open_checkpoint(note, verifier)
    except ProofError as e:
        raise ProofError(f"the checkpoint does not verify with the log key {verifier.name}: "
                         f"{e.detail}", field="checkpoint") from None
    if cp.size != size:
        raise ProofError(f"the checkpoint is of size {cp.size}, the answer says {size}",
                         field="size")


def prove_submission(answer: dict[str, Any], verifier: NoteVerifier, sub: Submission) -> Proved:
    """The write's receipts prove `sub`'s own event and signature (ProofError otherwise)."""
    return prove_write(answer, verifier, Event.from_json(sub.event),
                       sub.sigs if sub.sigs is not None else sub.sig)


class Local:
    """The deployment on this machine: reads from the store, writes through a writer that
    holds the deployment's lock for the length of the command."""

    def __init__(self, dir: Path, log_key: NoteVerifier | None = None) -> None:
        self.deployment = Deployment.open(dir)
        self.verifier = local_verifier(self.deployment, log_key)
        self.clock: Clock = SystemClock()
        self._writer: Writer | None = None
        self._lock: WriterLock | None = None

    def close(self) -> None:
        if self._writer is not None:
            self._writer.store.close()
            self._writer = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    @property
    def writer(self) -> Writer:
        if self._writer is None:
            from accord.service.backup import refuse_if_behind, watch_high_water

            self._lock = WriterLock(self.deployment.dir)
            self._lock.acquire()
            store = self.deployment.store()
            fence = None
            try:
                refuse_if_behind(self.deployment, store)
                if self.deployment.backend == "postgresql":
                    # Services on other machines share the database: the writer's seat, not
                    # the folder's lock, says who may write (accord.service.election).
                    from accord.service.election import take_for_command

                    fence = take_for_command(store.db, self.deployment.origin).fence  # type: ignore[attr-defined]
                from accord.service.runtime import ServiceConfig  # the deployment's settings

                writer = Writer(store, self.deployment.signer(), self.clock,
                                snapshot_every=ServiceConfig.load(
                                    self.deployment.dir).snapshot_every, fence=fence)
            except BaseException:
                store.close()
                self._lock.release()
                self._lock = None
                raise
            writer.listeners.append(watch_high_water(
                self.deployment.dir, lambda: writer.published.checkpoint))
            self._writer = writer
        return self._writer

    @contextmanager
    def reader(self) -> Iterator[Store]:
        store = self.deployment.store(readonly=True)
        try:
            yield store
        finally:
            store.close()

    def _picture(self, at: datetime | None = None, area: Area | None = None) -> Picture:
        with self.reader() as store:
            if at is None:
                return load_picture(store, log_key(self.deployment))
            return picture_at(store, log_key(self.deployment), at, area=area)

    def context(self, party: str) -> Context:
        return self.writer.context(party)

    def submit(self, sub: Submission) -> tuple[dict[str, Any], Proved]:
        answer = self.writer.submit(sub).to_json()
        return answer, prove_submission(answer, self.verifier, sub)

    def check(self, party: str, doc: dict[str, Any]) -> dict[str, Any]:
        return self.writer.preview(party, commands.notice_body(doc, party)[0])

    def current_version(self, notice: str) -> int | None:
        with self.reader() as store:  # ended and cancelled notices too (history)
            row = store.notice_json(notice)
        return None if row is None else int(row["version"])

    def picture(self, at: datetime | None, geojson: bool,
                area: Area | None = None) -> dict[str, Any]:
        when = at or self.clock.now()
        p = self._picture(at, area)
        return (picture_geojson(p, None, when, area) if geojson
                else picture_for(p, None, when, area))

    def findings(self, open: bool) -> list[dict[str, Any]]:
        if not open:  # all of them, history too: a finding leaves the live picture
            with self.reader() as store:
                return list(store.findings_json())
        p = self._picture()
        now = self.clock.now()
        return [f.to_json() for f in sorted(p.findings.values(), key=lambda f: f.entry)
                if p.is_open(f, now)]

    def entries(self, start: int, end: int | None) -> list[dict[str, Any]]:
        with self.reader() as store:
            return [{"index": i, "entry": d.decode()} for i, d in store.entries(start, end)]

    def agreement(self) -> dict[str, Any]:
        with self.reader() as store:
            index = store.state().get("agreement_entry", -1)
            if index < 0:
                raise NoAgreement("no agreement has been adopted in this deployment yet",
                                  accepted="adopt an agreement signed by every party first")
            entry = json.loads(store.entry(index))
        return {"entry": index, "agreement": entry["event"]["body"], "sigs": entry["sigs"]}

    def checkpoint(self) -> dict[str, Any]:
        with self.reader() as store:
            cp = store.checkpoint()
        if cp is None:
            raise InvalidInput("the log is empty: no checkpoint yet", field="log")
        _check_checkpoint(cp[1], cp[0], self.verifier)
        return {"size": cp[0], "checkpoint": cp[1], "log_key": self.deployment.verifier_key}

    def witnessed(self) -> dict[str, Any]:
        """The latest checkpoint the agreement's witnesses cosigned (from witnessed.db, which
        the running service fills)."""
        agreement = self._picture().agreement
        policy = None if agreement is None else agreement.witnesses
        if policy is None:
            raise NotFound("the agreement in force names no witnesses", field="witnesses")
        path = self.deployment.dir / WITNESSED_DB
        got = None
        if path.exists():
            book = CosignatureBook(path, readonly=True)
            try:
                with self.reader() as store:
                    got = witnessed_note(book, store, policy)
            finally:
                book.close()
        if got is None:
            raise NotFound(f"no checkpoint has been cosigned by {policy.quorum} of the "
                           f"agreement's witnesses yet (`accord serve` submits them)",
                           field="witnesses")
        return {"size": got[0], "checkpoint": got[1], "quorum": policy.quorum,
                "witnesses": [w.name for w in policy.witnesses],
                "log_key": self.deployment.verifier_key}

    def entry(self, index: int) -> dict[str, Any]:
        with self.reader() as store:
            data = store.entry(index)
        return {"index": index, "entry": data.decode()}

    def receipt(self, index: int, size: int | None) -> dict[str, Any]:
        with self.reader() as store:
            cp = store.checkpoint(size)
            if cp is None:
                raise InvalidInput(f"no checkpoint of size {size}", field="size")
            rc = make_receipt(store, index, cp, entry=True)
        prove(rc, self.verifier)
        return rc.to_json()

    def consistency(self, size1: int, size2: int) -> dict[str, Any]:
        with self.reader() as store:
            n = store.size()
            if not 0 < size1 <= size2 <= n:
                raise InvalidInput(f"sizes must satisfy 0 < size1 <= size2 <= {n}",
                                   field="size2", accepted=f"1 <= size1 <= size2 <= {n}")
            b64 = base64.b64encode
            return {"size1": size1, "size2": size2,
                    "root1": b64(root(store, size1)).decode(),
                    "root2": b64(root(store, size2)).decode(),
                    "proof": [b64(h).decode() for h in consistency_proof(store, size1, size2)]}


class Remote:
    """A running service, through the HTTP client, as the party its token belongs to."""

    def __init__(self, url: str, token: str | None, log_key: NoteVerifier | None = None) -> None:
        from accord.client import Client  # httpx only when talking to a server

        self.client = Client(url, token, log_key=log_key)
        self.clock: Clock = SystemClock()

    def close(self) -> None:
        self.client.close()

    def context(self, party: str) -> Context:
        me = self.client.me()
        if me["party"] != party:
            raise InvalidInput(f"the token is {me['party']}'s, the key {party}'s",
                               field="token", accepted=f"a token of {party}")
        return Context.from_json(me, "/v1/me")

    def submit(self, sub: Submission) -> tuple[dict[str, Any], Proved]:
        return self.client.submit_proved(sub)

    def check(self, party: str, doc: dict[str, Any]) -> dict[str, Any]:
        return self.client.check(doc)

    def current_version(self, notice: str) -> int | None:
        for n in self.client.picture()["notices"]:
            if n["id"] == notice:
                return int(n["version"])
        return None

    def picture(self, at: datetime | None, geojson: bool,
                area: Area | None = None) -> dict[str, Any]:
        box = start = end = None
        if area is not None:
            box = f"{area.lon_min},{area.lat_min},{area.lon_max},{area.lat_max}"
            start = format_time(area.start) if area.start else None
            end = format_time(area.end) if area.end else None
        return self.client.picture(format_time(at) if at else None, geojson, box, start, end)

    def findings(self, open: bool) -> list[dict[str, Any]]:
        return self.client.findings(open)

    def entries(self, start: int, end: int | None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            page = self.client.entries(start, end, 1000)
            out.extend(page)
            if len(page) < 1000:
                return out
            start = page[-1]["index"] + 1

    def agreement(self) -> dict[str, Any]:
        return self.client.agreement()

    def checkpoint(self) -> dict[str, Any]:
        """The latest checkpoint, its signature checked when the party gave the log's key."""
        cp = self.client.checkpoint()
        if self.client.log_key is not None:
            _check_checkpoint(cp.get("checkpoint"), cp.get("size"), self.client.log_key)
        return cp

    def witnessed(self) -> dict[str, Any]:
        return self.client.witnessed()

    def entry(self, index: int) -> dict[str, Any]:
        page = self.client.entries(index, index + 1, 1)
        if not page:
            raise InvalidInput(f"no entry {index}", field="index")
        return page[0]

    def receipt(self, index: int, size: int | None) -> dict[str, Any]:
        rc = self.client.receipt(index, size)
        self.client.prove_receipt(rc, index)  # refuses without the log's key
        return rc

    def consistency(self, size1: int, size2: int) -> dict[str, Any]:
        return self.client.consistency(size1, size2)
