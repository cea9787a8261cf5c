"""Real witnesses for tests: `accord witness serve` processes on ephemeral ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from accord.witness.folder import WitnessFolder


@dataclass
class RunningWitness:
    dir: Path
    name: str
    vkey: str
    url: str
    proc: subprocess.Popen[str]

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)


def serve_witness(dir: Path, port: int = 0) -> RunningWitness:
    folder = WitnessFolder.open(dir)
    proc = subprocess.Popen([sys.executable, "-m", "accord", "witness", "serve", str(dir),
                             "--port", str(port), "--log-level", "warning"],
                            stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert " on http://" in line, line
    url = line.split(" on ")[1].split(" ")[0]
    return RunningWitness(dir, folder.signer.name, folder.verifier_key, url, proc)


def make_witness(dir: Path, name: str, log_key: str, port: int = 0) -> RunningWitness:
    WitnessFolder.init(dir, name, [log_key])
    return serve_witness(dir, port)
