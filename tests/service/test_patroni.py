"""High availability of the database itself: a PostgreSQL primary with a synchronous streaming
replica under Patroni, on a 3-member etcd, all on loopback (tests/service/ha.py). The service
connects with a multi-host URL and `target_session_attrs=read-write`; the primary's machine
is lost (Patroni and PostgreSQL killed with SIGKILL), Patroni promotes the replica, the service
takes the writer's seat again on the new primary and goes on writing, and every receipt a
party got is in the log the new primary holds.

Slow (a minute): etcd, two PostgreSQL servers and a failover that waits out Patroni's
leader TTL. It runs in CI all the same (`.ci/run`, `scripts/test`)."""

from __future__ import annotations

import os
import random
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ha
import psycopg
import pytest

from accord.service.deployment import Deployment
from accord.service.runtime import issue_token
from accord.timefmt import SystemClock
from accord.verify import verify_store
from failover import Party, check_receipts, serve, wait_for

pytestmark = pytest.mark.slow


def free_base(count: int) -> int:
    """A base port below 32768 (above it the kernel picks outgoing ports) with `count`
    consecutive ports free on 127.0.0.1."""
    rnd = random.Random()
    for _ in range(200):
        base = rnd.randrange(15000, 32000 - count)
        try:
            for p in range(base, base + count):
                with socket.socket() as s:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        return base
    raise RuntimeError("no free ports below 32768")


@pytest.fixture
def cluster() -> Iterator[tuple[ha.Member, ha.Member]]:
    missing = ha.available()
    assert not missing, f"the HA test needs {missing} (scripts/test installs them)"
    # Not under pytest's own temporary folder: the postgres user must reach it.
    root = Path(tempfile.mkdtemp(prefix="accord-ha-"))
    os.chmod(root, 0o755)
    base = free_base(30)
    etcd = ha.Etcd(root / "etcd", base)
    (root / "etcd").mkdir()
    members = (ha.Member(root / "pg", "pg0", base + 20, base + 22, etcd),
               ha.Member(root / "pg", "pg1", base + 21, base + 23, etcd))
    (root / "pg").mkdir()
    try:
        etcd.start()
        members[0].start()
        ha.wait_for("the primary", lambda: members[0].role() == "primary", 60)
        members[1].start()
        ha.wait_for("the replica", lambda: members[1].role() == "replica", 60)
        yield members
    finally:
        for m in members:
            m.stop()
        etcd.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_the_primary_lost_the_replica_promoted_the_service_writes_on(
        cluster: tuple[ha.Member, ha.Member], tmp_path: Path) -> None:
    primary, replica = cluster
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{primary.pg_port}/postgres",
                         autocommit=True) as db:
        db.execute("CREATE DATABASE accord")
    url = (f"postgresql://postgres@127.0.0.1:{primary.pg_port},127.0.0.1:{replica.pg_port}"
           "/accord?target_session_attrs=read-write&connect_timeout=3")
    from support import make_world

    clock = SystemClock()
    world = make_world(tmp_path / "dep", parties=("A", "B"), start=clock.now(), database=url)
    tokens = {p: issue_token(world.store, p, "ha", clock) for p in world.keys}
    world.store.close()
    with (world.dir / "accord.toml").open("a") as fh:
        fh.write("\n[service]\nwrite_timeout_s = 5.0\n")
    node = serve(world.dir, tmp_path / "serve.log")
    stop = threading.Event()
    filers = [Party(world.keys[p], tokens[p], [node.url], (20.0 + i, 10.0))
              for i, p in enumerate(sorted(world.keys))]
    try:
        wait_for("the writer", lambda: node.role() == "writer", 30)
        for f in filers:
            f.start(stop)
        wait_for("filings before the failover",
                 lambda: sum(len(f.acked) for f in filers) >= 40, 60)
        primary.kill()
        lost = time.monotonic()
        ha.wait_for("the replica promoted", lambda: replica.role() == "primary", 90)
        promoted = time.monotonic() - lost
        before = sum(len(f.acked) for f in filers)
        wait_for("filings on the new primary",
                 lambda: sum(len(f.acked) for f in filers) >= before + 40, 90)
        stop.set()
        for f in filers:
            f.join()
        # /readyz answers 503 while a check is in progress on a loaded machine; the role must
        # settle on "writer" (the filings above already went through this process).
        wait_for("the service to report itself the writer", lambda: node.role() == "writer", 30)
        assert not [x for f in filers for x in f.failures]
        resumed = min(a.at for f in filers for a in f.acked if a.at > lost) - lost
        print(f"promoted after {promoted:.1f} s, writing again after {resumed:.1f} s")
    finally:
        stop.set()
        node.stop()
    d = Deployment.open(world.dir)
    store: Any = d.store(readonly=True)
    try:
        # The new primary is the replica: what it holds is what was replicated.
        assert store.db.info.port == replica.pg_port
        counts = check_receipts(filers, store, d.verifier_key)
        assert counts["receipts"] >= before + 40
        assert verify_store(store, d.verifier_key).ok
    finally:
        store.close()
