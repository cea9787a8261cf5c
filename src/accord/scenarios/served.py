"""The Latakia scenario over the network: a running service, the two parties as separate
HTTP clients, the hotline exchange, live streams, and the escalation when the strike notice
goes unacknowledged.

The service runs in this process on 127.0.0.1 (an ephemeral port) with the scenario's clock,
so 17 September 2018 plays out in seconds; everything else is the real service: the same
API, tokens, streams and escalation timer as `accord serve`.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from accord import commands
from accord.client import Client
from accord.log.receipt import prove_json
from accord.scenarios import in_folder
from accord.scenarios.latakia import IL20, STRIKE, at, hhmm, setup
from accord.service.runtime import Service, ServiceConfig, issue_token
from accord.timefmt import ManualClock, format_time, parse_time
from accord.verify import verify_store


class _Server:
    """uvicorn on its own thread, serving an existing Service."""

    def __init__(self, service: Service, port: int = 0) -> None:
        import socket

        import uvicorn

        from accord.api.app import create_app

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.app = create_app(service=service)
        config = uvicorn.Config(self.app, log_config=None, lifespan="on", log_level="warning",
                                timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run,
                                       kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self) -> None:
        self.app.state.draining.set()  # the live streams end within a second
        self.server.should_exit = True
        self.thread.join(timeout=15)
        if self.thread.is_alive():
            raise RuntimeError("the demo's server did not stop")


class _Watcher:
    """A party's live stream, collected on a thread, as a duty officer's console would."""

    def __init__(self, url: str, token: str) -> None:
        self.events: list[tuple[int, str, dict[str, Any]]] = []
        self._client = Client(url, token)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for item in self._client.stream(None, timeout=30):
                self.events.append(item)
        except Exception:  # the demo's end closes the stream under it
            return

    def wait_for(self, kind: str, timeout: float = 10.0) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for _, k, data in self.events:
                if k == kind:
                    return data
            time.sleep(0.05)
        return None

    def close(self) -> None:
        """Close the stream under the reader and wait for it: no thread may outlive the demo
        (a daemon thread still inside httpx at interpreter exit can crash the process)."""
        self._client.close()
        self._thread.join(timeout=10)


def run(console: Console, keep: Path | None = None) -> int:
    return in_folder(keep, "accord-demo-serve-", lambda base: _run(console, base, keep))


def _run(console: Console, base: Path, keep: Path | None) -> int:
    console.rule("[bold]Accord demo over the network: Latakia, 17 September 2018[/] "
                 "(modelled on public reports)")
    r = setup(base / "served", "accord.demo/latakia-2018-served")
    clock: ManualClock = r.clock
    tokens = {p: issue_token(r.writer.store, p, "demo", clock) for p in ("IL", "RU")}
    r.writer.store.close()
    service = Service(r.dir, clock=clock, config=ServiceConfig(timer_interval_s=0.05))
    server = _Server(service)
    console.print(f"Service for log {service.deployment.origin} at {server.url}; the IL and RU "
                  f"command posts connect as separate clients with their own tokens.\n")
    # Each party holds the log's public key from adoption, out of band: every receipt it gets
    # is proved against that key as it arrives (never against a key the service sends).
    log_pub = (r.dir / "log.pub").read_text().strip()
    clients = {p: Client(server.url, tokens[p], log_key=log_pub) for p in ("IL", "RU")}
    watch = {p: _Watcher(server.url, tokens[p]) for p in ("IL", "RU")}
    rows: list[tuple[datetime, str, str, str]] = []

    def send(when: datetime, party: str, type: str, body: dict[str, Any],
             private: dict[str, Any] | None = None) -> dict[str, Any]:
        clock.set(when)
        c = clients[party]
        sub = commands.signed(r.keys[party], type, c.context(), when, body, private)
        return c.submit(sub)

    def file(when: datetime, party: str, doc: dict[str, Any], notice: str) -> dict[str, Any]:
        body, reveal = commands.notice_body(doc, party, notice=notice)
        return send(when, party, "notice.file", body, reveal)

    ok = True
    try:
        il20 = file(at("15:00:00"), "RU", IL20, "RU-IL20-0917")
        rows.append((at("15:00:00"), "RU", "files RU-IL20-0917 over HTTP (Il-20 surveillance, "
                     "return to Hmeimim 18:45-19:15)", str(il20["index"])))
        strike = file(at("18:39:00"), "IL", STRIKE, "IL-STRIKE-0917")
        rows.append((at("18:39:00"), "IL", "files IL-STRIKE-0917 over HTTP (strike over "
                     "Latakia 18:40-19:10)", str(strike["index"])))
        for item in strike["findings"]:
            f = item["finding"]
            rows.append((parse_time(f["raised_at"]), "Accord",
                         f"[bold red]{f['kind']}[/] {f['finding']} to {'+'.join(f['parties'])}",
                         str(f["entry"])))
        msg = send(at("18:39:20"), "IL", "message", {
            "message": "IL:HL-0917-1", "to": ["RU"], "priority": "urgent",
            "ref": {"notice": "IL-STRIKE-0917"}, "ack_minutes": 1,
            "text": "Strike package over Latakia from 18:40Z; keep clear of the notified area."})
        rows.append((at("18:39:20"), "IL", "hotline to RU (urgent, ack within 1 min): strike "
                     "from 18:40Z, keep clear", str(msg["index"])))
        seen = watch["RU"].wait_for("message")
        rows.append((at("18:39:20"), "RU", "console receives the message on its live stream"
                     if seen else "[red]message did not reach RU's stream[/]", ""))
        ok &= seen is not None
        ack = send(at("18:39:50"), "RU", "message.ack", {"message": "IL:HL-0917-1"})
        rows.append((at("18:39:50"), "RU", "acknowledges the hotline message (the strike "
                     "notice itself stays unacknowledged)", str(ack["index"])))
        clock.set(at("18:44:01"))  # the strike notice's 5-minute acknowledgement deadline passes
        esc = watch["IL"].wait_for("escalation")
        late = [d for _, k, d in watch["IL"].events if k == "finding"
                and d["value"]["event"]["body"]["kind"] == "unacknowledged"]
        for d in late:
            f = d["value"]["event"]["body"]
            rows.append((parse_time(d["value"]["received_at"]), "Accord",
                         f"[bold red]unacknowledged[/] {f['finding']} to {'+'.join(f['parties'])}"
                         f": the 5-minute deadline for RU's acknowledgement has passed",
                         str(d["index"])))
        if esc is not None:
            body = esc["value"]["event"]["body"]
            rows.append((parse_time(esc["value"]["received_at"]), "Accord",
                         f"[bold red]escalation[/] {body['escalation']} to "
                         f"{body['contact']}: RU has not acknowledged IL-STRIKE-0917",
                         str(esc["index"])))
        else:
            rows.append((at("18:44:01"), "Accord", "[red]no escalation seen[/]", ""))
        ok &= esc is not None
        t = Table("UTC", "local", "who", "what", "entry")
        for when, who, what, entry in rows:
            utc, local = hhmm(when)
            t.add_row(utc, local, who, what, entry)
        console.print(t)
        ru_kinds = [k for _, k, _ in watch["RU"].events]
        console.print(f"RU's live stream carried {len(ru_kinds)} events: "
                      f"{', '.join(sorted(set(ru_kinds)))}; IL's carried "
                      f"{len(watch['IL'].events)}.")
        for party, result in (("IL", strike), ("RU", il20)):
            proved, checked = prove_json(result["receipt"], log_pub)
            console.print(f"  {party}'s receipt for entry {result['index']} verifies offline: "
                          f"received {format_time(proved.received_at)} "
                          f"(checkpoint size {checked.size})")
    finally:
        for c in clients.values():
            c.close()
        server.stop()  # ends the live streams, so the watchers' threads finish
        for w in watch.values():
            w.close()
        service.close()
    store = service.deployment.store(readonly=True)
    report = verify_store(store, service.deployment.verifier_key)
    store.close()
    console.print(f"  after a clean shutdown, full verification of {report.entries} entries: "
                  + ("[green]OK[/]" if report.ok else f"[red]FAILED[/] {report.problems[:3]}"))
    ok &= report.ok
    if keep is not None:
        console.print(f"\nDeployment kept in {base / 'served'}: `accord serve {base / 'served'}`"
                      f" to run it again.")
    console.print("[bold green]Demo complete.[/]" if ok else "[bold red]Demo failed.[/]")
    return 0 if ok else 1
