"""A malicious operator: two stores under one log key show two parties two different histories.

One copy of the deployment serves party A, another serves party B; each is a real
`accord serve` submitting its checkpoints to the same two witnesses (one per party). The
witnesses cosign the first history and refuse the second; the second service's checkpoints are
never witnessed; a witness's refusal and the second log's own answers make a proof of
equivocation that `accord verify --equivocation` accepts. Restoring an older copy of the store
(a rollback) is refused by the witnesses the same way.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
from api_support import PARTIES, Server, future_volume, start, stop
from witness_support import make_witness

from accord import commands
from accord.keys import PARTY_KEY, KeyFile
from accord.log.cosignature import verify_witnessed
from accord.log.note import NoteVerifier
from accord.rules.agreement import Agreement
from accord.service.deployment import Deployment
from accord.service.runtime import issue_token
from accord.service.writer import Writer
from accord.store.sqlite import SqliteStore
from accord.timefmt import SystemClock
from accord.witness.folder import WitnessFolder
from support import agreement_doc


def accord(cwd: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "accord", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=120, env=dict(os.environ, COLUMNS="200"))
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def get(server: Server, path: str, **params: int) -> httpx.Response:
    return httpx.get(server.url + path, params=params,
                     headers={"Authorization": f"Bearer {server.tokens['A']}"}, timeout=10)


def witnessed_size(server: Server) -> int:
    r = get(server, "/v1/log/witnessed")
    return int(r.json()["size"]) if r.status_code == 200 else 0


def wait_for(cond: object, limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_two_histories_are_refused_and_proved(tmp_path: Path) -> None:
    clock = SystemClock()
    d = Deployment.init(tmp_path / "dep", "evil.test/log", clock)
    wa = make_witness(tmp_path / "wA", "witness.a.test/w", d.verifier_key)
    wb = make_witness(tmp_path / "wB", "witness.b.test/w", d.verifier_key)
    keys = {p: KeyFile.generate(PARTY_KEY, p) for p in PARTIES}
    doc = agreement_doc(keys, witnesses={"quorum": 2, "list": [
        {"key": wa.vkey, "url": wa.url}, {"key": wb.vkey, "url": wb.url}]})
    policy = Agreement.from_json(doc).witnesses
    assert policy is not None
    store = SqliteStore(d.db_path)
    Writer(store, d.signer(), clock).submit(
        commands.signed_by_all(doc, keys.values(), clock.now(), d.origin))
    tokens = {p: issue_token(store, p, "test", clock) for p in PARTIES}
    store.close()
    # the operator keeps copies of the store: one to show B another history, one to roll back
    shutil.copytree(tmp_path / "dep", tmp_path / "fork")
    shutil.copytree(tmp_path / "dep", tmp_path / "old")
    log_key = NoteVerifier.parse(d.verifier_key)
    (tmp_path / "log.pub").write_text(d.verifier_key + "\n")
    honest = start(tmp_path / "dep", keys, tokens)
    forked: Server | None = None
    old: Server | None = None
    try:
        # history 1, which A sees: witnessed by both witnesses
        for i in range(3):
            honest.file("A", {"kind": "transit", "volumes": [future_volume(20.0 + i, 5.0)]})
        n1 = honest.size()
        wait_for(lambda: witnessed_size(honest) >= n1, 15, "history 1 was not witnessed")
        w1 = verify_witnessed(get(honest, "/v1/log/witnessed").json()["checkpoint"], log_key,
                              policy)
        # history 2, which B sees: the same log key, other entries
        forked = start(tmp_path / "fork", keys, tokens)
        for i in range(5):
            forked.file("B", {"kind": "transit", "volumes": [future_volume(30.0 + i, 5.0)]})
        n2 = forked.size()
        assert n2 > n1
        # both witnesses refuse it: they keep the refused checkpoint as evidence
        for w in (wa, wb):
            wait_for(lambda w=w: WitnessFolder.open(w.dir).state().evidence(d.origin), 15,
                     f"{w.name} kept no evidence of the second history")
        time.sleep(1.0)
        assert witnessed_size(forked) < n2, "a witness cosigned the second history"
        assert get(forked, "/v1/log/witnessed").status_code == 404
        shown = json.loads(accord(tmp_path, "witness", "evidence", str(wa.dir)).stdout)
        [mine] = shown
        assert mine["cosigned"].startswith(w1.note.split("\n\n")[0])
        refused = mine["refused"][-1]
        assert "consistency" in refused["reason"] or "forked" in refused["reason"] or \
            "root" in refused["reason"]
        # the proof of equivocation: A's witnessed checkpoint, the refused one, and the
        # forked log's own consistency proof between their sizes
        (tmp_path / "a.note").write_text(mine["cosigned"])
        (tmp_path / "b.note").write_text(refused["note"])
        b_size = int(refused["note"].split("\n")[1])
        proof = get(forked, "/v1/log/consistency", size1=n1, size2=b_size).json()
        (tmp_path / "c.json").write_text(json.dumps(proof))
        ok = accord(tmp_path, "verify", "--equivocation", "a.note", "b.note",
                    "--consistency", "c.json", "--key", "log.pub")
        assert "EQUIVOCATION PROVED" in ok.stdout
        # one checkpoint twice proves nothing
        bad = accord(tmp_path, "verify", "--equivocation", "a.note", "a.note", "--key",
                     "log.pub", ok=False)
        assert bad.returncode == 2 and "agree" in bad.stderr
        stop(forked)
        forked = None
        # a rollback: the operator restores the store as it was before history 1
        stop(honest)
        honest = None  # type: ignore[assignment]
        before = {w.name: WitnessFolder.open(w.dir).state().latest(d.origin) for w in (wa, wb)}
        old = start(tmp_path / "old", keys, tokens)
        for i in range(2):
            old.file("C", {"kind": "transit", "volumes": [future_volume(40.0 + i, 5.0)]})
        time.sleep(2.0)
        assert witnessed_size(old) == 0
        for w in (wa, wb):
            assert WitnessFolder.open(w.dir).state().latest(d.origin) == before[w.name]
    finally:
        for s in (honest, forked, old):
            if s is not None:
                stop(s)
        wa.stop()
        wb.stop()


def test_same_size_different_roots_is_proof_alone(tmp_path: Path) -> None:
    from accord.log.note import Checkpoint, NoteSigner, sign_note

    log = NoteSigner.generate("evil.test/log")
    (tmp_path / "log.pub").write_text(log.verifier_key + "\n")
    (tmp_path / "a").write_text(sign_note(Checkpoint(log.name, 7, b"a" * 32).body(), [log]))
    (tmp_path / "b").write_text(sign_note(Checkpoint(log.name, 7, b"b" * 32).body(), [log]))
    got = accord(tmp_path, "verify", "--equivocation", "a", "b", "--key", "log.pub", "--json")
    assert json.loads(got.stdout)["sizes"] == [7, 7]
    other = NoteSigner.generate("evil.test/log")
    (tmp_path / "c").write_text(sign_note(Checkpoint(log.name, 7, b"c" * 32).body(), [other]))
    bad = accord(tmp_path, "verify", "--equivocation", "a", "c", "--key", "log.pub", ok=False)
    assert bad.returncode == 2 and "log key" in bad.stderr
    (tmp_path / "d").write_text(sign_note(Checkpoint(log.name, 9, b"d" * 32).body(), [log]))
    need = accord(tmp_path, "verify", "--equivocation", "a", "d", "--key", "log.pub", ok=False)
    assert need.returncode == 2 and "consistency" in need.stderr
