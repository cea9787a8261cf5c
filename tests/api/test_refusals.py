"""Every refused event answers with the operator's signed refusal, which the CLI keeps and
`accord verify --refusal` checks; nothing of the event is logged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
from api_support import Server, future_volume

from accord.log.note import NoteVerifier
from accord.log.refusal import event_hash, verify_refusal


def post(server: Server, party: str, body: dict[str, object] | bytes) -> httpx.Response:
    headers = {"Authorization": f"Bearer {server.tokens[party]}"}
    if isinstance(body, bytes):
        return httpx.post(server.url + "/v1/events", content=body, headers=headers)
    return httpx.post(server.url + "/v1/events", json=body, headers=headers)


def test_each_refusal_carries_a_signed_statement(server: Server) -> None:
    log = NoteVerifier.parse(server.log_key)
    size = server.size()
    sub = server.sub("A", "message", {"message": "A:R1", "text": "hello"})
    other = server.sub("B", "message", {"message": "B:R1", "text": "hello"}).sig
    cases = [
        ({"event": sub.event, "sig": other}, 401, "bad-signature"),  # not A's signature
        ({"event": sub.event, "sig": "AAAA"}, 400, "invalid-input"),
        ({"event": sub.event, "sig": sub.sig, "extra": 1}, 400, "invalid-input"),
        ({"event": {**sub.event, "party": "B"}, "sig": sub.sig}, 403, "forbidden"),
    ]
    for body, status, slug in cases:
        r = post(server, "A", body)
        assert r.status_code == status, r.text
        problem = r.json()
        got = verify_refusal(problem["refusal"], log)
        assert (got.party, got.status, got.slug) == ("A", status, slug)
        assert got.hash_of == "event" and got.hash == event_hash(body["event"])  # type: ignore[index]
        assert got.reason == problem["detail"]
    raw = post(server, "A", b"{not json")
    assert verify_refusal(raw.json()["refusal"], log).hash_of == "body"
    nobody = httpx.post(server.url + "/v1/events", json={"event": sub.event, "sig": sub.sig})
    assert nobody.status_code == 401 and "refusal" not in nobody.json()
    assert server.size() == size  # refusals are not logged


def test_the_cli_keeps_the_refusal_and_verify_checks_it(server: Server, tmp_path: Path) -> None:
    server.keys["A"].write(tmp_path / "A.key")
    (tmp_path / "log.pub").write_text(server.log_key + "\n")
    # a drill needs 60 minutes' notice and the agreement rejects a late one
    (tmp_path / "late.json").write_text(json.dumps(
        {"kind": "drill", "volumes": [future_volume(75, 10, minutes=10)]}))
    env = dict(os.environ, ACCORD_REFUSALS=str(tmp_path / "kept"), COLUMNS="200")
    base = [sys.executable, "-m", "accord", "--server", server.url, "--token",
            server.tokens["A"], "--log-key", server.log_key]
    refused = subprocess.run([*base, "notice", "file", "late.json", "--key", "A.key"],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2, refused.stderr
    assert "signed refusal is saved" in refused.stderr
    [kept] = list((tmp_path / "kept").iterdir())
    ok = subprocess.run([sys.executable, "-m", "accord", "verify", "--refusal", str(kept),
                         "--key", "log.pub", "--json"], cwd=tmp_path, capture_output=True,
                        text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    shown = json.loads(ok.stdout)
    assert shown["party"] == "A" and shown["status"] == 422 and shown["type"] == "rule-breach"
    kept.write_text(kept.read_text().replace("rule-breach", "rule-breacx"))
    bad = subprocess.run([sys.executable, "-m", "accord", "verify", "--refusal", str(kept),
                          "--key", "log.pub"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 2 and "signature" in bad.stderr and "Traceback" not in bad.stderr
