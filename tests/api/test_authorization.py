"""Every endpoint, tried as every wrong party (and as nobody): a party never reads another's
private details, never acts as another, and sees others' statements only as the agreement
discloses them."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest
from api_support import PARTIES, Server, future_volume

from accord.service.deployment import Deployment

OPEN = {"/healthz", "/readyz", "/openapi.json", "/docs", "/"}


@pytest.fixture(scope="module")
def scene(server: Server) -> dict[str, Any]:
    """A's notice with a private part, an A->B message, a finding between A and B only."""
    a = server.file("A", {"kind": "transit", "title": "A only", "volumes": [
        future_volume(80.0, 5.0)], "private": {"secret": "A-PRIVATE-MARKER"}}, notice="AZ-1")
    b = server.file("B", {"kind": "transit", "volumes": [future_volume(80.01, 5.0)]},
                    notice="AZ-2")
    m = server.send("A", "message", {"message": "A:AZ-M", "to": ["B"], "text": "A-TO-B-MARKER"})
    [finding] = b["findings"]
    return {"notice": a, "message": m, "finding": finding["finding"]}


def paths(server: Server) -> set[tuple[str, str]]:
    doc = httpx.get(server.url + "/openapi.json").json()
    return {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}


def concrete(path: str) -> str:
    return path.replace("{notice_id}", "AZ-1").replace("{index}", "1")


def test_every_endpoint_needs_a_credential(server: Server, scene: dict[str, Any]) -> None:
    seen = paths(server)
    for method, path in sorted(seen):
        if path in OPEN:
            continue
        body: dict[str, Any] = {}
        if path == "/v1/events":
            body = {"event": server.sub("A", "message", {"message": "A:X", "text": "x"}).event,
                    "sig": "AAAA"}
        elif path == "/v1/check":
            body = {"notice": {"kind": "transit", "volumes": [future_volume()]}}
        for headers in ({}, {"Authorization": "Bearer acc_not-a-token"},
                        {"Authorization": "Basic QTpB"}):
            r = httpx.request(method, server.url + concrete(path), headers=headers,
                              json=body if method == "POST" else None, timeout=10,
                              params={"size1": 1, "size2": 2} if "consistency" in path else None)
            assert r.status_code == 401, (method, path, headers, r.status_code, r.text)
            assert r.headers["content-type"] == "application/problem+json"


def test_no_party_acts_as_another(server: Server, scene: dict[str, Any]) -> None:
    size = server.size()
    for actor in PARTIES:
        for victim in PARTIES:
            if actor == victim:
                continue
            sub = server.sub(victim, "message", {"message": f"{victim}:as-{actor}",
                                                 "text": "impersonation"})
            r = httpx.post(server.url + "/v1/events",
                           json={"event": sub.event, "sig": sub.sig},
                           headers={"Authorization": f"Bearer {server.tokens[actor]}"})
            assert r.status_code == 403 and r.json()["field"] == "event.party"
    with server.client("B") as c:
        assert c.me()["party"] == "B"
    assert server.size() == size


def test_private_parts_stay_with_their_owner(server: Server, scene: dict[str, Any]) -> None:
    for party in ("B", "C"):
        r = httpx.get(server.url + "/v1/notices/AZ-1/private",
                      headers={"Authorization": f"Bearer {server.tokens[party]}"})
        assert r.status_code == 404
        for path in ("/v1/picture", "/v1/findings", "/v1/notices/AZ-1",
                     "/v1/log/entries?limit=1000"):
            text = httpx.get(server.url + path,
                             headers={"Authorization": f"Bearer {server.tokens[party]}"}).text
            assert "A-PRIVATE-MARKER" not in text, (party, path)
    r = httpx.get(server.url + "/v1/notices/AZ-1/private",
                  headers={"Authorization": f"Bearer {server.tokens['A']}"})
    assert r.status_code == 200 and r.json()["data"] == {"secret": "A-PRIVATE-MARKER"}


def test_third_party_sees_nothing_addressed_to_others(server: Server,
                                                     scene: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {server.tokens['C']}"}
    pic = httpx.get(server.url + "/v1/picture", headers=headers).json()
    assert "A-TO-B-MARKER" not in json.dumps(pic)
    assert scene["finding"]["finding"] not in {f["finding"] for f in pic["findings"]}
    findings = httpx.get(server.url + "/v1/findings", headers=headers).json()
    assert all("C" in f["parties"] for f in findings)
    entries = httpx.get(server.url + "/v1/log/entries", params={"limit": 1000},
                        headers=headers).json()
    msg_index = scene["message"]["index"]
    [hidden] = [e for e in entries if e["index"] == msg_index]
    assert hidden == {"index": msg_index, "leaf_hash": scene["message"]["receipt"]["leaf_hash"],
                      "hidden": True}
    assert "A-TO-B-MARKER" not in json.dumps(entries)
    # the hidden entry is still provable: C can check it is in the log
    receipt = httpx.get(server.url + f"/v1/log/receipt/{msg_index}", headers=headers).json()
    assert receipt["leaf_hash"] == hidden["leaf_hash"]
    assert "entry" not in receipt  # a receipt carries the entry only where it is disclosed
    # and C's live stream never carries it
    lines: list[str] = []

    def read() -> None:
        with httpx.stream("GET", server.url + "/v1/stream", params={"from": 0},
                          headers=headers, timeout=httpx.Timeout(5, read=3)) as r:
            try:
                for line in r.iter_lines():
                    lines.append(line)
            except httpx.ReadTimeout:
                return

    t = threading.Thread(target=read)
    t.start()
    t.join(timeout=15)
    ids = [int(x[4:]) for x in lines if x.startswith("id: ")]
    assert ids and msg_index not in ids and "A-TO-B-MARKER" not in "\n".join(lines)
    # B, the recipient, does see it
    b_pic = httpx.get(server.url + "/v1/picture",
                      headers={"Authorization": f"Bearer {server.tokens['B']}"}).json()
    assert "A-TO-B-MARKER" in json.dumps(b_pic)


def test_revoked_token_is_refused(server: Server) -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "accord", "party", "token", "C", "-d",
                          str(server.dir), "--label", "temp", "--json"], capture_output=True,
                         text=True, timeout=60)
    token = json.loads(out.stdout)["token"]
    ok = httpx.get(server.url + "/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and ok.json()["party"] == "C"
    subprocess.run([sys.executable, "-m", "accord", "party", "revoke", "C", "-d",
                    str(server.dir), "--label", "temp"], check=True, capture_output=True,
                   timeout=60)
    time.sleep(2.1)  # the service remembers a token for up to two seconds
    gone = httpx.get(server.url + "/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert gone.status_code == 401
    refused = subprocess.run([sys.executable, "-m", "accord", "party", "token", "Z", "-d",
                              str(server.dir)], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "not a party" in refused.stderr


# -- authority: the first agreement, amendments, removed and added parties --------------------


def _auth(token: str, scheme: str = "Bearer") -> dict[str, str]:
    return {"Authorization": f"{scheme} {token}"}


class StreamReader:
    """A party's /v1/stream read on a thread: the lines, and when the server ended it."""

    def __init__(self, server: Server, token: str) -> None:
        self.lines: list[str] = []
        self.ended_at: float | None = None
        self.status = 0
        self.opened = threading.Event()
        self.thread = threading.Thread(target=self._read, args=(server, token), daemon=True)
        self.thread.start()
        assert self.opened.wait(10), "the stream did not open"

    def _read(self, server: Server, token: str) -> None:
        try:
            with httpx.stream("GET", server.url + "/v1/stream", headers=_auth(token),
                              timeout=httpx.Timeout(10, read=30)) as r:
                self.status = r.status_code
                self.opened.set()
                for line in r.iter_lines():
                    self.lines.append(line)
        except httpx.HTTPError:
            pass
        finally:
            self.opened.set()
            self.ended_at = time.monotonic()

    def ids(self) -> list[int]:
        return [int(x[4:]) for x in self.lines if x.startswith("id: ")]


def test_first_agreement_is_never_adopted_over_http(tmp_path: Any) -> None:
    """A stranger who reaches the port cannot adopt a self-signed agreement, with or without
    a token; the problem says how the operator adopts it."""
    from api_support import bare_deployment, start, stop

    from accord import commands
    from accord.keys import PARTY_KEY, KeyFile
    from accord.timefmt import SystemClock
    from support import agreement_doc

    dir = tmp_path / "bare"
    bare_deployment(dir)
    s = start(dir, {}, {})
    try:
        strangers = {p: KeyFile.generate(PARTY_KEY, p) for p in ("A", "B")}
        sub = commands.signed_by_all(agreement_doc(strangers), strangers.values(),
                                     SystemClock().now(), Deployment.open(dir).origin)
        for headers in ({}, _auth("acc_guessed"), _auth("acc_guessed", "bearer")):
            r = httpx.post(s.url + "/v1/events", json={"event": sub.event, "sigs": sub.sigs},
                           headers=headers)
            assert r.status_code == 401, r.text
            assert "accord agreement adopt" in r.json()["accepted"]
        assert httpx.get(s.url + "/readyz").json()["entries"] == 0
    finally:
        assert stop(s) == 0


def test_a_stranger_never_makes_the_service_read_a_body(server: Server) -> None:
    """The credential is checked from the headers alone: a request without a valid token is
    answered while its (declared, large) body has not even been sent."""
    import socket
    from urllib.parse import urlsplit

    u = urlsplit(server.url)
    for auth in (b"", b"Authorization: Bearer acc_nope\r\n"):
        with socket.create_connection((u.hostname, u.port), timeout=5) as sock:
            sock.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: "
                         b"application/json\r\nContent-Length: 1000000\r\n" + auth + b"\r\n")
            started = time.monotonic()
            answer = sock.recv(4096)
            assert answer.startswith(b"HTTP/1.1 401"), answer
            assert time.monotonic() - started < 3


def test_bearer_scheme_in_any_case(server: Server) -> None:
    for scheme in ("Bearer", "bearer", "BEARER", "bEaReR"):
        r = httpx.get(server.url + "/v1/me", headers=_auth(server.tokens["B"], scheme))
        assert r.status_code == 200 and r.json()["party"] == "B", scheme


def test_ack_of_a_message_not_sent_to_you_answers_as_for_none(server: Server) -> None:
    """C acknowledging A's message to B, and a message that does not exist: one answer."""
    server.send("A", "message", {"message": "A:ORACLE-1", "to": ["B"], "text": "for B"})
    answers = []
    for mid in ("A:ORACLE-1", "A:ORACLE-NONE"):
        sub = server.sub("C", "message.ack", {"message": mid})
        r = httpx.post(server.url + "/v1/events", json={"event": sub.event, "sig": sub.sig},
                       headers=_auth(server.tokens["C"]))
        body = r.json()
        answers.append((r.status_code, body["type"], body["field"], body["accepted"],
                        body["detail"].replace(mid, "ID")))
    assert answers[0] == answers[1] and answers[0][0] == 404


@pytest.fixture(scope="module")
def amended(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A server where A broadcasts, then an amendment removes C and adds D, then A broadcasts
    again. C's stream is open across the amendment."""
    from api_support import add_token, amendment, make_deployment, start, stop

    from accord.keys import PARTY_KEY, KeyFile

    dir = tmp_path_factory.mktemp("amend") / "dep"
    keys, tokens = make_deployment(dir)
    s = start(dir, keys, tokens)
    before = s.send("A", "message", {"message": "A:BEFORE", "text": "BEFORE-MARKER"})
    c_stream = StreamReader(s, tokens["C"])
    d = KeyFile.generate(PARTY_KEY, "D")
    new = {"A": keys["A"], "B": keys["B"], "D": d}
    proposal = amendment(s, new, [keys["A"], keys["B"], keys["C"], d])
    refused = [httpx.post(s.url + "/v1/events", json=proposal, headers=h)
               for h in ({}, _auth("acc_guessed"))]
    time.sleep(1.5)  # C's stream is live before the amendment
    with s.client("A") as c:
        adopted = c.submit(__import__("accord.commands", fromlist=["x"]).adoption(proposal))
    removed_at = time.monotonic()
    s.keys["D"] = d
    s.tokens["D"] = add_token(s, "D")
    after = s.send("A", "message", {"message": "A:AFTER", "text": "AFTER-MARKER"})
    s.file("A", {"kind": "transit", "volumes": [future_volume(70.0, 5.0)],
                 "private": {"secret": "AM-PRIVATE"}}, notice="AM-1")
    yield {"server": s, "before": before, "after": after, "adopted": adopted,
           "refused": refused, "c_stream": c_stream, "removed_at": removed_at}
    assert stop(s) == 0


def test_amendment_over_http_needs_a_party_token(amended: dict[str, Any]) -> None:
    assert [r.status_code for r in amended["refused"]] == [401, 401]
    assert amended["adopted"]["event"]["type"] == "agreement"
    with amended["server"].client("A") as c:
        assert c.agreement()["agreement"]["version"] == 2


def test_removed_party_is_refused_and_its_stream_ends(amended: dict[str, Any]) -> None:
    s: Server = amended["server"]
    r = httpx.get(s.url + "/v1/me", headers=_auth(s.tokens["C"]))
    assert r.status_code == 403 and r.json()["field"] == "Authorization"
    from accord.errors import Forbidden

    with s.client("C") as c, pytest.raises(Forbidden):  # the client knows the problem
        c.me()
    stream: StreamReader = amended["c_stream"]
    stream.thread.join(timeout=10)
    assert stream.ended_at is not None, "the removed party's stream is still open"
    assert stream.ended_at - amended["removed_at"] < 2.5
    assert amended["adopted"]["index"] not in stream.ids()
    assert "AFTER-MARKER" not in "\n".join(stream.lines)
    assert "BEFORE-MARKER" in "\n".join(stream.lines)
    sub = s.sub("A", "message", {"message": "A:X-C", "text": "x"})  # A's seq, C's token
    r = httpx.post(s.url + "/v1/events", json={"event": sub.event, "sig": sub.sig},
                   headers=_auth(s.tokens["C"]))
    assert r.status_code == 403


def test_added_party_does_not_read_earlier_broadcasts(amended: dict[str, Any]) -> None:
    s: Server = amended["server"]
    d = _auth(s.tokens["D"])
    before, after = amended["before"]["index"], amended["after"]["index"]
    entries = {e["index"]: e for e in httpx.get(s.url + "/v1/log/entries",
                                                params={"limit": 1000}, headers=d).json()}
    assert entries[before] == {"index": before, "hidden": True,
                               "leaf_hash": amended["before"]["receipt"]["leaf_hash"]}
    assert "AFTER-MARKER" in entries[after]["entry"]
    pic = httpx.get(s.url + "/v1/picture", headers=d).json()
    assert [m["id"] for m in pic["messages"]] == ["A:AFTER"]
    receipt = httpx.get(s.url + f"/v1/log/receipt/{before}", headers=d).json()
    assert "BEFORE-MARKER" not in json.dumps(receipt) and "entry" not in receipt  # base64 too
    assert "entry" in httpx.get(s.url + f"/v1/log/receipt/{after}", headers=d).json()
    stream = StreamReader(s, s.tokens["D"])
    time.sleep(2)
    text = "\n".join(stream.lines)
    assert after in stream.ids() and before not in stream.ids()
    assert "BEFORE-MARKER" not in text
    # B, a party then and now, reads both
    b = httpx.get(s.url + "/v1/picture", headers=_auth(s.tokens["B"])).json()
    assert {m["id"] for m in b["messages"]} == {"A:BEFORE", "A:AFTER"}


def test_revoking_a_token_ends_its_stream(amended: dict[str, Any]) -> None:
    import subprocess
    import sys

    from api_support import add_token

    s: Server = amended["server"]
    token = add_token(s, "B")  # label test-B
    stream = StreamReader(s, token)
    time.sleep(1)
    subprocess.run([sys.executable, "-m", "accord", "party", "revoke", "B", "-d", str(s.dir),
                    "--label", "test-B"], check=True, capture_output=True, timeout=60)
    revoked = time.monotonic()
    stream.thread.join(timeout=15)
    assert stream.ended_at is not None, "the revoked token's stream is still open"
    assert stream.ended_at - revoked < 4.5  # the token cache (2 s) plus a wake (1 s)
    assert httpx.get(s.url + "/v1/me", headers=_auth(token)).status_code == 401


# -- the matrix: every route of the app, as nobody, as a removed party, as an added one -------

# Every route the app serves, and what a party in force gets from it (path parameters filled
# in). A route missing here fails `test_every_route_has_a_policy`: give it one.
ROUTES: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/healthz"): {"open": True},
    ("GET", "/readyz"): {"open": True},
    ("GET", "/openapi.json"): {"open": True},
    ("GET", "/docs"): {"open": True},
    # the console: its page and static files hold no data (it reads the API with a token)
    ("GET", "/"): {"open": True},
    ("GET", "/console/settings.json"): {"open": True},
    ("GET", "/console/{name:path}"): {"open": True, "path": "/console/js/main.js"},
    ("POST", "/v1/events"): {"status": 200},
    ("POST", "/v1/check"): {"status": 200,
                            "json": {"notice": {"kind": "transit",
                                                "volumes": [future_volume(10.0, 60.0)]}}},
    ("POST", "/v1/tracks"): {"status": 200, "json": {"reports": []}},
    ("GET", "/v1/me"): {"status": 200},
    ("GET", "/v1/time"): {"status": 200},
    ("GET", "/v1/tracks"): {"status": 200},
    ("GET", "/v1/agreement"): {"status": 200},
    ("GET", "/v1/picture"): {"status": 200},
    ("GET", "/v1/notices/{notice_id}"): {"status": 200, "path": "/v1/notices/AM-1"},
    ("GET", "/v1/notices/{notice_id}/private"): {"status": 404,  # A's, not the reader's
                                                 "path": "/v1/notices/AM-1/private"},
    ("GET", "/v1/findings"): {"status": 200},
    ("GET", "/v1/alerts"): {"status": 200},
    ("GET", "/v1/log/checkpoint"): {"status": 200},
    ("GET", "/v1/log/witnessed"): {"status": 404},  # any party; this agreement has no witnesses
    ("GET", "/v1/log/entries"): {"status": 200},
    ("GET", "/v1/log/receipt/{index}"): {"status": 200, "path": "/v1/log/receipt/0"},
    ("GET", "/v1/log/consistency"): {"status": 200, "params": {"size1": 1, "size2": 2}},
    ("GET", "/v1/stream"): {"status": 200, "stream": True},
}


def app_routes(server: Server) -> set[tuple[str, str]]:
    from accord.api.app import create_app

    app = create_app(server.dir)
    return {(m, r.path) for r in app.routes for m in getattr(r, "methods", ()) or ()
            if m != "HEAD"}


def test_every_route_has_a_policy(server: Server) -> None:
    assert app_routes(server) == set(ROUTES)


def _call(s: Server, method: str, path: str, spec: dict[str, Any],
          headers: dict[str, str], as_party: str | None) -> int:
    url = s.url + spec.get("path", path)
    body = spec.get("json")
    if path == "/v1/events" and as_party == "D":  # signed by the added party
        sub = s.sub(as_party, "message", {"message": f"{as_party}:MATRIX-{time.time_ns()}",
                                          "text": "matrix"})
        body = {"event": sub.event, "sig": sub.sig}
    elif path == "/v1/events":
        body = {"event": {"v": 1, "type": "message", "party": "A", "seq": 1,
                          "issued_at": "2026-01-01T00:00:00Z", "body": {}}, "sig": "AAAA"}
    if spec.get("stream"):
        with httpx.stream(method, url, headers=headers, timeout=httpx.Timeout(10, read=5)) as r:
            return r.status_code
    return httpx.request(method, url, headers=headers, json=body, params=spec.get("params"),
                         timeout=10).status_code


def test_matrix_of_every_route(amended: dict[str, Any]) -> None:
    """Nobody: 401. A party removed by the amendment: 403 (its token still in the table). A
    party added by it: what any party in force gets. An open path: answers anyone."""
    s: Server = amended["server"]
    assert app_routes(s) == set(ROUTES)
    for (method, path), spec in sorted(ROUTES.items()):
        if spec.get("open"):
            assert _call(s, method, path, spec, {}, None) == 200, path
            continue
        seen = {
            "nobody": _call(s, method, path, spec, {}, None),
            "garbage": _call(s, method, path, spec, _auth("acc_nope"), None),
            "removed C": _call(s, method, path, spec, _auth(s.tokens["C"]), "C"),
            "added D": _call(s, method, path, spec, _auth(s.tokens["D"]), "D"),
            "D, lower-case scheme": _call(s, method, path, spec,
                                          _auth(s.tokens["D"], "bearer"), "D"),
        }
        want = {"nobody": 401, "garbage": 401, "removed C": 403, "added D": spec["status"],
                "D, lower-case scheme": spec["status"]}
        assert seen == want, (method, path)
