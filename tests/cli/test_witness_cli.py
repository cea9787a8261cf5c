"""`accord witness init | key | add-log | serve` as a user runs them."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from cli_support import accord

from accord.log.merkle import EMPTY_ROOT
from accord.log.note import Checkpoint, sign_note
from accord.service.deployment import Deployment
from accord.witness.protocol import AddCheckpoint


def test_init_key_add_log_and_serve(tmp_path: Path) -> None:
    accord(tmp_path, "init", "dep")
    made = accord(tmp_path, "witness", "init", "w", "--name", "witness.test/w1",
                  "--log-key", "dep/log.pub")
    vkey = accord(tmp_path, "witness", "key", "w").stdout.strip()
    assert vkey.startswith("witness.test/w1+") and vkey in made.stdout
    bad = accord(tmp_path, "witness", "init", "w2", "--name", "has space", ok=False)
    assert bad.returncode == 2 and "not a witness name" in bad.stderr
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) <= 3
    again = accord(tmp_path, "witness", "init", "w", "--name", "x/y", ok=False)
    assert again.returncode == 2 and "already exists" in again.stderr
    assert accord(tmp_path, "witness", "add-log", "w", "nonsense", ok=False).returncode == 2
    accord(tmp_path, "init", "dep2")
    assert "dep2" in accord(tmp_path, "witness", "add-log", "w", "dep2/log.pub").stdout
    p = subprocess.Popen([sys.executable, "-m", "accord", "witness", "serve", "w", "--port",
                          "0", "--log-level", "warning"], cwd=tmp_path,
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None
        line = p.stdout.readline()
        url = line.split(" on ")[1].split(" ")[0]
        d = Deployment.open(tmp_path / "dep")
        note = sign_note(Checkpoint(d.origin, 0, EMPTY_ROOT).body(), [d.signer()])
        r = httpx.post(url + "/add-checkpoint", content=AddCheckpoint(0, (), note).body())
        assert r.status_code == 200 and r.text.startswith("\u2014 witness.test/w1 ")
        origin_hash = hashlib.sha256(d.origin.encode()).hexdigest()
        assert httpx.get(f"{url}/{origin_hash}/checkpoint").text.startswith(note)
        assert httpx.get(f"{url}/{'0' * 64}/checkpoint").status_code == 404
        assert httpx.get(url + "/healthz").json()["witness"] == "witness.test/w1"
        assert httpx.post(url + "/add-checkpoint", content=b"x" * 100_000).status_code == 400
    finally:
        os.kill(p.pid, signal.SIGTERM)
        p.wait(10)
