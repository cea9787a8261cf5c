"""Child process for the witness crash test: a real witness (folder, state, HTTP server) whose
store step pauses after the cosignature is made and before it is written, and says so on
stdout ("signed <size>"), so the parent can SIGKILL it exactly between cosigning and storing.

Usage: witness_child.py DIR PAUSE_S. Prints "listening <port>" once it serves.
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import uvicorn

from accord.log.note import Checkpoint
from accord.witness.folder import WitnessFolder
from accord.witness.server import create_app
from accord.witness.state import WitnessState


def main(dir: Path, pause: float) -> None:
    folder = WitnessFolder.open(dir)
    state = folder.state()

    class Pausing(WitnessState):
        def _store(self, origin: str, cp: Checkpoint, note: str, stamp: int) -> None:
            print(f"signed {cp.size}", flush=True)
            time.sleep(pause)
            super()._store(origin, cp, note, stamp)

    state.__class__ = Pausing
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    print(f"listening {sock.getsockname()[1]}", flush=True)
    uvicorn.Server(uvicorn.Config(create_app(state), log_config=None, access_log=False,
                                  lifespan="off")).run(sockets=[sock])


if __name__ == "__main__":
    main(Path(sys.argv[1]), float(sys.argv[2]))
