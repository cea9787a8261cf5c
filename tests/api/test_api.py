"""The service over HTTP, against a real `accord serve` on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest
from api_support import Server, future_volume

from accord.errors import (
    BadSignature,
    InvalidGeometry,
    LimitExceeded,
    ReplayedSeq,
    StaleVersion,
)
from accord.log.note import NoteVerifier
from accord.log.receipt import Receipt, verify_receipt


def verify(server: Server, receipt: dict[str, Any]) -> None:
    verify_receipt(Receipt.from_json(receipt), NoteVerifier.parse(server.log_key))


def test_health_and_openapi(server: Server) -> None:
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(server.url + "/readyz").json()
    assert ready["status"] == "ready" and ready["origin"] == "api.test/log"
    doc = httpx.get(server.url + "/openapi.json").json()
    assert "/v1/events" in doc["paths"] and "/v1/stream" in doc["paths"]


def test_notice_lifecycle(server: Server) -> None:
    a = server.file("A", {"kind": "transit", "title": "A's transit",
                          "volumes": [future_volume(20.0, 20.0)],
                          "private": {"callsign": "ALPHA"}}, notice="A-life")
    verify(server, a["receipt"])
    assert a["event"]["party"] == "A" and a["findings"] == []
    b = server.file("B", {"kind": "transit", "volumes": [future_volume(20.01, 20.0)]},
                    notice="B-life")
    [item] = b["findings"]
    assert item["finding"]["kind"] == "conflict" and item["finding"]["parties"] == ["A", "B"]
    verify(server, item["receipt"])
    with server.client("B") as c:
        seen = {n["id"]: n for n in c.picture()["notices"]}
        assert seen["A-life"]["title"] == "A's transit"
        assert [f["finding"] for f in c.findings(open=True)
                if f["notice"] == "B-life"] == [item["finding"]["finding"]]
    server.send("B", "notice.ack", {"notice": "A-life", "version": 1})
    with server.client("A") as c:
        body, _ = __import__("accord.commands", fromlist=["x"]).notice_body(
            {"kind": "transit", "volumes": [future_volume(21.0, 20.0)]}, "A", replaces=1,
            notice="A-life")
        amended = c.submit(server.sub("A", "notice.amend", body))
        assert amended["notice"]["version"] == 2 and amended["findings"] == []
        private = c._call("GET", "/v1/notices/A-life/private", params={"version": 1})
        assert private["data"] == {"callsign": "ALPHA"}
        with pytest.raises(StaleVersion):
            c.submit(server.sub("A", "notice.cancel", {"notice": "A-life", "version": 1}))
        c.submit(server.sub("A", "notice.cancel", {"notice": "A-life", "version": 2}))
        assert "A-life" not in {n["id"] for n in c.picture()["notices"]}
        # the picture as of before the cancellation still has it
        from datetime import timedelta

        from accord.timefmt import format_time, parse_time

        after = format_time(parse_time(amended["received_at"]) + timedelta(microseconds=1))
        past = {n["id"]: n for n in c.picture(at=after)["notices"]}
        assert past["A-life"]["version"] == 2


def test_disclosure_of_volumes_only(server: Server) -> None:
    server.file("C", {"kind": "transit", "title": "secret title",
                      "volumes": [future_volume(30.0, 30.0)]}, notice="C-1")
    with server.client("A") as c:
        [n] = [n for n in c.picture()["notices"] if n["id"] == "C-1"]
        assert "title" not in n and n["redacted"] == ["title"]
        entries = c.entries(0, None, 1000)
        [e] = [e for e in entries if e.get("value", {}).get("event", {}).get("body", {})
               .get("notice") == "C-1"]
        assert "entry" not in e and "title" not in e["value"]["event"]["body"]
    with server.client("C") as c:
        [n] = [n for n in c.picture()["notices"] if n["id"] == "C-1"]
        assert n["title"] == "secret title"


def test_hotline_deadline_passes_and_escalates(server: Server) -> None:
    sent = server.send("A", "message", {"message": "A:HL-1", "to": ["B"], "text": "Confirm?",
                                        "ack_minutes": 0.02})
    verify(server, sent["receipt"])
    deadline = time.monotonic() + 15
    escalation = None
    while time.monotonic() < deadline and escalation is None:
        time.sleep(0.2)
        with server.client("B") as c:
            esc = [e for e in c.picture()["escalations"] if e["about"] == {"message": "A:HL-1"}]
        escalation = esc[0] if esc else None
    assert escalation is not None, "no escalation after the deadline passed"
    assert escalation["party"] == "B" and escalation["contact"] == "B duty general"
    assert escalation["priority"] == "urgent"
    with server.client("B") as c:
        [f] = [f for f in c.findings(open=True) if f["kind"] == "unacknowledged"
               and f["details"].get("message") == "A:HL-1"]
    with server.client("C") as c:  # not party to the exchange: sees none of it
        pic = c.picture()
        assert not [m for m in pic["messages"] if m["id"] == "A:HL-1"]
        assert not [e for e in pic["escalations"] if e["about"] == {"message": "A:HL-1"}]
        assert f["finding"] not in {x["finding"] for x in c.findings()}
    server.send("B", "message.ack", {"message": "A:HL-1"})  # late, but recorded
    with server.client("A") as c:
        [m] = [m for m in c.picture()["messages"] if m["id"] == "A:HL-1"]
        assert m["acks"] == ["B"]


def test_strike_notice_unacknowledged_escalates(server: Server) -> None:
    server.file("A", {"kind": "strike", "volumes": [future_volume(40.0, 40.0, minutes=120)]},
                notice="A-strike")
    deadline = time.monotonic() + 15
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline and len(found) < 2:
        time.sleep(0.2)
        with server.client("A") as c:
            found = [e for e in c.picture()["escalations"]
                     if e["about"].get("notice") == "A-strike"]
    assert sorted(e["party"] for e in found) == ["B", "C"]


def test_stream_resumes_without_gaps(server: Server) -> None:
    got: list[int] = []
    stop_after = 3

    def follow(last: int | None, n: int) -> None:
        with server.client("B") as c:
            for index, _, data in c.stream(last, timeout=10):
                assert data["index"] == index
                got.append(index)
                if len(got) >= n:
                    return

    start = server.size()
    t = threading.Thread(target=follow, args=(start - 1, stop_after))
    t.start()
    time.sleep(0.5)
    for i in range(6):
        server.file("B" if i % 2 else "A", {"kind": "transit",
                                            "volumes": [future_volume(50 + i, 10.0)]})
    t.join(timeout=20)
    assert len(got) == stop_after
    follow(got[-1], 6)  # resume: Last-Event-ID = the last index seen
    with server.client("B") as c:
        visible = [e["index"] for e in c.entries(start, None, 1000) if not e.get("hidden")]
    assert got == visible[:len(got)] and len(got) == len(set(got))


def test_refusals_are_problems_and_change_nothing(server: Server) -> None:
    size = server.size()
    bad_polygon = future_volume()
    bad_polygon["footprint"] = {"type": "Polygon", "coordinates": [[[1, 1], [2, 2], [2, 1],
                                                                     [1, 2], [1, 1]]]}
    with server.client("A") as c:
        with pytest.raises(InvalidGeometry) as geom:
            c.submit(server.sub("A", "notice.file", {"notice": "X1", "kind": "transit",
                                                     "volumes": [bad_polygon]}))
        assert geom.value.field and geom.value.status == 400
        good = server.sub("A", "notice.file", {"notice": "X2", "kind": "transit",
                                               "volumes": [future_volume(60, 60)]})
        forged = type(good)(event=good.event, sig=server.sub("B", "message", {}).sig)
        with pytest.raises(BadSignature):
            c.submit(forged)
        c.submit(good)
        with pytest.raises(ReplayedSeq):
            c.submit(good)
        with pytest.raises(LimitExceeded):
            c.submit(server.sub("A", "notice.file", {"notice": "X3", "kind": "transit",
                                                     "volumes": [future_volume()] * 9}))
    assert server.size() == size + 1
    r = httpx.post(server.url + "/v1/events", content=b"{not json",
                   headers={"Authorization": f"Bearer {server.tokens['A']}",
                            "Content-Type": "application/json"})
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
    big = httpx.post(server.url + "/v1/events", content=b"x" * (2 << 20),
                     headers={"Authorization": f"Bearer {server.tokens['A']}"})
    assert big.status_code == 413 and big.json()["type"].endswith("/limit-exceeded")
    assert server.size() == size + 1


def test_cli_talks_to_the_server(server: Server, tmp_path: Any) -> None:
    import json
    import subprocess
    import sys

    server.keys["A"].write(tmp_path / "A.key")
    (tmp_path / "n.json").write_text(json.dumps({"kind": "transit",
                                                 "volumes": [future_volume(70, 10)]}))
    base = [sys.executable, "-m", "accord", "--server", server.url, "--token",
            server.tokens["A"], "--log-key", server.log_key]
    filed = subprocess.run([*base, "notice", "file", str(tmp_path / "n.json"), "--key",
                            str(tmp_path / "A.key"), "--json"], capture_output=True, text=True,
                           timeout=60)
    assert filed.returncode == 0, filed.stderr
    index = json.loads(filed.stdout)["index"]
    # without the log's key (held by the party, never taken from the server) no write is sent
    size = server.size()
    keyless = subprocess.run([*base[:-2], "notice", "file", str(tmp_path / "n.json"), "--key",
                              str(tmp_path / "A.key")], capture_output=True, text=True,
                             timeout=60)
    assert keyless.returncode == 2 and "log's public key" in keyless.stderr
    assert server.size() == size
    pic = subprocess.run([*base, "picture", "--json"], capture_output=True, text=True,
                         timeout=60)
    assert pic.returncode == 0 and json.loads(pic.stdout)["party"] == "A"
    wrong = subprocess.run([sys.executable, "-m", "accord", "--server", server.url, "--token",
                            server.tokens["B"], "notice", "file", str(tmp_path / "n.json"),
                            "--key", str(tmp_path / "A.key")], capture_output=True, text=True,
                           timeout=60)
    assert wrong.returncode == 2 and "token is B's" in wrong.stderr
    rc = subprocess.run([*base, "log", "receipt", str(index)], capture_output=True, text=True,
                        timeout=60)
    assert json.loads(rc.stdout)["index"] == index and "entry" in json.loads(rc.stdout)


def test_rate_limit_per_party(tmp_path: Any) -> None:
    from api_support import make_deployment, start, stop

    keys, tokens = make_deployment(tmp_path / "dep", service="rate_per_second = 0.05\nburst = 3")
    s = start(tmp_path / "dep", keys, tokens)
    try:
        codes = [httpx.get(s.url + "/v1/me",
                           headers={"Authorization": f"Bearer {tokens['A']}"}).status_code
                 for _ in range(6)]
        assert codes[:3] == [200, 200, 200] and 429 in codes[3:]
        r = httpx.get(s.url + "/v1/me", headers={"Authorization": f"Bearer {tokens['A']}"})
        if r.status_code == 429:
            assert int(r.headers["Retry-After"]) >= 1
            assert r.json()["type"].endswith("/rate-limited")
        other = httpx.get(s.url + "/v1/me", headers={"Authorization": f"Bearer {tokens['B']}"})
        assert other.status_code == 200  # each party has its own bucket
    finally:
        assert stop(s) == 0


def test_control_and_bidi_text_is_refused_naming_the_field(server: Server) -> None:
    """Text that would clear a recipient's screen or reorder what it reads never enters the
    log: message text, notice titles, aircraft ids and callsigns."""
    import httpx as h

    size = server.size()
    cases = [
        ("message", {"message": "ESC-1", "text": "hello\x1b[2J"}, "event.body.text"),
        ("message", {"message": "ESC-2", "text": "pay \u202egnp.exe"}, "event.body.text"),
        ("message", {"message": "ESC-3", "text": "x", "ref": {"notice": "N\x1b"}},
         "event.body.ref.notice"),
        ("notice.file", {"notice": "ESC-N", "kind": "transit", "title": "t\x9b2J",
                         "volumes": [future_volume(60.0, 10.0)]}, "event.body.title"),
    ]
    for type, body, field in cases:
        sub = server.sub("A", type, body)
        r = h.post(server.url + "/v1/events", json={"event": sub.event, "sig": sub.sig},
                   headers={"Authorization": f"Bearer {server.tokens['A']}"})
        assert r.status_code == 400, r.text
        assert r.json()["field"] == field
    assert server.size() == size
    from accord.timefmt import SystemClock, format_time

    now = format_time(SystemClock().now())
    row = {"time": now, "lat": 10.0, "lon": 60.0, "alt_m": 3000, "gs_mps": 100, "trk_deg": 0}
    r = h.post(server.url + "/v1/tracks", headers={"Authorization":
                                                   f"Bearer {server.tokens['A']}"},
               json={"reports": [dict(row, aircraft="A\x1b]0;owned\x07"),
                                 dict(row, aircraft="A2", callsign="\u2067CS")]})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["accepted"] == 0, out
    assert [p["field"] for p in out["problems"]] == ["reports[0].aircraft",
                                                    "reports[1].callsign"]
