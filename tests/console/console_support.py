"""The console's browser tests: a real `accord serve` with two parties (IL and RU) and real
Chromium (Debian's package, driven by Playwright's sync API, headless). Every request the
page makes must go to the serving host, and the page must log no error."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from accord import commands
from accord.keys import PARTY_KEY, KeyFile
from accord.service.deployment import Deployment
from accord.service.runtime import issue_token
from accord.service.writer import Writer
from accord.store.sqlite import SqliteStore
from accord.timefmt import SystemClock, format_time

CHROMIUM = next((p for p in ("/usr/lib/chromium/chromium", shutil.which("chromium") or "",
                             shutil.which("chromium-browser") or "") if p and os.path.exists(p)),
                None)
FLAGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
PARTIES = ("IL", "RU")


def agreement(keys: dict[str, KeyFile], ack_minutes: float = 0.5) -> dict[str, Any]:
    return {
        "id": "console-test", "title": "IL and RU over Syria (test)",
        "parties": [{"id": p, "name": f"{p} command post", "key": keys[p].public_b64,
                     "escalation": f"{p} duty commander"} for p in PARTIES],
        "separation": {"horizontal_m": 9260, "vertical_m": 300},
        "kinds": {"strike": {"hazard": True, "lead_time_minutes": 1, "late": "finding",
                             "ack_required": True, "ack_deadline_minutes": ack_minutes},
                  "surveillance": {}, "transit": {}},
        "conflicts": {"action": "finding"},
        "zones": [{"id": "hmeimim", "name": "Hmeimim air base (protected)",
                   "footprint": {"type": "Circle", "center": [35.948, 35.401],
                                 "radius": {"value": 5, "units": "km"}},
                   "altitude": {"lower": 0, "upper": 15000, "units": "m",
                                "reference": "AMSL"},
                   "applies_to": {"hazard": True}, "protects": ["RU"]}],
        "tactical": {"horizontal_m": 5000, "vertical_m": 300, "lookahead_s": 300,
                     "corrective_s": 120, "warning_s": 60},
    }


@dataclass
class Deployed:
    dir: Path
    keys: dict[str, KeyFile]
    tokens: dict[str, str]
    log_key: str
    url: str = ""
    proc: Any = None
    key_files: dict[str, Path] = field(default_factory=dict)


def deploy(dir: Path, ack_minutes: float = 0.5) -> Deployed:
    clock = SystemClock()
    d = Deployment.init(dir, "console.test/log", clock)
    keys = {p: KeyFile.generate(PARTY_KEY, p) for p in PARTIES}
    store = SqliteStore(d.db_path)
    writer = Writer(store, d.signer(), clock)
    writer.submit(commands.signed_by_all(agreement(keys, ack_minutes), keys.values(),
                                         clock.now(), d.origin))
    tokens = {p: issue_token(store, p, "console-test", clock) for p in PARTIES}
    store.close()
    dep = Deployed(dir, keys, tokens, (dir / "log.pub").read_text().strip())
    for p, k in keys.items():
        path = dir / f"{p}.key"
        k.write(path)
        dep.key_files[p] = path
    return dep


def serve(dep: Deployed, port: int = 0) -> Deployed:
    """`accord serve` on a port of 127.0.0.1 (a secure context for WebCrypto); 0: any."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "accord", "serve", str(dep.dir), "--port",
                             str(port), "--log-level", "warning"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "http://127.0.0.1:" in line, line + (proc.stderr.read() if proc.stderr else "")
    dep.url, dep.proc = line.strip().rsplit(" ", 1)[-1], proc
    wait_until(lambda: _ready(dep.url), timeout=20)
    return dep


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def stop(dep: Deployed) -> int:
    dep.proc.send_signal(signal.SIGTERM)
    try:
        return int(dep.proc.wait(timeout=20))
    finally:
        if dep.proc.poll() is None:
            dep.proc.kill()


def minutes_from_now(m: float) -> str:
    return format_time(SystemClock().now().replace(microsecond=0) + timedelta(minutes=m))


class Browser:
    """One Chromium for the module; each party's console is its own context (own storage)."""

    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        if CHROMIUM is None:
            raise AssertionError("Chromium is missing: scripts/test installs it (Debian: "
                                 "apt-get install chromium)")
        self._pw = sync_playwright().start()
        self.browser = self._pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                args=FLAGS)
        self.errors: list[str] = []
        self.foreign: list[str] = []

    def page(self, base: str, viewport: dict[str, int] | None = None) -> Any:
        host = urlsplit(base).netloc
        context = self.browser.new_context(viewport=viewport or {"width": 1400, "height": 900})

        def guard(route: Any) -> None:
            url = route.request.url
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob") or parts.netloc == host:
                route.continue_()
            else:
                self.foreign.append(url)
                route.abort()

        context.route("**/*", guard)
        page = context.new_page()
        page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}")
                if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("dialog", lambda d: d.accept())
        return page

    def close(self) -> None:
        self.browser.close()
        self._pw.stop()


def sign_in(page: Any, dep: Deployed, party: str, key: bool = True,
            log_key: bool = True) -> None:
    page.goto(f"{dep.url}/?party={party}")
    page.fill("#token", dep.tokens[party])
    if key:
        page.set_input_files("#keyfile", str(dep.key_files[party]))
    if log_key:
        page.fill("#logkey", dep.log_key)
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#console:not([hidden])", timeout=15000)
    page.wait_for_selector("body[data-stream=connected]", state="attached", timeout=15000)


def wait_until(pred: Callable[[], Any], timeout: float = 10.0, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(step)
    raise AssertionError("condition not met in time")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    b = Browser()
    yield b
    b.close()


def dumps(obj: Any) -> str:
    return json.dumps(obj)


def submit(dep: Deployed, party: str, type: str, body: dict[str, Any]) -> dict[str, Any]:
    """A party's signed event, sent over HTTP as any client would (not through a console)."""
    from accord.client import Client

    with Client(dep.url, dep.tokens[party], log_key=dep.log_key) as c:
        sub = commands.signed(dep.keys[party], type, c.context(), SystemClock().now(), body)
        return dict(c.submit(sub))


def tracks(dep: Deployed, party: str, reports: list[dict[str, Any]]) -> dict[str, Any]:
    r = httpx.post(dep.url + "/v1/tracks", json={"reports": reports},
                   headers={"Authorization": f"Bearer {dep.tokens[party]}"}, timeout=10)
    assert r.status_code == 200, r.text
    return dict(r.json())


def box(lon0: float, lat0: float, lon1: float, lat1: float) -> dict[str, Any]:
    ring = [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]
    return {"type": "Polygon", "coordinates": [ring]}


def volume(fp: dict[str, Any], start: str, end: str, lower: float = 0,
           upper: float = 12000) -> dict[str, Any]:
    return {"footprint": fp, "altitude": {"lower": lower, "upper": upper, "units": "m",
                                          "reference": "AMSL"}, "start": start, "end": end}


def click_map(page: Any, lat: float, lon: float) -> None:
    """Click the map at a position (the page converts it to a pixel)."""
    pt = page.evaluate("([lat, lon]) => { const p = window.accordConsole.map.map"
                       ".latLngToContainerPoint([lat, lon]); return [p.x, p.y]; }", [lat, lon])
    b = page.locator("#map").bounding_box()
    page.mouse.click(b["x"] + pt[0], b["y"] + pt[1])


def write_offline(dep: Deployed, party: str, type: str, body: dict[str, Any]) -> int:
    """Append a party's event on the deployment's own machine while no service runs."""
    d = Deployment.open(dep.dir)
    store = d.store()
    try:
        writer = Writer(store, d.signer(), SystemClock())
        sub = commands.signed(dep.keys[party], type, writer.context(party), SystemClock().now(),
                              body)
        return int(writer.submit(sub).index)
    finally:
        store.close()
