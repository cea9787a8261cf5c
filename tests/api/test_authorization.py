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

OPEN = {"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


@pytest.fixture(scope="module")
def scene(server: Server) -> dict[str, Any]:
    """A's notice with a private part, an A->B message, a finding between A and B only."""
    a = server.file("A", {"kind": "transit", "title": "A only", "volumes": [
        future_volume(80.0, 5.0)], "private": {"secret": "A-PRIVATE-MARKER"}}, notice="AZ-1")
    b = server.file("B", {"kind": "transit", "volumes": [future_volume(80.01, 5.0)]},
                    notice="AZ-2")
    m = server.send("A", "message", {"message": "AZ-M", "to": ["B"], "text": "A-TO-B-MARKER"})
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
            body = {"event": server.sub("A", "message", {"message": "X", "text": "x"}).event,
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
            sub = server.sub(victim, "message", {"message": f"as-{actor}-{victim}",
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
