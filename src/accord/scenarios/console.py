"""The Latakia scenario served live for the console (`accord demo --console`).

A real service on 127.0.0.1 runs a scenario clock that starts at 18:38:30 UTC on
17 September 2018 and runs `speed` times faster than real time; the two command posts open
their consoles (one URL each, with their tokens and key files printed). As the clock runs,
the parties' clients act as they did: IL's strike notice arrives one minute before its
window (the late notice and the conflict with the Il-20's return leg are found at once),
IL's urgent hotline message, RU's acknowledgement of the message but not of the notice (so
the notice escalates at 18:44), and from 18:44 the position reports of the Il-20 and one
strike aircraft (the hazard-entry alert follows the Il-20). Then it keeps serving, until
Ctrl-C, so the officers can go on: acknowledge, file, amend, play the record back.
"""

from __future__ import annotations

import threading
import time
import webbrowser
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console

from accord import commands
from accord.client import Client
from accord.errors import DeploymentError
from accord.scenarios import in_folder
from accord.scenarios.latakia import IL20, STRIKE, Run, _Flight, at, setup
from accord.scenarios.served import _Server
from accord.service.runtime import Service, ServiceConfig, issue_token
from accord.timefmt import to_micros

START = "18:38:30"


class ScenarioClock:
    """Scenario time running `speed` times faster than the system's monotonic clock from
    `start`; both of its readings move together, so the service never sees a step."""

    def __init__(self, start: datetime, speed: float = 1.0) -> None:
        self.start = start.astimezone(UTC)
        self.speed = speed
        self._t0 = time.monotonic()

    def monotonic(self) -> float:
        return (time.monotonic() - self._t0) * self.speed + to_micros(self.start) / 1e6

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self._t0) * self.speed)

    def sleep_until(self, t: datetime, stop: threading.Event) -> bool:
        """Wait (in real time) until scenario time `t`; False if `stop` was set first."""
        while not stop.is_set():
            left = (t - self.now()).total_seconds() / self.speed
            if left <= 0:
                return True
            stop.wait(min(left, 0.2))
        return False


class Script:
    """The parties' own clients acting at their scenario times, on a thread."""

    def __init__(self, r: Run, url: str, tokens: dict[str, str], clock: ScenarioClock,
                 log_key: str, say: Callable[[str], None]) -> None:
        self.r, self.url, self.tokens, self.clock, self.say = r, url, tokens, clock, say
        self.log_key = log_key
        self.stop = threading.Event()
        self.failed: str | None = None
        self.thread = threading.Thread(target=self._run, name="accord-demo-script",
                                       daemon=True)

    def send(self, party: str, type: str, body: dict[str, Any],
             private: dict[str, Any] | None = None) -> dict[str, Any]:
        with Client(self.url, self.tokens[party], log_key=self.log_key) as c:
            sub = commands.signed(self.r.keys[party], type, c.context(), self.clock.now(),
                                  body, private)
            return dict(c.submit(sub))

    def tracks(self, party: str, reports: list[dict[str, Any]]) -> None:
        with Client(self.url, self.tokens[party]) as c:
            c.tracks(reports)

    def _run(self) -> None:
        try:
            self._script()
        except Exception as exc:  # the service goes on; the officer is told
            self.failed = f"{type(exc).__name__}: {exc}"
            self.say(f"[red]the demo's script stopped: {self.failed}[/]")

    def _script(self) -> None:
        c, stop = self.clock, self.stop
        if not c.sleep_until(at("18:39:00"), stop):
            return
        body, reveal = commands.notice_body(STRIKE, "IL", notice="IL-STRIKE-0917")
        got = self.send("IL", "notice.file", body, reveal)
        kinds = ", ".join(f["finding"]["kind"] for f in got["findings"])
        self.say(f"18:39:00 IL files IL-STRIKE-0917 (entry {got['index']}): {kinds}")
        if not c.sleep_until(at("18:39:20"), stop):
            return
        self.send("IL", "message", {
            "message": "IL:HL-0917-1", "to": ["RU"], "priority": "urgent",
            "ref": {"notice": "IL-STRIKE-0917"}, "ack_minutes": 1,
            "text": "Strike package over Latakia from 18:40Z; keep clear of the notified area."})
        self.say("18:39:20 IL sends an urgent hotline message to RU")
        if not c.sleep_until(at("18:39:50"), stop):
            return
        self.send("RU", "message.ack", {"message": "IL:HL-0917-1"})
        self.say("18:39:50 RU acknowledges the message (not the notice: it escalates at 18:44"
                 " unless RU's officer acknowledges it in the console)")
        if not c.sleep_until(at("18:44:00"), stop):
            return
        il20 = _Flight("RU", "RF-93610", "IL20", 35.30, 35.53, 6000.0, 140.0, 102.7, -2.0)
        f16 = _Flight("IL", "IAF-1", "HAWK1", 35.85, 35.64, 5800.0, 80.0, 250.0, 0.0)
        self.say("18:44:00 the Il-20 and one strike aircraft report their positions")
        last = c.now()
        while not stop.is_set() and c.now() < at("18:52:00"):
            now = c.now()
            for fl in (il20, f16):
                fl.step((now - last).total_seconds())
            last = now
            for fl in (il20, f16):
                self.tracks(fl.party, [fl.report(now)])
            stop.wait(1.0)
        self.say("18:52:00 the aircraft stop reporting; their alerts clear when the service "
                 "clears them")


def run(console: Console, keep: Path | None = None, port: int = 0, speed: float = 5.0,
        open_browser: bool = False, until: float | None = None) -> int:
    """Serve the scenario until Ctrl-C (or for `until` seconds of real time)."""
    return in_folder(keep, "accord-demo-console-",
                     lambda base: _run(console, base, port, speed, open_browser, until))


def _run(console: Console, base: Path, port: int, speed: float, open_browser: bool,
         until: float | None) -> int:
    r = setup(base / "console", "accord.demo/latakia-2018-console")
    r.file(at("15:00:00"), "RU", IL20, "RU-IL20-0917")
    tokens = {p: issue_token(r.writer.store, p, "console demo", r.clock) for p in ("IL", "RU")}
    r.writer.store.close()
    clock = ScenarioClock(at(START), speed)
    service = Service(r.dir, clock=clock, config=ServiceConfig(timer_interval_s=0.05))
    try:
        server = _Server(service, port)
    except OSError as exc:
        service.close()
        raise DeploymentError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}",
                              accepted="a free port, e.g. --port 0") from None
    log_key = (r.dir / "log.pub").read_text().strip()
    console.rule("[bold]Accord console demo: Latakia, 17 September 2018[/] (modelled on "
                 "public reports)")
    console.print(f"The scenario clock starts at {START} UTC and runs {speed:g}x real time. "
                  "Open each command post's console (in two windows) and sign in with its "
                  "token and key file:\n")
    for p in ("IL", "RU"):
        console.print(f"  [bold]{p}[/]  {server.url}/?party={p}\n      token    {tokens[p]}\n"
                      f"      key file {r.dir / f'{p}.key'}")
    console.print(f"\n  log key (both: verify receipts against it)\n      {log_key}\n")
    console.print("Press Ctrl-C to stop.\n")
    script = Script(r, server.url, tokens, clock, log_key, console.print)
    script.thread.start()
    if open_browser:
        for p in ("IL", "RU"):
            webbrowser.open_new(f"{server.url}/?party={p}")
    try:
        deadline = None if until is None else time.monotonic() + until
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2)
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        script.stop.set()
        script.thread.join(timeout=10)
        server.stop()
        service.close()
    return 0 if script.failed is None else 1
