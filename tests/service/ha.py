"""A PostgreSQL primary with a streaming replica under Patroni, on a 3-member etcd, all on
loopback: for the high-availability test (test_patroni.py). Nothing here is Accord's own code;
it is how the README's HA setup is stood up on one machine.

etcd runs as the current user; Patroni and PostgreSQL run as the `postgres` system user
(PostgreSQL refuses root), on Debian's system Python (the `patroni` package) and Debian's
PostgreSQL binaries. Ports are below 32768.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

USER = "postgres"


def bin_dir() -> str:
    """Debian's newest PostgreSQL binaries (with contrib: cube)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                   key=lambda p: int(p.split("/")[4]))
    if not found:
        raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql "
                           "(apt-get install postgresql)")
    return os.path.dirname(found[-1])


def wait_for(what: str, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            got = check()
        except Exception as exc:  # not up yet
            last = exc
            got = None
        if got:
            return got
        time.sleep(0.2)
    raise TimeoutError(f"{what} not within {timeout:.0f} s (last: {last!r})")


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@dataclass
class Etcd:
    root: Path
    base_port: int  # client ports base, base+1, base+2; peers base+10...
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def hosts(self) -> str:
        return ",".join(f"127.0.0.1:{self.base_port + i}" for i in range(3))

    def start(self) -> None:
        peers = ",".join(f"e{i}=http://127.0.0.1:{self.base_port + 10 + i}" for i in range(3))
        for i in range(3):
            data = self.root / f"etcd{i}"
            data.mkdir(parents=True)
            log = open(self.root / f"etcd{i}.log", "wb")  # noqa: SIM115 (kept by the process)
            self.procs.append(subprocess.Popen(
                ["etcd", "--name", f"e{i}", "--data-dir", str(data),
                 "--listen-client-urls", f"http://127.0.0.1:{self.base_port + i}",
                 "--advertise-client-urls", f"http://127.0.0.1:{self.base_port + i}",
                 "--listen-peer-urls", f"http://127.0.0.1:{self.base_port + 10 + i}",
                 "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.base_port + 10 + i}",
                 "--initial-cluster", peers, "--initial-cluster-state", "new",
                 "--initial-cluster-token", "accord-test", "--heartbeat-interval", "100",
                 "--election-timeout", "1000"],
                stdout=log, stderr=subprocess.STDOUT))
        wait_for("etcd healthy", lambda: subprocess.run(
            ["etcdctl", "--endpoints", self.hosts, "endpoint", "health"],
            capture_output=True, env={**os.environ, "ETCDCTL_API": "3"}).returncode == 0, 30)

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


@dataclass
class Member:
    """One Patroni member (and the PostgreSQL it runs)."""

    root: Path
    name: str
    pg_port: int
    api_port: int
    etcd: Etcd
    proc: subprocess.Popen[bytes] | None = None

    @property
    def data(self) -> Path:
        return self.root / self.name

    def config(self) -> dict[str, Any]:
        sock = str(self.root / f"{self.name}-sock")
        return {
            "scope": "accord-ha", "name": self.name,
            "restapi": {"listen": f"127.0.0.1:{self.api_port}",
                        "connect_address": f"127.0.0.1:{self.api_port}"},
            "etcd3": {"hosts": self.etcd.hosts},
            "bootstrap": {
                "dcs": {"ttl": 10, "loop_wait": 1, "retry_timeout": 4,
                        "maximum_lag_on_failover": 1 << 20,
                        # A commit waits for the standby: a receipt survives the primary.
                        "synchronous_mode": True,
                        "postgresql": {"use_pg_rewind": True, "parameters": {
                            "wal_level": "replica", "hot_standby": "on",
                            "max_wal_senders": 5, "max_replication_slots": 5,
                            "wal_log_hints": "on", "max_connections": 100}}},
                "initdb": [{"encoding": "UTF8"}, {"locale": "C"}],
                "pg_hba": ["local all all trust", "host replication all 127.0.0.1/32 trust",
                           "host all all 127.0.0.1/32 trust"]},
            "postgresql": {
                "listen": f"127.0.0.1:{self.pg_port}",
                "connect_address": f"127.0.0.1:{self.pg_port}",
                "data_dir": str(self.data), "bin_dir": bin_dir(),
                "pgpass": str(self.root / f"{self.name}.pgpass"),
                "authentication": {"replication": {"username": "postgres"},
                                   "superuser": {"username": "postgres"},
                                   "rewind": {"username": "postgres"}},
                "parameters": {"unix_socket_directories": sock}},
            "tags": {"nofailover": False, "noloadbalance": False},
        }

    def start(self) -> None:
        sock = self.root / f"{self.name}-sock"
        sock.mkdir(exist_ok=True)
        cfg = self.root / f"{self.name}.yml"
        cfg.write_text(json.dumps(self.config()))  # JSON is YAML
        pw = pwd.getpwnam(USER)
        for p in (self.root, sock, cfg):
            os.chown(p, pw.pw_uid, pw.pw_gid)
        log = open(self.root / f"{self.name}.log", "wb")  # noqa: SIM115 (kept by the process)
        # Debian's patroni on the system Python, as the postgres user (never root).
        self.proc = subprocess.Popen(
            ["runuser", "-u", USER, "--", "/usr/bin/patroni", str(cfg)],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.root, start_new_session=True)

    def role(self) -> str | None:
        """`primary`, `replica`, or None (not answering)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.api_port}/patroni",
                                        timeout=2) as r:
                doc = json.loads(r.read())
        except Exception:
            return None
        if doc.get("state") != "running":
            return None
        return "primary" if doc.get("role") in ("master", "primary") else str(doc.get("role"))

    def postmaster(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _kill_server(self, sig: int) -> None:
        """The postmaster and its backends share a process group apart from Patroni's."""
        pid = self.postmaster()
        if pid is None:
            return
        try:
            group = os.getpgid(pid)
            if group > 1 and group != os.getpgid(0):
                os.killpg(group, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """The machine is lost: Patroni and its PostgreSQL, kill -9."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)  # runuser and Patroni (a session of theirs)
        self._kill_server(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self._kill_server(signal.SIGKILL)


def available() -> list[str]:
    """What this machine lacks for the HA test (empty: all there)."""
    missing = [t for t in ("etcd", "etcdctl", "patroni", "runuser") if not shutil.which(t)]
    if not glob.glob("/usr/lib/postgresql/*/bin/postgres"):
        missing.append("postgresql")
    try:
        pwd.getpwnam(USER)
    except KeyError:
        missing.append(f"user {USER}")
    return missing
