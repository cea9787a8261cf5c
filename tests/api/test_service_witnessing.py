"""The service gets its checkpoints cosigned by the agreement's witnesses, in the background:
a party fetches the latest witnessed checkpoint and brings a receipt up to it, and a dead
witness neither blocks filings nor stops the quorum of the others."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import PARTIES, Server, future_volume, start, stop
from witness_support import RunningWitness, make_witness, serve_witness

from accord import commands
from accord.keys import PARTY_KEY, KeyFile
from accord.log.cosignature import verify_witnessed
from accord.log.note import NoteVerifier
from accord.rules.agreement import Agreement
from accord.service.deployment import Deployment
from accord.service.runtime import issue_token
from accord.service.writer import Writer
from accord.store.sqlite import SqliteStore
from accord.timefmt import SystemClock, parse_time
from support import agreement_doc


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("witnessed")
    dir = root / "dep"
    clock = SystemClock()
    d = Deployment.init(dir, "witnessed.test/log", clock)
    with (dir / "accord.toml").open("a") as fh:
        fh.write("\n[service]\nwitness_timeout_s = 30.0\n")
    ws = [make_witness(root / f"w{i}", f"witness.test/w{i}", d.verifier_key) for i in range(3)]
    keys = {p: KeyFile.generate(PARTY_KEY, p) for p in PARTIES}
    doc = agreement_doc(keys, witnesses={"quorum": 2, "list": [
        {"key": w.vkey, "url": w.url} for w in ws]})
    (root / "agreement.json").write_text(json.dumps(doc))
    store = SqliteStore(d.db_path)
    writer = Writer(store, d.signer(), clock)
    writer.submit(commands.signed_by_all(doc, keys.values(), clock.now(), d.origin))
    tokens = {p: issue_token(store, p, "test", clock) for p in PARTIES}
    store.close()
    server = start(dir, keys, tokens)
    yield {"root": root, "server": server, "witnesses": ws, "doc": doc}
    assert stop(server) == 0
    for w in ws:
        w.stop()


def accord(cwd: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "accord", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=120, env=dict(os.environ, COLUMNS="200"))
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def witnessed(server: Server) -> dict[str, Any]:
    r = httpx.get(server.url + "/v1/log/witnessed",
                  headers={"Authorization": f"Bearer {server.tokens['A']}"})
    return r.json() | {"status": r.status_code}


def wait_witnessed(server: Server, size: int, limit: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + limit
    while True:
        w = witnessed(server)
        if w["status"] == 200 and w["size"] >= size:
            return w
        assert time.monotonic() < deadline, f"not witnessed up to {size}: {w}"
        time.sleep(0.05)


def test_checkpoints_get_witnessed_and_verify(scene: dict[str, Any]) -> None:
    server: Server = scene["server"]
    for i in range(5):
        server.file("A", {"kind": "transit", "volumes": [future_volume(20.0 + i, 10.0)]})
    size = server.size()
    w = wait_witnessed(server, size, limit=5.0)
    policy = Agreement.from_json(scene["doc"]).witnesses
    assert policy is not None
    got = verify_witnessed(w["checkpoint"], NoteVerifier.parse(server.log_key), policy)
    assert got.checkpoint.size >= size and len(got.cosignatures) >= 2
    assert abs(got.no_later_than - time.time()) < 60


def test_receipt_brought_up_to_the_witnessed_checkpoint(scene: dict[str, Any]) -> None:
    server: Server = scene["server"]
    root: Path = scene["root"]
    answer = server.file("B", {"kind": "transit", "volumes": [future_volume(30.0, 10.0)]})
    index = answer["index"]
    (root / "old.json").write_text(json.dumps(answer["receipt"]))
    wait_witnessed(server, index + 1)
    remote = ("--server", server.url, "--token", server.tokens["B"], "--log-key",
              server.log_key)
    got = accord(root, *remote, "log", "receipt", str(index), "--witnessed",
                 "--since", "old.json", "--agreement", "agreement.json")
    assert "issued at" in got.stderr and "received at" in got.stderr
    assert "existed no later than" in got.stderr and "witness.test/w" in got.stderr
    (root / "witnessed.json").write_text(got.stdout)
    (root / "log.pub").write_text(server.log_key + "\n")
    ok = accord(root, "verify", "--receipt", "witnessed.json", "--key", "log.pub",
                "--witnessed", "--agreement", "agreement.json", "--json")
    shown = json.loads(ok.stdout)
    assert shown["index"] == index and len(shown["cosignatures"]) >= 2
    issued, received = parse_time(shown["issued_at"]), parse_time(shown["received_at"])
    assert issued <= received <= parse_time(shown["no_later_than"]) + timedelta(seconds=1)
    # the same receipt without its cosignatures is not witnessed
    rc = json.loads(got.stdout)
    rc["checkpoint"] = "\n".join(x for x in rc["checkpoint"].split("\n")
                                 if "witness.test" not in x)
    (root / "bare.json").write_text(json.dumps(rc))
    bad = accord(root, "verify", "--receipt", "bare.json", "--key", "log.pub", "--witnessed",
                 "--agreement", "agreement.json", ok=False)
    assert bad.returncode == 2 and "asks for 2" in bad.stderr


def test_a_hung_or_dead_witness_blocks_nothing(scene: dict[str, Any]) -> None:
    """w0 hangs (a socket that takes connections and never answers; the service waits up to
    30 s for a witness), w1 dies: each filing still takes its usual time, and w1 and w2 keep
    the quorum until w1 dies too."""
    server: Server = scene["server"]
    ws: list[RunningWitness] = scene["witnesses"]
    ws[0].kill()
    hole = socket.socket()
    hole.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    hole.bind(("127.0.0.1", int(ws[0].url.rsplit(":", 1)[1])))
    hole.listen(64)
    try:
        for i in range(10):
            t0 = time.monotonic()
            server.file("C", {"kind": "transit", "volumes": [future_volume(40.0 + i, 10.0)]})
            assert time.monotonic() - t0 < 10.0, "a filing waited for the hung witness"
        wait_witnessed(server, server.size(), limit=10.0)  # w1 and w2 are a quorum
        ws[1].kill()
        for i in range(10):
            t0 = time.monotonic()
            server.file("C", {"kind": "transit", "volumes": [future_volume(50.0 + i, 10.0)]})
            assert time.monotonic() - t0 < 10.0, "a filing waited for the witnesses"
        stuck = server.size()
        time.sleep(1.5)
        assert witnessed(server)["size"] < stuck  # one witness left: no quorum
    finally:
        hole.close()
    ws[0] = serve_witness(ws[0].dir, int(ws[0].url.rsplit(":", 1)[1]))
    ws[1] = serve_witness(ws[1].dir, int(ws[1].url.rsplit(":", 1)[1]))
    wait_witnessed(server, stuck, limit=60.0)  # back after their backoff and the hung request
