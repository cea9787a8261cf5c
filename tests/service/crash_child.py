"""Child process for the crash test: files notices from four threads until it is killed.

Each receipt is printed (one JSON line) only after the writer has returned it, i.e. after the
batch holding it was committed; the parent kills this process with SIGKILL at a random moment.
"""

from __future__ import annotations

import json
import random
import sys
import threading
from datetime import timedelta
from pathlib import Path

from accord import commands
from accord.keys import PARTY_KEY, KeyFile
from accord.service.deployment import Deployment, WriterLock
from accord.service.writer import Sequencer, Writer
from accord.timefmt import SystemClock, format_time


def main(dir: Path) -> None:
    deployment = Deployment.open(dir)
    lock = WriterLock(dir)
    lock.acquire()
    writer = Writer(deployment.store(), deployment.signer(), SystemClock())
    seq = Sequencer(writer)
    out_lock = threading.Lock()
    seq_lock = threading.Lock()
    keys = {p: KeyFile.read(dir / f"{p}.key", PARTY_KEY) for p in ("A", "B")}
    contexts = {p: writer.context(p) for p in keys}

    def worker(n: int) -> None:
        rnd = random.Random(n)
        party = "A" if n % 2 else "B"
        while True:
            now = SystemClock().now()
            lon, lat = 30 + rnd.random() * 10, 30 + rnd.random() * 10
            start = now + timedelta(hours=1)
            doc = {"kind": "transit", "volumes": [{
                "footprint": {"type": "Circle", "center": [lon, lat],
                              "radius": {"value": 3, "units": "km"}},
                "altitude": {"lower": 0, "upper": 3000, "units": "m", "reference": "W84"},
                "start": format_time(start), "end": format_time(start + timedelta(hours=1))}]}
            body, _ = commands.notice_body(doc, party)
            with seq_lock:  # seq order must match submission order for one party
                context = contexts[party]
                contexts[party] = context.next()
                fut = seq.submit(commands.signed(keys[party], "notice.file", context, now, body))
            outcome = fut.result()
            with out_lock:
                sys.stdout.write(json.dumps(outcome.receipt.to_json()) + "\n")
                sys.stdout.flush()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
