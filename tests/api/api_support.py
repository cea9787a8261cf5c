"""A real `accord serve` on 127.0.0.1 (ephemeral port), with three parties and their tokens."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from accord import commands
from accord.client import Client
from accord.keys import PARTY_KEY, KeyFile
from accord.log.event import Context
from accord.service.deployment import Deployment
from accord.service.runtime import issue_token
from accord.service.writer import Submission, Writer
from accord.timefmt import SystemClock, format_time
from support import agreement_doc

PARTIES = ("A", "B", "C")


@dataclass
class Server:
    url: str
    dir: Path
    proc: subprocess.Popen[str]
    keys: dict[str, KeyFile]
    tokens: dict[str, str]
    log_key: str

    def client(self, party: str | None) -> Client:
        return Client(self.url, self.tokens[party] if party else None)

    def context(self, party: str) -> Context:
        """What `party`'s next event must name, from GET /v1/me."""
        with self.client(party) as c:
            return c.context()

    def sub(self, party: str, type: str, body: dict[str, Any],
            private: dict[str, Any] | None = None) -> Submission:
        with self.client(party) as c:
            context = c.context()
        return commands.signed(self.keys[party], type, context, SystemClock().now(), body,
                               private)

    def send(self, party: str, type: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.client(party) as c:
            return c.submit(self.sub(party, type, body))

    def file(self, party: str, doc: dict[str, Any], notice: str | None = None) -> dict[str, Any]:
        body, reveal = commands.notice_body(doc, party, notice=notice)
        with self.client(party) as c:
            return c.submit(self.sub(party, "notice.file", body, reveal))

    def size(self) -> int:
        with self.client("A") as c:
            return int(c.checkpoint()["size"])


def make_deployment(dir: Path, service: str = "", database: str | None = None, **over: Any
                    ) -> tuple[dict[str, KeyFile], dict[str, str]]:
    """A deployment with an agreement in force (made in-process, before the server runs),
    in SQLite or with `database` in that PostgreSQL database."""
    clock = SystemClock()
    d = Deployment.init(dir, "api.test/log", clock, database=database)
    if service:
        with (dir / "accord.toml").open("a") as fh:
            fh.write("\n[service]\n" + service + "\n")
    keys = {p: KeyFile.generate(PARTY_KEY, p) for p in PARTIES}
    doc = agreement_doc(keys, **over)
    doc["kinds"]["strike"]["ack_deadline_minutes"] = 0.03  # 1.8 s: deadlines pass in a test
    doc["parties"][0]["escalation"] = "A duty officer"
    doc["parties"][1]["escalation"] = "B duty general"
    doc.setdefault("disclosure", {"C": "volumes"})
    store = d.store()
    writer = Writer(store, d.signer(), clock)
    writer.submit(commands.signed_by_all(doc, keys.values(), clock.now(), d.origin))
    tokens = {p: issue_token(store, p, "test", clock) for p in PARTIES}
    store.close()
    return keys, tokens


def start(dir: Path, keys: dict[str, KeyFile], tokens: dict[str, str]) -> Server:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "accord", "serve", str(dir), "--port", "0",
                             "--log-level", "warning"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "http://127.0.0.1:" in line, line + (proc.stderr.read() if proc.stderr else "")
    url = line.strip().rsplit(" ", 1)[-1]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    else:
        raise AssertionError("the server did not become ready")
    return Server(url, dir, proc, keys, tokens, (dir / "log.pub").read_text().strip())


def stop(server: Server) -> int:
    server.proc.send_signal(signal.SIGTERM)
    try:
        return server.proc.wait(timeout=20)
    finally:
        if server.proc.poll() is None:
            server.proc.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, module_database: str | None
           ) -> Iterator[Server]:
    """`accord serve` in a subprocess, for a module's tests, on each engine."""
    dir = tmp_path_factory.mktemp("api") / "dep"
    keys, tokens = make_deployment(dir, database=module_database)
    s = start(dir, keys, tokens)
    yield s
    assert stop(s) == 0


def future_volume(lon: float = 35.0, lat: float = 35.0, minutes: float = 60,
                  lower: float = 0, upper: float = 3000) -> dict[str, Any]:
    from datetime import timedelta

    start_t = SystemClock().now().replace(microsecond=0) + timedelta(minutes=minutes)
    return {"footprint": {"type": "Circle", "center": [lon, lat],
                          "radius": {"value": 3, "units": "km"}},
            "altitude": {"lower": lower, "upper": upper, "units": "m", "reference": "W84"},
            "start": format_time(start_t), "end": format_time(start_t + timedelta(hours=1))}


def bare_deployment(dir: Path) -> None:
    """A deployment with no agreement yet (what `accord init` leaves)."""
    Deployment.init(dir, "api.test/bare", SystemClock())


def amendment(server: Server, parties: dict[str, KeyFile],
              signers: list[KeyFile]) -> dict[str, Any]:
    """An amendment of the agreement in force to `parties`, signed by `signers`: the body to
    POST to /v1/events."""
    import base64 as b64

    with server.client("A") as c:
        shown = c.agreement()
        [row] = c.entries(shown["entry"], shown["entry"] + 1)
    leaf = row["leaf_hash"]
    assert b64.b64decode(leaf)
    doc = agreement_doc(parties)
    doc["disclosure"] = {"C": "volumes"} if "C" in parties else {}
    proposal = commands.propose_agreement(doc, SystemClock().now(), server.context(
                                              "A").log, replaces=leaf,
                                          version=shown["agreement"].get("version", 1) + 1)
    for k in signers:
        proposal = commands.sign_proposal(proposal, k)
    return proposal


def add_token(server: Server, party: str) -> str:
    store = Deployment.open(server.dir).store()
    try:
        return issue_token(store, party, f"test-{party}", SystemClock())
    finally:
        store.close()
