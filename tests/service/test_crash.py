"""Kill -9 under load: every receipt handed out must still verify against the recovered log."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from accord.log.merkle import consistency_proof, verify_consistency
from accord.log.note import Checkpoint, NoteVerifier, open_note
from accord.log.receipt import Receipt, verify_receipt
from accord.service.deployment import Deployment
from accord.timefmt import SystemClock
from accord.verify import verify_store
from support import make_world

CHILD = Path(__file__).with_name("crash_child.py")


@pytest.mark.parametrize("run", range(3))
def test_sigkill_loses_no_receipted_entry(tmp_path: Path, run: int) -> None:
    w = make_world(tmp_path / "dep", start=SystemClock().now())
    for party, key in w.keys.items():
        key.write(w.dir / f"{party}.key")
    w.writer.store.close()
    proc = subprocess.Popen([sys.executable, str(CHILD), str(w.dir)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    kill_after = random.Random(run).randint(20, 400)  # receipts seen before the kill
    while len(lines) < kill_after and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    lines += proc.stdout.read().splitlines(keepends=True)  # what it printed before dying
    receipts = [Receipt.from_json(json.loads(x)) for x in lines if x.endswith("\n")]
    assert len(receipts) >= kill_after, proc.stderr.read() if proc.stderr else ""

    deployment = Deployment.open(w.dir)
    store = deployment.store()
    report = verify_store(store, deployment.verifier_key)
    assert report.ok, report.problems
    verifier = NoteVerifier.parse(deployment.verifier_key)
    latest_size, latest_note = store.checkpoint()  # type: ignore[misc]
    latest = Checkpoint.parse(open_note(latest_note, [verifier])[0])
    for r in receipts:
        cp = verify_receipt(r, verifier)
        assert store.node(0, r.index) == r.leaf_hash  # the receipted entry survived as it was
        assert cp.size <= latest_size
        if cp.size < latest_size:  # and the log only grew from the checkpoint it was given
            proof = consistency_proof(store, cp.size, latest_size)
            verify_consistency(cp.size, latest_size, proof, cp.root, latest.root)
    store.close()
    # And the operator's own tool agrees, as a user would run it after the restart.
    cli = subprocess.run([sys.executable, "-m", "accord", "verify", "-d", str(w.dir)],
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0 and "OK" in cli.stdout, cli.stdout + cli.stderr
