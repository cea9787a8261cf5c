"""The SQLite WAL stays bounded under sustained writes (issue 7, item 11)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from accord import commands
from accord.service.runtime import Service, ServiceConfig
from accord.service.writer import Outcome
from accord.store.sqlite import SqliteStore
from support import make_world, volume

LIMIT = 256 << 10


def test_sustained_writes_keep_the_wal_under_the_limit_and_readers_keep_reading(
        tmp_path: Path) -> None:
    w = make_world(tmp_path / "dep")
    w.writer.store.close()
    s = Service(w.dir, clock=w.clock,
                config=ServiceConfig(tactical_interval_s=3600, wal_limit_bytes=LIMIT,
                                     wal_checkpoint_interval_s=0.1))
    stop = threading.Event()
    reads = {"ok": 0, "errors": 0, "max_wal": 0}

    def reader() -> None:
        store = SqliteStore(s.deployment.db_path, readonly=True)
        try:
            while not stop.is_set():
                try:
                    store.size()
                    list(store.notices_json())
                    reads["ok"] += 1
                except Exception:
                    reads["errors"] += 1
                reads["max_wal"] = max(reads["max_wal"], s.store.wal_bytes())
        finally:
            store.close()

    def filer(party: str, lat: float) -> None:
        futs = []
        for i in range(1, 601):
            lon = -170.0 + (i % 850) * 0.4
            doc: dict[str, Any] = {"kind": "transit",
                                   "volumes": [volume(lon, lat, half=0.01)],
                                   "private": {"pad": "x" * 300}}
            body, reveal = commands.notice_body(doc, party)
            futs.append(s.submit(w.sub(party, "notice.file", body, seq=i, private=reveal)))
        assert all(isinstance(f.result(60), Outcome) for f in futs)

    readers = [threading.Thread(target=reader) for _ in range(2)]
    for t in readers:
        t.start()
    try:
        filers = [threading.Thread(target=filer, args=(p, lat))
                  for p, lat in (("A", -40.0), ("B", -20.0))]
        for t in filers:
            t.start()
        for t in filers:
            t.join()
        # Under the limit again soon after the load, with the readers still reading.
        deadline = time.monotonic() + 10
        while s.store.wal_bytes() > LIMIT and time.monotonic() < deadline:
            time.sleep(0.05)
        health = s.writer_health()
    finally:
        stop.set()
        for t in readers:
            t.join()
        s.close()
    assert s.wal_restarts > 0  # the WAL did pass the limit, and was cut back
    assert health["wal_bytes"] <= LIMIT
    assert reads["errors"] == 0 and reads["ok"] > 0
    # Between two restarts the WAL grows by at most a batch or so past the limit.
    assert reads["max_wal"] < LIMIT + (4 << 20), reads
    print(f"max WAL seen {reads['max_wal']} B, {s.wal_restarts} restarts, "
          f"longest restart stall {s.wal_stall_ms:.1f} ms, {reads['ok']} reads")
