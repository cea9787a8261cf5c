"""Live tracks over HTTP: an SBS-1 feed through the CLI raises a hazard-entry alert that the
parties concerned see on their streams, and only they."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from api_support import Server

from accord.tactical.engine import EARTH_R
from accord.timefmt import SystemClock, format_time


def sbs(kind: int, icao: str, when: datetime, **f: Any) -> str:
    d, t = when.strftime("%Y/%m/%d"), when.strftime("%H:%M:%S.%f")[:-3]
    fields = ["MSG", str(kind), "1", "1", icao, "1", d, t, d, t, f.get("callsign", ""),
              str(f.get("alt", "")), str(f.get("gs", "")), str(f.get("trk", "")),
              str(f.get("lat", "")), str(f.get("lon", "")), str(f.get("vr", "")), "", "", "",
              "", "0"]
    return ",".join(fields)


def test_feed_raises_a_hazard_alert_seen_by_the_parties(server: Server, tmp_path: Any) -> None:
    now = SystemClock().now()
    window = {"start": format_time(now - timedelta(minutes=1)),
              "end": format_time(now + timedelta(hours=1))}
    hazard = {"footprint": {"type": "Circle", "center": [10.0, 45.0],
                            "radius": {"value": 5, "units": "km"}},
              "altitude": {"lower": 0, "upper": 12000, "units": "m", "reference": "AMSL"},
              **window}
    server.file("B", {"kind": "strike", "volumes": [hazard]}, notice="B-HZ")
    own = dict(hazard, footprint={"type": "Circle", "center": [9.6, 45.0],
                                  "radius": {"value": 30, "units": "km"}})
    server.file("A", {"kind": "transit", "volumes": [own]}, notice="A-OWN-TRK")
    # A's aircraft 25 km west of the hazard's edge, heading east at 250 kt
    lon = 10.0 - math.degrees(30000 / (EARTH_R * math.cos(math.radians(45.0))))
    now = datetime.now(UTC)
    lines = [sbs(1, "ABC123", now, callsign="ALPHA1"),
             sbs(4, "ABC123", now, gs=250, trk=90, vr=0),
             sbs(3, "ABC123", now + timedelta(milliseconds=100), alt=16000, lat=45.0, lon=lon),
             "MSG,3,broken line"]
    (tmp_path / "feed.sbs").write_text("\n".join(lines) + "\n")
    fed = subprocess.run([sys.executable, "-m", "accord", "--server", server.url, "--token",
                          server.tokens["A"], "tracks", "feed", str(tmp_path / "feed.sbs"),
                          "--format", "sbs", "--json"], capture_output=True, text=True,
                         timeout=60)
    assert fed.returncode == 0, fed.stderr
    summary = json.loads(fed.stdout)
    assert summary["accepted"] == 1 and summary["bad_lines"] == 1
    deadline = time.monotonic() + 10
    mine: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not mine:
        time.sleep(0.3)
        with server.client("A") as c:
            mine = [a for a in c.alerts(open=True) if a["kind"] == "hazard"
                    and a["details"]["notice"] == "B-HZ"]
    assert mine, "no hazard alert within 10 s"
    alert = mine[0]
    assert alert["parties"] == ["A", "B"] and alert["details"]["aircraft"] == "A/ABC123"
    assert 150 < alert["details"]["time_to_entry_s"] < 260
    assert alert["samples"][0]["aircraft"] == "A/ABC123"
    with server.client("B") as c:
        assert any(a["alert"] == alert["alert"] for a in c.alerts())
    with server.client("C") as c:
        assert not any(a["alert"] == alert["alert"] for a in c.alerts())
        entries = c.entries(alert["entry"], alert["entry"] + 1)
        assert entries[0].get("hidden") is True
    # GET /v1/tracks: A sees its own aircraft; B (concerned by the alert) sees it too, as the
    # alert's samples already show it; C, not concerned, sees nothing of it.
    def tracks(party: str) -> list[dict[str, Any]]:
        r = httpx.get(server.url + "/v1/tracks",
                      headers={"Authorization": f"Bearer {server.tokens[party]}"})
        assert r.status_code == 200
        return list(r.json()["tracks"])

    [a_own] = [t for t in tracks("A") if t["aircraft"] == "ABC123"]
    assert a_own["party"] == "A" and a_own["callsign"] == "ALPHA1"
    assert [t["aircraft"] for t in tracks("B") if t["party"] == "A"] == ["ABC123"]
    assert not [t for t in tracks("C") if t["party"] == "A"]
    cli = subprocess.run([sys.executable, "-m", "accord", "--server", server.url, "--token",
                          server.tokens["A"], "alerts", "--open"], capture_output=True,
                         text=True, timeout=60, env={"COLUMNS": "200", "PATH": ""})
    assert cli.returncode == 0 and alert["alert"] in cli.stdout and "B-HZ" in cli.stdout


def full_row(aircraft: str, when: datetime) -> dict[str, Any]:
    """A row as large as the feeds make them: every field, times to the microsecond."""
    return {"aircraft": aircraft, "time": format_time(when, micro=True), "lat": -35.123456,
            "lon": -179.654321, "alt_m": 10668.25, "gs_mps": 257.22, "trk_deg": 359.99,
            "vs_mps": -12.345, "callsign": "SWR123AB", "reference": "AMSL"}


def test_tracks_need_a_credential_and_bound_the_batch(server: Server) -> None:
    from accord.service.runtime import ServiceConfig
    from accord.service.tactical import MAX_REPORTS

    assert httpx.post(server.url + "/v1/tracks", json={"reports": []}).status_code == 401
    auth = {"Authorization": f"Bearer {server.tokens['A']}",
            "Content-Type": "application/json"}
    limit = ServiceConfig().max_body_bytes
    # The row cap is reachable within the body limit: MAX_REPORTS full rows fit, with room
    now = SystemClock().now()
    rows = [full_row(f"{i:08X}", now) for i in range(MAX_REPORTS)]
    body = json.dumps({"reports": rows}).encode()
    assert len(body) <= limit and len(body) / MAX_REPORTS > 220
    r = httpx.post(server.url + "/v1/tracks", content=body, headers=auth, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == MAX_REPORTS and r.json()["rejected"] == 0
    # one row more is refused whole, with a problem that says the cap
    over = json.dumps({"reports": [{}] * (MAX_REPORTS + 1)}).encode()
    r = httpx.post(server.url + "/v1/tracks", content=over, headers=auth)
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["field"] == "reports" and str(MAX_REPORTS) in r.json()["detail"]
    # and a body over the limit is refused before it is parsed
    padded = body[:-2] + b"," + json.dumps([full_row("PAD", now)] * 600).encode()[1:] + b"}"
    assert len(padded) > limit
    r = httpx.post(server.url + "/v1/tracks", content=padded, headers=auth)
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"


def test_bad_numbers_in_rows_are_refused_per_row_never_fatal(server: Server) -> None:
    auth = {"Authorization": f"Bearer {server.tokens['A']}",
            "Content-Type": "application/json"}
    now = SystemClock().now()
    ok = json.dumps(full_row("OK1", now))
    rows = [ok,
            ok.replace('"lat": -35.123456', '"lat": ' + "9" * 400).replace("OK1", "BIG"),
            ok.replace('"alt_m": 10668.25', '"alt_m": true').replace("OK1", "TRUE"),
            ok.replace('"gs_mps": 257.22', '"gs_mps": 1e999').replace("OK1", "INF"),
            ok.replace('"trk_deg": 359.99', '"trk_deg": NaN').replace("OK1", "NAN"),
            ok.replace("OK1", "OK2")]
    r = httpx.post(server.url + "/v1/tracks", headers=auth,
                   content="{" + '"reports": [' + ",".join(rows) + "]}")
    assert r.status_code in (200, 400), r.text  # a parser may refuse NaN for the whole body
    if r.status_code == 400:  # then without the NaN row, the rest must be taken per row
        assert r.headers["content-type"] == "application/problem+json"
        del rows[4]
        r = httpx.post(server.url + "/v1/tracks", headers=auth,
                       content="{" + '"reports": [' + ",".join(rows) + "]}")
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["accepted"] == 2 and got["rejected"] == len(rows) - 2
    fields = [p["field"] for p in got["problems"]]
    assert fields[:3] == ["reports[1].lat", "reports[2].alt_m", "reports[3].gs_mps"]
    assert all(p["status"] == 400 for p in got["problems"])
    # past Python's 4,300-digit limit the body cannot be parsed at all: a clear 400, no 500
    r = httpx.post(server.url + "/v1/tracks", headers=auth,
                   content='{"reports": [' + rows[1].replace("9" * 400, "9" * 5000) + "]}")
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
