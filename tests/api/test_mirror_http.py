"""`accord mirror` against real servers: a first run needs the log key, `--once` exits 0 when
everything verifies and 1 on an alarm (a second server under the same log key serving another
history), the evidence file is a fork proof, and `accord picture -d MIRROR` shows the party's
picture from its copy with the server stopped."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from api_support import future_volume, make_deployment, start, stop

from accord.mirror.fork import Fork


def accord(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess; its stderr with Rich's line wrapping undone."""
    got = subprocess.run([sys.executable, "-m", "accord", *args], capture_output=True,
                         text=True, timeout=120)
    got.stderr = " ".join(got.stderr.split())
    return got


def test_mirror_once_picture_offline_and_the_fork_alarm(tmp_path: Path) -> None:
    dep = tmp_path / "dep"
    keys, tokens = make_deployment(dep)
    copy = tmp_path / "dep2"
    shutil.copytree(dep, copy)  # one log key, two stores: the operator's second history
    s = start(dep, keys, tokens)
    s2 = None
    try:
        filed = s.file("A", {"notice": "A-1", "kind": "transit", "title": "A's",
                             "volumes": [future_volume()]})
        (tmp_path / "rc.json").write_text(json.dumps(filed["receipt"]))
        s.file("C", {"notice": "C-1", "kind": "transit", "title": "secret",
                     "volumes": [future_volume(36.0, 36.0)]})
        m = tmp_path / "mirror-a"
        got = accord("mirror", str(m), "--server", s.url, "--token", tokens["A"], "--once")
        assert got.returncode == 2 and "needs the log's key" in got.stderr
        got = accord("mirror", str(m), "--server", s.url, "--token", tokens["A"], "--once",
                     "--log-key", str(dep / "log.pub"), "--receipt", str(tmp_path / "rc.json"))
        assert got.returncode == 0, got.stderr
        assert "size 3 (+3), verified" in got.stdout
        assert "(entry 1) is in A's copy of the log" in " ".join(got.stdout.split())
        got = accord("mirror", str(m), "--token", tokens["B"], "--once")
        assert got.returncode == 2 and "holds A's copy" in got.stderr
    finally:
        assert stop(s) == 0
    # The operator is down: the party's picture from its own copy.
    got = accord("picture", "-d", str(m), "--json")
    assert got.returncode == 0, got.stderr
    pic = json.loads(got.stdout)
    assert pic["party"] == "A" and {n["id"] for n in pic["notices"]} == {"A-1", "C-1"}
    assert next(n for n in pic["notices"] if n["id"] == "C-1")["redacted"] == ["title"]
    # Evidence from the mirror, checked offline; a byte changed fails.
    got = accord("evidence", "A-1", "-d", str(m), "-o", str(tmp_path / "a1.json"),
                 "--utc-offset", "+03:00")
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "a1.html").read_text().startswith("<!DOCTYPE html>")
    got = accord("verify", "--bundle", str(tmp_path / "a1.json"), "--key", str(dep / "log.pub"))
    assert got.returncode == 0 and "notice.file by A: issued" in got.stdout, got.stderr
    raw = bytearray((tmp_path / "a1.json").read_bytes())
    raw[len(raw) // 2] ^= 1
    (tmp_path / "bad.json").write_bytes(bytes(raw))
    got = accord("verify", "--bundle", str(tmp_path / "bad.json"))
    assert got.returncode == 2 and "Proof" in got.stderr, got.stderr
    keys["A"].write(tmp_path / "a.key")
    got = accord("notice", "cancel", "A-1", "-k", str(tmp_path / "a.key"), "-d", str(m))
    assert got.returncode == 2 and "read-only" in got.stderr

    s2 = start(copy, keys, tokens)
    try:
        s2.file("B", {"notice": "B-9", "kind": "transit", "volumes": [future_volume(34, 34)]})
        s2.file("B", {"notice": "B-10", "kind": "transit", "volumes": [future_volume(34, 33)]})
        got = accord("mirror", str(m), "--server", s2.url, "--token", tokens["A"], "--once")
        assert got.returncode == 1, got.stdout + got.stderr
        assert "ALARM equivocation" in got.stderr
        [evidence] = (m / "alarms").glob("*-equivocation.json")
        Fork.from_json(json.loads(evidence.read_text())).check()
        got = accord("verify", "--fork", str(evidence))
        assert got.returncode == 0 and "forked" in got.stdout, got.stderr
        # The same proof as `accord verify --equivocation A B --consistency C` takes it.
        base = str(evidence).removesuffix(".json")
        a, b = Path(base + ".a.checkpoint").read_text(), Path(base + ".b.checkpoint").read_text()
        assert not Path(base + ".consistency.json").exists()  # same size: none needed
        Fork(s.log_key, a, b).check()
    finally:
        assert stop(s2) == 0


def test_entries_not_addressed_to_a_party_are_leaf_hashes_only(tmp_path: Path) -> None:
    """What a mirror reads of other parties' traffic: index and leaf hash, nothing else; a
    title withheld by disclosure never appears, not even in the entry's bytes."""
    import base64

    from accord.log.merkle import leaf_hash

    dep = tmp_path / "dep"
    keys, tokens = make_deployment(dep)
    s = start(dep, keys, tokens)
    try:
        s.send("B", "message", {"message": "B:b-to-c", "text": "SECRET between B and C",
                                "to": ["C"]})
        s.send("C", "message.ack", {"message": "B:b-to-c"})
        s.file("C", {"notice": "C-1", "kind": "transit", "title": "SECRET title",
                     "volumes": [future_volume(36.0, 36.0)]})
        with s.client("A") as a, s.client("C") as c:
            mine = a.entries(0, None, 1000)
            theirs = c.entries(0, None, 1000)
    finally:
        assert stop(s) == 0
    assert len(mine) == len(theirs) >= 4
    hidden = [r for r in mine if r.get("hidden")]
    assert len(hidden) == 2
    for row in hidden:
        assert set(row) == {"index", "leaf_hash", "hidden"}
        full = theirs[row["index"]]["entry"]  # C reads it: the hash is of those bytes
        assert base64.b64decode(row["leaf_hash"]) == leaf_hash(full.encode())
    text = json.dumps(mine)
    assert "SECRET" not in text
    [redacted] = [r for r in mine if r.get("redacted")]
    assert "entry" not in redacted and "title" not in redacted["value"]["event"]["body"]
