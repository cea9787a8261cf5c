"""Kill -9 the server while clients file over HTTP: every receipt a client got still verifies,
nothing receipted is lost, and nothing unreceipted is left half-written."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from typing import Any

import httpx
import pytest
from api_support import future_volume, make_deployment, start, stop

from accord import commands
from accord.client import Client
from accord.log.merkle import consistency_proof, verify_consistency
from accord.log.note import Checkpoint, NoteVerifier, open_note
from accord.log.receipt import Receipt, verify_receipt
from accord.service.deployment import Deployment
from accord.timefmt import SystemClock
from accord.verify import verify_store


@pytest.mark.parametrize("run", range(2))
def test_sigkill_under_concurrent_filing(tmp_path: Any, run: int) -> None:
    dir = tmp_path / "dep"
    keys, tokens = make_deployment(dir)
    server = start(dir, keys, tokens)
    receipts: list[dict[str, Any]] = []
    lock = threading.Lock()
    stop_flag = threading.Event()

    def client(party: str, seed: int) -> None:
        rnd = random.Random(seed)
        with Client(server.url, tokens[party], timeout=5) as c:
            context = c.context()
            while not stop_flag.is_set():
                doc = {"kind": "transit", "volumes": [future_volume(
                    rnd.uniform(-50, 50), rnd.uniform(-50, 50))]}
                body, _ = commands.notice_body(doc, party)
                sub = commands.signed(keys[party], "notice.file", context, SystemClock().now(),
                                      body)
                context = context.next()
                try:
                    out = c.submit(sub)
                except Exception:  # the server died mid-request: no receipt, no claim
                    return
                with lock:
                    receipts.append(out["receipt"])
                    receipts.extend(f["receipt"] for f in out["findings"])

    threads = [threading.Thread(target=client, args=(p, i)) for i, p in enumerate("ABC")]
    for t in threads:
        t.start()
    time.sleep(random.Random(run).uniform(1.0, 2.5))
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait()
    stop_flag.set()
    for t in threads:
        t.join(timeout=20)
    assert len(receipts) > 10, "the clients got too few receipts to test anything"

    deployment = Deployment.open(dir)
    store = deployment.store(readonly=True)
    report = verify_store(store, deployment.verifier_key)
    assert report.ok, report.problems  # nothing half-written
    verifier = NoteVerifier.parse(deployment.verifier_key)
    size, note = store.checkpoint()  # type: ignore[misc]
    latest = Checkpoint.parse(open_note(note, [verifier])[0])
    for rj in receipts:
        r = Receipt.from_json(rj)
        cp = verify_receipt(r, verifier)
        assert store.node(0, r.index) == r.leaf_hash  # the receipted entry is there, unchanged
        if cp.size < size:
            verify_consistency(cp.size, size, consistency_proof(store, cp.size, size), cp.root,
                               latest.root)
    store.close()
    # and the service comes back up on the recovered store
    again = start(dir, keys, tokens)
    try:
        assert httpx.get(again.url + "/readyz").json()["entries"] == size
    finally:
        assert stop(again) == 0
