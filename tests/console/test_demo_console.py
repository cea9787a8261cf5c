"""`accord demo --console`: the Latakia scenario served live, both command posts' consoles
in Chromium. The strike notice arrives with its late-notice and conflict findings, the
unacknowledged notice escalates, and the hazard-entry alert follows the Il-20."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from console_support import Browser, Deployed, wait_until


def start_demo(dir: Path, speed: float) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen([sys.executable, "-m", "accord", "demo", "--console", "--port", "0",
                             "--speed", str(speed), "--dir", str(dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, COLUMNS="250", PYTHONUNBUFFERED="1"))
    assert proc.stdout is not None
    lines: list[str] = []
    while not any("Press Ctrl-C" in x for x in lines):
        line = proc.stdout.readline()
        assert line, "".join(lines) + (proc.stderr.read() if proc.stderr else "")
        lines.append(line)
    text = "".join(lines)
    urls = dict(re.findall(r"(IL|RU)\s+(http://127\.0\.0\.1:\d+)/\?party=", text))
    tokens = re.findall(r"token\s+(acc_\S+)", text)
    log_key = re.search(r"log key.*\n\s+(\S+)", text)
    assert len(urls) == 2 and len(tokens) == 2 and log_key, text
    return proc, {"url": urls["IL"], "tokens": dict(zip(("IL", "RU"), tokens, strict=True)),
                  "log_key": log_key.group(1), "text": text}


def as_deployed(dir: Path, info: dict[str, Any]) -> Deployed:
    d = Deployed(dir / "console", {}, info["tokens"], info["log_key"], url=info["url"])
    d.key_files = {p: dir / "console" / f"{p}.key" for p in ("IL", "RU")}
    return d


def test_the_latakia_demo_in_two_consoles(tmp_path: Path, browser: Browser) -> None:
    from console_support import sign_in

    proc, info = start_demo(tmp_path, speed=20)
    try:
        dep = as_deployed(tmp_path, info)
        il, ru = browser.page(dep.url), browser.page(dep.url)
        sign_in(il, dep, "IL")
        sign_in(ru, dep, "RU")
        # the scenario's clock, said as such (not as a skewed computer clock)
        assert "scenario clock" in il.inner_text("#skew")
        for page in (il, ru):
            page.wait_for_selector("#alerts-list [data-kind=conflict]", timeout=30000)
            page.wait_for_selector("#alerts-list [data-kind=late_notice]", timeout=5000)
        ru.wait_for_selector("#messages [data-message='IL:HL-0917-1']")
        for page in (il, ru):
            page.wait_for_selector("#alerts-list .escalation", timeout=60000)
            page.wait_for_selector("#alerts-list .alert[data-alert]", timeout=60000)
        text = ru.inner_text("#alerts-list")
        assert "Hazard entry: RU/RF-93610" in text
        wait_until(lambda: ru.evaluate("() => window.accordConsole.tracks.length") >= 1)
        assert browser.errors == [], browser.errors
        assert browser.foreign == [], browser.foreign
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""


def test_bad_demo_options_are_one_line() -> None:
    for args, field in ((["--port", "70000"], "port"), (["--speed", "0"], "speed")):
        r = subprocess.run([sys.executable, "-m", "accord", "demo", "--console", *args],
                           capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, COLUMNS="200"))
        assert r.returncode == 2, r.stderr
        assert f"[{field}]" in r.stdout + r.stderr and "Traceback" not in r.stderr
