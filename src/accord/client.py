"""A small client for a running Accord service; the CLI's `--server` mode is built on it.

Every refusal from the service comes back as the same `AccordError` subclass the service
raised (rebuilt from its RFC 9457 problem), so callers handle local and remote errors alike.

Given the log's public key (taken from the operator out of band, never from the service that
sends the receipt), the client checks every receipt as it arrives (`log.receipt.prove_write`)
and raises `ProofError` for one that does not prove what it claims.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx

from accord.errors import AccordError, DeploymentError, InvalidInput, ProofError, from_problem
from accord.log.event import Context, Event
from accord.log.note import NoteVerifier
from accord.log.receipt import Proved, Receipt, prove, prove_write, verify_receipt
from accord.service.writer import Submission


class Client:
    def __init__(self, base_url: str, token: str | None = None, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None,
                 log_key: str | NoteVerifier | None = None) -> None:
        """`log_key`: the log's verifier key (`name+keyid+key`), to check receipts with."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.log_key = NoteVerifier.parse(log_key) if isinstance(log_key, str) else log_key
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout,
                                 transport=transport)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        try:
            r = self.http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise DeploymentError(f"cannot reach {self.base_url}: {exc}",
                                  accepted="a running `accord serve` at --server") from None
        if r.status_code >= 400:
            raise self._error(r)
        return r.json()

    @staticmethod
    def _error(r: httpx.Response) -> AccordError:
        try:
            problem = r.json()
        except ValueError:
            problem = {"status": r.status_code, "detail": r.text[:200] or r.reason_phrase}
        return from_problem(problem if isinstance(problem, dict) else {"detail": str(problem)})

    # -- writes ------------------------------------------------------------------------------

    def _verifier(self, what: str) -> NoteVerifier:
        if self.log_key is None:
            raise InvalidInput(f"{what} needs the log's public key to check the receipt",
                               field="log_key",
                               accepted="the operator's log.pub, taken out of band "
                                        "(--log-key FILE or ACCORD_LOG_KEY)")
        return self.log_key

    def submit(self, sub: Submission) -> dict[str, Any]:
        """Send a signed event; returns the outcome (index, receipt, findings), its receipts
        checked when the client has the log's key."""
        if self.log_key is not None:
            return self.submit_proved(sub)[0]
        return self._post(sub)

    def submit_proved(self, sub: Submission) -> tuple[dict[str, Any], Proved]:
        """Send a signed event and prove its receipt: the entry holds exactly this event and
        signature, at the index and receive time the answer states. Refuses, before sending,
        without the log's key."""
        verifier = self._verifier("a write")
        answer = self._post(sub)
        return answer, prove_write(answer, verifier, Event.from_json(sub.event),
                                   sub.sigs if sub.sigs is not None else sub.sig)

    def _post(self, sub: Submission) -> dict[str, Any]:
        body: dict[str, Any] = {"event": sub.event}
        for key in ("sig", "sigs", "private"):
            value = getattr(sub, key)
            if value is not None:
                body[key] = value
        result: dict[str, Any] = self._call("POST", "/v1/events", json=body)
        return result

    def check(self, notice: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/v1/check", json={"notice": notice})
        return result

    def tracks(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Position reports of your party's aircraft; returns what was kept and what not."""
        result: dict[str, Any] = self._call("POST", "/v1/tracks", json={"reports": rows})
        return result

    # -- reads -------------------------------------------------------------------------------

    def alerts(self, open: bool = False) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/v1/alerts",
                                                  params={"open": str(open).lower()})
        return result


    def me(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/v1/me")
        return result

    def context(self) -> Context:
        """What this party's next event must name (log, agreement in force, seq): sign with
        `commands.signed(key, type, client.context(), now, body)`."""
        return Context.from_json(self.me(), "/v1/me")

    def agreement(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/v1/agreement")
        return result

    def picture(self, at: str | None = None, geojson: bool = False, bbox: str | None = None,
                start: str | None = None, end: str | None = None) -> dict[str, Any]:
        params = {k: v for k, v in {"at": at, "bbox": bbox, "start": start, "end": end,
                                    "format": "geojson" if geojson else "json"}.items()
                  if v is not None}
        result: dict[str, Any] = self._call("GET", "/v1/picture", params=params)
        return result

    def findings(self, open: bool = False) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/v1/findings",
                                                  params={"open": str(open).lower()})
        return result

    def checkpoint(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/v1/log/checkpoint")
        return result

    def witnessed(self) -> dict[str, Any]:
        """The latest checkpoint cosigned by the agreement's witnesses (unverified: check it
        with `accord.log.cosignature.verify_witnessed` and the witness keys you hold)."""
        result: dict[str, Any] = self._call("GET", "/v1/log/witnessed")
        return result

    def entries(self, start: int = 0, end: int | None = None,
                limit: int = 100) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"start": start, "limit": limit}
        if end is not None:
            params["end"] = end
        result: list[dict[str, Any]] = self._call("GET", "/v1/log/entries", params=params)
        return result

    def receipt(self, index: int, size: int | None = None) -> dict[str, Any]:
        """A receipt for entry `index`; checked when the client has the log's key (a receipt
        for an entry not disclosed to you has no entry, and proves only its leaf hash)."""
        params = {"size": size} if size is not None else {}
        result: dict[str, Any] = self._call("GET", f"/v1/log/receipt/{index}", params=params)
        if self.log_key is not None:
            self.prove_receipt(result, index)
        return result

    def prove_receipt(self, receipt: dict[str, Any], index: int) -> Proved | None:
        """Prove a receipt the service sent for `index` (None when it carries no entry, which
        then is checked for inclusion only)."""
        verifier = self._verifier("checking a receipt")
        rc = Receipt.from_json(receipt)
        if rc.index != index:
            raise ProofError(f"asked for a receipt of entry {index}, got one for {rc.index}",
                             field="index")
        if rc.entry is None:
            verify_receipt(rc, verifier)
            return None
        return prove(rc, verifier)

    def consistency(self, size1: int, size2: int) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/v1/log/consistency",
                                            params={"size1": size1, "size2": size2})
        return result

    def stream(self, last_event_id: int | None = None,
               timeout: float | None = None) -> Iterator[tuple[int, str, dict[str, Any]]]:
        """Server-Sent Events as (log index, event type, data), resuming after
        `last_event_id`. Runs until the server closes the stream or `timeout` passes idle."""
        headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
        try:
            with self.http.stream("GET", "/v1/stream", headers=headers,
                                  timeout=httpx.Timeout(10.0, read=timeout)) as r:
                if r.status_code >= 400:
                    r.read()
                    raise self._error(r)
                event: dict[str, str] = {}
                for line in r.iter_lines():
                    if not line:
                        if "data" in event:
                            yield int(event["id"]), event.get("event", ""), \
                                json.loads(event["data"])
                        event = {}
                    elif not line.startswith(":"):
                        key, _, value = line.partition(":")
                        event[key] = value.removeprefix(" ")
        except httpx.ReadTimeout:
            return
        except httpx.HTTPError as exc:
            raise DeploymentError(f"the stream from {self.base_url} failed: {exc}") from None
