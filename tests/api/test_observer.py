"""An investigator the agreement admits (a party with role `observer`): it signs the agreement
like every party, reads every entry in full over the API (messages between others, withheld
titles, findings, the stream), and can act on nothing: no filing, no message, no
acknowledgement owed, no tracks. Its mirror holds every entry, so its evidence is complete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from api_support import Server, future_volume, start, stop

from accord import commands
from accord.errors import AccordError, Forbidden, InvalidInput
from accord.keys import PARTY_KEY, KeyFile
from accord.rules.agreement import Agreement
from accord.service.deployment import Deployment
from accord.service.runtime import issue_token
from accord.service.writer import Writer
from accord.store.sqlite import SqliteStore
from accord.timefmt import SystemClock
from support import agreement_doc


def observed(dir: Path) -> tuple[dict[str, KeyFile], dict[str, str]]:
    clock = SystemClock()
    d = Deployment.init(dir, "api.test/observed", clock)
    keys = {p: KeyFile.generate(PARTY_KEY, p) for p in ("A", "B", "C", "UN")}
    doc = agreement_doc(keys)
    for p in doc["parties"]:
        if p["id"] == "UN":
            p["role"] = "observer"
    doc["disclosure"] = {"C": "volumes"}
    store = SqliteStore(d.db_path)
    writer = Writer(store, d.signer(), clock)
    writer.submit(commands.signed_by_all(doc, keys.values(), clock.now(), d.origin))
    tokens = {p: issue_token(store, p, "test", clock) for p in keys}
    store.close()
    return keys, tokens


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Server:
    dir = tmp_path_factory.mktemp("observer") / "dep"
    keys, tokens = observed(dir)
    s = start(dir, keys, tokens)
    yield s  # type: ignore[misc]
    assert stop(s) == 0


def test_the_role_is_validated() -> None:
    keys = {p: KeyFile.generate(PARTY_KEY, p) for p in ("A", "B", "UN")}
    doc = agreement_doc(keys)
    doc["parties"][2]["role"] = "admin"
    with pytest.raises(InvalidInput, match="unknown role"):
        Agreement.from_json(doc)
    doc["parties"][2]["role"] = "observer"
    doc["parties"][1]["role"] = "observer"
    with pytest.raises(InvalidInput, match="at least two parties besides its observers"):
        Agreement.from_json(doc)
    doc["parties"][1]["role"] = "party"
    a = Agreement.from_json(doc)
    assert a.observers == {"UN"} and a.acting_ids == ("A", "B")


def test_an_observer_reads_everything_and_acts_on_nothing(server: Server) -> None:
    s = server
    s.send("B", "message", {"message": "B:secret", "text": "for C only", "to": ["C"]})
    s.file("C", {"notice": "C-1", "kind": "transit", "title": "C's title",
                 "volumes": [future_volume(36.0, 36.0)]})
    s.file("A", {"notice": "A-1", "kind": "strike", "title": "A strike",
                 "volumes": [future_volume(36.0, 36.0)]})  # conflicts with C-1
    with s.client("UN") as un, s.client("A") as a:
        rows = un.entries(0, None, 1000)
        mine = a.entries(0, None, 1000)
        assert all("entry" in r for r in rows) and len(rows) == len(mine)
        text = json.dumps(rows)
        assert "for C only" in text and "C's title" in text
        assert any(r.get("hidden") for r in mine)  # A does not read B's message to C
        assert {f["finding"] for f in un.findings()} >= {f["finding"] for f in a.findings()}
        assert un.findings()
        pic = un.picture()
        assert next(n for n in pic["notices"] if n["id"] == "C-1")["title"] == "C's title"
        assert any(m["id"] == "B:secret" for m in pic["messages"])
        # No acknowledgement is owed by the observer, and a broadcast does not go to it.
        a_strike = next(n for n in pic["notices"] if n["id"] == "A-1")
        assert a_strike["state"] == "filed"
    with s.client("A") as a:
        sent = a.submit(s.sub("A", "message", {"message": "A:all", "text": "to everyone"}))
    assert sent["index"] >= 0
    with s.client("UN") as un:
        msg = next(m for m in un.picture()["messages"] if m["id"] == "A:all")
        assert msg["to"] == ["B", "C"]
        for type_, body in (("notice.file", commands.notice_body(
                                {"notice": "UN-1", "kind": "transit",
                                 "volumes": [future_volume(30, 30)]}, "UN")[0]),
                            ("message", {"message": "UN:x", "text": "hello"}),
                            ("notice.ack", {"notice": "A-1", "version": 1})):
            with pytest.raises(Forbidden, match="observes this agreement"):
                un.submit(s.sub("UN", type_, body))
        with pytest.raises(AccordError, match="reports no aircraft"):
            un.tracks([])
    with s.client("A") as a, pytest.raises(AccordError, match="not another party"):
        a.submit(s.sub("A", "message", {"message": "A:to-un", "text": "x", "to": ["UN"]}))
