"""The real CLI, run as a user runs it, in a fresh folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import accord, deployment, js, notice_doc


@pytest.fixture(scope="module")
def dep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cwd = tmp_path_factory.mktemp("cli")
    deployment(cwd)
    return cwd


def test_file_check_picture_verify(dep: Path) -> None:
    (dep / "ru.json").write_text(json.dumps(notice_doc(35.0, minutes_ahead=30)))
    (dep / "il.json").write_text(json.dumps(notice_doc(35.05, "strike", minutes_ahead=5)))
    ru = js(dep, "notice", "file", "ru.json", "--key", "RU.key", "-d", "dep")
    assert ru["findings"] == [] and ru["receipt"]["index"] == ru["index"]
    check = js(dep, "notice", "check", "il.json", "--party", "IL", "-d", "dep")
    assert sorted(f["kind"] for f in check["findings"]) == ["conflict", "late_notice"]
    size_before = js(dep, "log", "checkpoint", "-d", "dep")["size"]
    assert size_before == 2  # the check filed nothing
    filed = accord(dep, "notice", "file", "il.json", "--key", "IL.key", "-d", "dep",
                   "--receipt", "il-receipt.json")
    assert "late_notice" in filed.stdout and "conflict" in filed.stdout
    pic = js(dep, "picture", "-d", "dep")
    assert len(pic["notices"]) == 2 and len(pic["findings"]) == 2
    assert {n["state"] for n in pic["notices"]} == {"filed"}
    geo = js(dep, "picture", "-d", "dep", "--geojson")  # --json is ignored with --geojson
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == 2
    past = js(dep, "picture", "-d", "dep", "--at", "2000-01-01T00:00:00Z")
    assert past["notices"] == [] and past["entries"] == 0
    out = accord(dep, "verify", "-d", "dep").stdout
    assert "OK" in out
    assert "OK" in accord(dep, "verify", "-d", "dep", "--receipt", "il-receipt.json").stdout


def test_receipt_tied_to_a_later_checkpoint(dep: Path) -> None:
    (dep / "x.json").write_text(json.dumps(notice_doc(39.0)))
    first = js(dep, "notice", "file", "x.json", "--key", "RU.key", "-d", "dep")
    (dep / "r.json").write_text(json.dumps(first["receipt"]))
    accord(dep, "notice", "file", "x.json", "--key", "RU.key", "-d", "dep")
    (dep / "cp.txt").write_text(accord(dep, "log", "checkpoint", "-d", "dep").stdout)
    later = js(dep, "log", "checkpoint", "-d", "dep")["size"]
    earlier = int(first["receipt"]["checkpoint"].split("\n")[1])
    need = accord(dep, "verify", "-d", "dep", "--receipt", "r.json", "--checkpoint", "cp.txt",
                  ok=False)
    assert need.returncode == 2 and "consistency" in need.stderr
    (dep / "c.json").write_text(accord(dep, "log", "consistency", str(earlier), str(later),
                                       "-d", "dep").stdout)
    done = accord(dep, "verify", "-d", "dep", "--receipt", "r.json", "--checkpoint", "cp.txt",
                  "--consistency", "c.json")
    assert f"size {later}" in done.stdout


def test_bad_notice_gets_problem_json_and_changes_nothing(dep: Path) -> None:
    doc = notice_doc(35.0)
    doc["volumes"][0]["footprint"] = {"type": "Polygon", "coordinates": [[[179.9, 1], [-179.9, 1],
                                                                         [-179.9, 2], [179.9, 1]]]}
    (dep / "bad.json").write_text(json.dumps(doc))
    size = js(dep, "log", "checkpoint", "-d", "dep")["size"]
    proc = accord(dep, "notice", "file", "bad.json", "--key", "IL.key", "-d", "dep", "--json",
                  ok=False)
    assert proc.returncode == 2
    problem = json.loads(proc.stdout)
    assert problem["type"].endswith("/invalid-geometry") and "antimeridian" in problem["detail"]
    assert problem["field"].startswith("event.body.volumes[0].footprint")
    plain = accord(dep, "notice", "file", "bad.json", "--key", "IL.key", "-d", "dep", ok=False)
    assert "Invalid geometry" in plain.stderr and "accepted:" in plain.stderr
    assert js(dep, "log", "checkpoint", "-d", "dep")["size"] == size


def test_wrong_key_for_party_is_refused(dep: Path) -> None:
    accord(dep, "keygen", "IL", "--out", "fake-il.key")
    (dep / "n.json").write_text(json.dumps(notice_doc(30.0)))
    proc = accord(dep, "notice", "file", "n.json", "--key", "fake-il.key", "-d", "dep", ok=False)
    assert proc.returncode == 2 and "Bad signature" in proc.stderr


def test_a_proposal_names_the_log_it_is_for(dep: Path) -> None:
    """An agreement proposal is signed for one log: -d reads its origin, --log names it away
    from the deployment; neither, or a --log that is not the deployment's, is refused."""
    none = accord(dep, "agreement", "propose", "agreement.toml", "-o", "p.json", ok=False)
    assert none.returncode == 2 and "names the log" in none.stdout + none.stderr
    other = accord(dep, "agreement", "propose", "agreement.toml", "-d", "dep", "--log",
                   "other.example/log", "-o", "p.json", ok=False)
    assert other.returncode == 2 and "cli.test/log" in other.stdout + other.stderr
    assert not (dep / "p.json").exists()
    amendment = js(dep, "agreement", "propose", "agreement.toml", "-d", "dep", "-o", "p.json")
    assert amendment["event"]["log"] == "cli.test/log" and amendment["event"]["v"] == 2
    assert amendment["event"]["agreement"] == amendment["event"]["body"]["replaces"]


def test_help_lists_every_command(tmp_path: Path) -> None:
    out = accord(tmp_path, "--help").stdout
    for cmd in ("init", "keygen", "agreement", "notice", "picture", "log", "verify", "demo"):
        assert cmd in out


def test_demo_runs_and_verifies(tmp_path: Path) -> None:
    proc = accord(tmp_path, "demo", "--dir", str(tmp_path / "demo"))
    text = proc.stdout
    assert "late_notice" in text and "conflict" in text and "Demo complete" in text
    assert "hazard level 1" in text and "hazard-entry alert fired at 18:44:00" in text
    assert "verifies offline" in text
    assert (tmp_path / "demo" / "as-it-happened" / "accord.db").exists()
    flat = " ".join(text.split())
    assert "IL-STRIKE-0917 received 18:39:00 UTC by the operator, issued by IL at" in flat
    assert "cosigned by RU's own witness (witness.ru.example/latakia) no later than 18:39:01" \
        in flat
    bundle = tmp_path / "demo" / "as-it-happened" / "IL-STRIKE-0917.evidence.json"
    got = accord(tmp_path, "verify", "--bundle", str(bundle))
    said = " ".join(got.stdout.split())
    assert got.returncode == 0 and "as RU reads log" in said
    assert "cosigned by witness.ru.example/latakia at 2018-09-17T18:39:01Z" in said
    pic = js(tmp_path, "picture", "-d", str(tmp_path / "demo" / "ru-mirror"), "--at",
             "2018-09-17T18:45:00Z")
    assert pic["party"] == "RU" and "IL-STRIKE-0917" in {n["id"] for n in pic["notices"]}


def test_demo_over_the_network(tmp_path: Path) -> None:
    proc = accord(tmp_path, "demo", "--serve")
    text = proc.stdout
    for want in ("files IL-STRIKE-0917 over HTTP", "late_notice", "conflict", "hotline to RU",
                 "receives the message on its live stream", "unacknowledged", "escalation",
                 "Hmeimim duty general", "verifies offline", "Demo complete"):
        assert want in text, want


def test_watch_prints_the_stream(tmp_path: Path) -> None:
    import time

    assert accord(tmp_path, "demo", "--dir", str(tmp_path / "d")).returncode == 0
    dep = tmp_path / "d" / "as-it-happened"
    token = js(tmp_path, "party", "token", "RU", "-d", str(dep))["token"]
    server = subprocess.Popen([sys.executable, "-m", "accord", "serve", str(dep), "--port", "0",
                               "--log-level", "warning"], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip().rsplit(" ", 1)[-1]
        time.sleep(0.5)
        watch = subprocess.Popen([sys.executable, "-m", "accord", "--server", url, "--token",
                                  token, "watch", "--json"], stdout=subprocess.PIPE, text=True)
        assert watch.stdout is not None
        lines = [json.loads(watch.stdout.readline()) for _ in range(5)]
        watch.terminate()
        assert [x["index"] for x in lines] == [0, 1, 2, 3, 4]
        assert lines[3]["value"]["event"]["body"]["kind"] == "late_notice"
        refused = accord(tmp_path, "watch", ok=False)
        assert refused.returncode == 2 and "--server" in refused.stderr
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_findings_entries_and_area_filter(dep: Path) -> None:
    (dep / "f1.json").write_text(json.dumps(notice_doc(20.0)))
    (dep / "f2.json").write_text(json.dumps(notice_doc(20.01)))
    js(dep, "notice", "file", "f1.json", "--key", "IL.key", "-d", "dep")
    js(dep, "notice", "file", "f2.json", "--key", "RU.key", "-d", "dep")
    found = js(dep, "findings", "-d", "dep")
    assert found and all({"finding", "kind", "parties"} <= set(f) for f in found)
    lines = accord(dep, "log", "entries", "0", "3", "-d", "dep").stdout.splitlines()
    assert [json.loads(x)["index"] for x in lines] == [0, 1, 2]
    everywhere = js(dep, "picture", "-d", "dep")
    nowhere = js(dep, "picture", "-d", "dep", "--bbox", "-10,-10,-9,-9")
    assert everywhere["notices"] and nowhere["notices"] == []
    bad = accord(dep, "picture", "-d", "dep", "--bbox", "1,2,3", ok=False)
    assert bad.returncode == 2 and "bbox" in bad.stderr


def test_a_receipt_proves_the_receive_time_and_tampering_fails(dep: Path) -> None:
    import base64
    import hashlib

    (dep / "rt.json").write_text(json.dumps(notice_doc(41.0)))
    filed = accord(dep, "notice", "file", "rt.json", "--key", "RU.key", "-d", "dep",
                   "--receipt", "rt-receipt.json")
    rc = json.loads((dep / "rt-receipt.json").read_text())
    entry = base64.b64decode(rc["entry"])
    received = json.loads(entry)["received_at"]
    assert f"receipt proved: entry {rc['index']} received {received}" in filed.stdout
    ok = accord(dep, "verify", "--receipt", "rt-receipt.json", "--key", "dep/log.pub")
    assert ok.stdout.startswith("OK ") and received in ok.stdout
    assert f"entry {rc['index']} (RU notice.file" in ok.stdout and "size" in ok.stdout
    proved = js(dep, "verify", "--receipt", "rt-receipt.json", "--key", "dep/log.pub")
    assert (proved["received_at"], proved["party"], proved["type"]) == (received, "RU",
                                                                       "notice.file")
    # `log entry` writes the very bytes the leaf hash is the hash of
    accord(dep, "log", "entry", str(rc["index"]), "-d", "dep", "-o", "entry.bin")
    raw = (dep / "entry.bin").read_bytes()
    assert raw == entry and not raw.endswith(b"\n")
    assert hashlib.sha256(b"\0" + raw).digest() == base64.b64decode(rc["leaf_hash"])
    assert accord(dep, "log", "entry", str(rc["index"]), "-d", "dep").stdout == raw.decode()

    def refused(bad: dict[str, object], *extra: str) -> str:
        (dep / "bad.json").write_text(json.dumps(bad))
        proc = accord(dep, "verify", "--receipt", "bad.json", "--key", "dep/log.pub", *extra,
                      ok=False)
        assert proc.returncode == 2 and "OK" not in proc.stdout, proc.stdout
        assert "Traceback" not in proc.stderr and proc.stderr.startswith("error ")
        return proc.stderr

    earlier = entry.replace(received.encode(), b"2000-01-01T00:00:00.000000Z")
    assert "does not hash to the receipt's leaf_hash" in refused(
        dict(rc, entry=base64.b64encode(earlier).decode()))
    other = js(dep, "log", "receipt", "0", "-d", "dep")
    assert "inclusion proof does not lead" in refused(
        dict(rc, leaf_hash=other["leaf_hash"], entry=other["entry"]))
    body, sig = rc["checkpoint"].split("\n\n")
    name, value = sig.rstrip("\n").rsplit(" ", 1)
    flipped = bytearray(base64.b64decode(value))
    flipped[-1] ^= 1
    bad_sig = f"{body}\n\n{name} {base64.b64encode(bytes(flipped)).decode()}\n"
    assert "checkpoint does not verify with the log key" in refused(dict(rc, checkpoint=bad_sig))
    without = {k: v for k, v in rc.items() if k != "entry"}
    assert "carries no entry" in refused(without)
    (dep / "bare.json").write_text(json.dumps(without))
    with_entry = accord(dep, "verify", "--receipt", "bare.json", "--key", "dep/log.pub",
                        "--entry", "entry.bin")
    assert received in with_entry.stdout


def test_a_checkpoint_not_signed_by_the_log_key_is_refused(tmp_path: Path) -> None:
    import sqlite3

    dep = deployment(tmp_path)
    note = accord(tmp_path, "log", "checkpoint", "-d", "dep").stdout
    body, sig = note.split("\n\n")
    forged = body.replace("\n1\n", "\n2\n", 1) + "\n\n" + sig  # another size, same signature
    db = sqlite3.connect(dep / "accord.db")
    db.execute("UPDATE checkpoints SET note = ? WHERE size = 1", (forged,))
    db.commit()
    db.close()
    bad = accord(tmp_path, "log", "checkpoint", "-d", "dep", ok=False)
    assert bad.returncode == 2 and bad.stdout == ""
    assert "checkpoint does not verify with the log key cli.test/log" in bad.stderr
