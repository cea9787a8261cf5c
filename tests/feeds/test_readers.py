"""Feed readers: SBS-1 BaseStation lines and JSON lines into report rows."""

from __future__ import annotations

import json

import pytest

from accord.feeds.readers import FT, KT, Counts, SbsAssembler, jsonl_rows


def msg(kind: int, icao: str, t: str, **f: str) -> str:
    fields = ["MSG", str(kind), "1", "1", icao, "1", "2018/09/17", t, "2018/09/17", t,
              f.get("callsign", ""), f.get("alt", ""), f.get("gs", ""), f.get("trk", ""),
              f.get("lat", ""), f.get("lon", ""), f.get("vr", ""), "", "", "", "", "0"]
    return ",".join(fields)


def test_sbs_positions_join_velocity_and_callsign() -> None:
    counts = Counts()
    lines = [
        msg(3, "4CA2D6", "18:39:00.000", alt="25000", lat="35.50", lon="35.40"),  # no velocity
        msg(1, "4CA2D6", "18:39:00.500", callsign="RFF7075"),
        msg(4, "4CA2D6", "18:39:01.000", gs="300", trk="95.5", vr="-1200"),
        msg(3, "4CA2D6", "18:39:01.200", alt="25000", lat="35.51", lon="35.42"),
        "MSG,3,garbage",
        msg(3, "4CA2D6", "18:39:30.000", alt="25000", lat="35.6", lon="35.6"),  # velocity stale
        "",
    ]
    rows = list(SbsAssembler().rows(lines, counts))
    assert len(rows) == 1
    r = rows[0]
    assert r["aircraft"] == "4CA2D6" and r["callsign"] == "RFF7075"
    assert r["time"] == "2018-09-17T18:39:01.2Z"
    assert r["alt_m"] == pytest.approx(25000 * FT, abs=0.1)
    assert r["gs_mps"] == pytest.approx(300 * KT, abs=0.01) and r["trk_deg"] == 95.5
    assert r["vs_mps"] == pytest.approx(-1200 * FT / 60, abs=0.001)
    assert (counts.lines, counts.rows, counts.bad, counts.waiting) == (7, 1, 1, 2)


def test_sbs_bad_numbers_are_counted() -> None:
    counts = Counts()
    rows = list(SbsAssembler().rows([msg(4, "ABC123", "18:00:00.0", gs="fast", trk="1")],
                                    counts))
    assert rows == [] and counts.bad == 1


def test_jsonl_skips_unreadable_lines() -> None:
    counts = Counts()
    good = {"aircraft": "X", "time": "2030-01-01T00:00:00Z", "lat": 1, "lon": 2, "alt_m": 3,
            "gs_mps": 4, "trk_deg": 5}
    rows = list(jsonl_rows([json.dumps(good), "{bad", "[1,2]", "", json.dumps(good)], counts))
    assert rows == [good, good] and counts.bad == 2 and counts.lines == 5


def test_lines_from_a_tcp_feed() -> None:
    """A receiver's port-30003 style socket: lines as they come, until it closes."""
    import socket
    import threading

    from accord.feeds.readers import lines_from

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    lines = [msg(4, "ABC123", "18:00:00.000", gs="200", trk="90", vr="0"),
             msg(3, "ABC123", "18:00:00.500", alt="10000", lat="35.0", lon="35.0")]

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.sendall(("\r\n".join(lines) + "\r\n").encode())

    t = threading.Thread(target=serve)
    t.start()
    counts = Counts()
    rows = list(SbsAssembler().rows(lines_from(f"tcp://127.0.0.1:{port}"), counts))
    t.join()
    server.close()
    assert len(rows) == 1 and rows[0]["aircraft"] == "ABC123" and counts.lines == 2


def test_an_endless_line_is_cut_and_a_deep_one_counted_bad() -> None:
    import io

    from accord.feeds.readers import MAX_LINE, Counts, capped_lines, jsonl_rows

    endless = io.StringIO("x" * (3 * MAX_LINE + 5) + "\n" + '{"a": 1}\n')
    lines = list(capped_lines(endless))
    assert [len(x) for x in lines] == [MAX_LINE, 9]
    counts = Counts()
    rows = list(jsonl_rows(iter(["[" * 50_000 + "]" * 50_000 + "\n", *lines]), counts))
    assert rows == [{"a": 1}] and counts.lines == 3 and counts.bad == 2
