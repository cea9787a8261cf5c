"""A witness killed with SIGKILL at random moments, including between making a cosignature
and storing it, never cosigns two inconsistent checkpoints of one log and never rolls back
what it answered. The witness runs as a real process behind HTTP; hypothesis picks the
sequence (branch, growth, and when to kill)."""

from __future__ import annotations

import hashlib
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import httpx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_witness_state import LOG, A, B, Branch

from accord.log.cosignature import WitnessKey, WitnessPolicy, merge_cosignatures, verify_witnessed
from accord.witness.folder import WitnessFolder
from accord.witness.protocol import AddCheckpoint

HERE = Path(__file__).parent


class Child:
    def __init__(self, dir: Path) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(HERE.parents[1] / "src"), os.environ.get("PYTHONPATH", "")]))
        self.p = subprocess.Popen([sys.executable, str(HERE / "witness_child.py"), str(dir),
                                   "0.3"], stdout=subprocess.PIPE, text=True, env=env)
        assert self.p.stdout is not None
        line = self.p.stdout.readline()
        assert line.startswith("listening "), line
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            self.lines.put(line)

    def kill(self) -> None:
        os.kill(self.p.pid, signal.SIGKILL)
        self.p.wait(10)


def submit(child: Child, req: AddCheckpoint, kill_after_sign: bool
           ) -> httpx.Response | None:
    """Send a request; with kill_after_sign, SIGKILL the witness once it says it signed (if
    it refuses instead, the answer comes and nothing is killed)."""
    result: list[httpx.Response | None] = [None]
    while not child.lines.empty():
        child.lines.get_nowait()

    def send() -> None:
        try:
            result[0] = httpx.post(child.url + "/add-checkpoint", content=req.body(), timeout=10)
        except httpx.HTTPError:
            result[0] = None

    t = threading.Thread(target=send)
    t.start()
    if kill_after_sign:
        while t.is_alive():
            try:
                line = child.lines.get(timeout=0.05)
            except queue.Empty:
                continue
            if line.startswith("signed"):
                child.kill()
                break
    t.join(15)
    assert not t.is_alive()
    return result[0]


ops = st.lists(st.tuples(st.sampled_from(["A", "B"]), st.integers(0, 8),
                         st.sampled_from(["none", "after_sign", "after_answer"])),
               min_size=2, max_size=6)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=ops)
@example(steps=[("A", 5, "none"), ("A", 3, "after_sign"), ("B", 0, "after_sign"),
                ("B", 6, "after_answer"), ("A", 4, "after_sign"), ("A", 2, "none")])
def test_sigkill_never_breaks_the_witness(steps: list[tuple[str, int, str]]) -> None:
    dir = Path(tempfile.mkdtemp(prefix="witness-crash-"))
    folder = WitnessFolder.init(dir / "w", "witness.example/crash", [LOG.verifier_key])
    policy = WitnessPolicy((WitnessKey(folder.verifier_key, folder.signer.verifier()),), 1)
    child = Child(dir / "w")
    known = 0
    answered: list[tuple[int, bytes]] = []
    try:
        for name, grow, kill in steps:
            branch: Branch = A if name == "A" else B
            new = min(40, known + grow)
            req = AddCheckpoint(known, branch.proof(known, new), branch.note(new))
            r = submit(child, req, kill == "after_sign")
            if r is not None and r.status_code == 200:
                cosigned = merge_cosignatures(req.note, r.text.splitlines())
                w = verify_witnessed(cosigned, LOG.verifier(), policy)
                answered.append((w.checkpoint.size, w.checkpoint.root))
                known = w.checkpoint.size
            elif r is not None and r.status_code == 409:
                known = int(r.text)
            if kill != "none" and child.p.poll() is None:
                child.kill()
            if child.p.poll() is not None:
                child = Child(dir / "w")
                held = httpx.get(f"{child.url}/{hashlib.sha256(LOG.name.encode()).hexdigest()}"
                                 f"/checkpoint", timeout=10)
                if answered:
                    # everything answered is on disk: the witness never goes back
                    assert held.status_code == 200
                    size = int(held.text.split("\n")[1])
                    assert size >= answered[-1][0]
        sizes = [s for s, _ in answered]
        assert sizes == sorted(sizes)
        if answered:
            big, big_root = max(answered)
            br = A if A.root(big) == big_root else B
            assert all(br.root(s) == r for s, r in answered), "two inconsistent cosignatures"
    finally:
        if child.p.poll() is None:
            child.kill()
        shutil.rmtree(dir, ignore_errors=True)
