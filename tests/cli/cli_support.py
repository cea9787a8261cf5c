"""Running the real CLI as a user does, and a small deployment made with it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from accord.timefmt import SystemClock, format_time


def accord(cwd: Path, *args: str, ok: bool = True,
           timeout: float = 120) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "accord", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, COLUMNS="200"))
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def js(cwd: Path, *args: str) -> Any:
    return json.loads(accord(cwd, *args, "--json").stdout)


def notice_doc(lon: float, kind: str = "transit", minutes_ahead: int = 120) -> dict[str, Any]:
    start = SystemClock().now().replace(microsecond=0) + timedelta(minutes=minutes_ahead)
    return {"kind": kind, "volumes": [{
        "footprint": {"type": "Circle", "center": [lon, 35.0],
                      "radius": {"value": 2, "units": "NM"}},
        "altitude": {"lower": 0, "upper": 10000, "units": "ft", "reference": "AMSL"},
        "start": format_time(start), "end": format_time(start + timedelta(hours=1))}]}


def deployment(cwd: Path) -> Path:
    """`cwd/dep` with parties IL and RU (keys `cwd/IL.key`, `cwd/RU.key`) and an agreement in
    force, made through the CLI; returns the deployment folder."""
    info = js(cwd, "init", "dep", "--origin", "cli.test/log")
    assert info["origin"] == "cli.test/log" and info["log_key"].startswith("cli.test/log+")
    keys = {p: js(cwd, "keygen", p)["public_key"] for p in ("IL", "RU")}
    assert (cwd / "IL.key").stat().st_mode & 0o777 == 0o600
    (cwd / "agreement.toml").write_text(f"""
id = "cli-test"
title = "CLI test agreement"

[[parties]]
id = "IL"
key = "{keys['IL']}"

[[parties]]
id = "RU"
key = "{keys['RU']}"

[separation]
horizontal_m = 9260
vertical_m = 300

[kinds.strike]
hazard = true
lead_time_minutes = 15
ack_required = true
ack_deadline_minutes = 5

[kinds.transit]
""")
    accord(cwd, "agreement", "propose", "agreement.toml", "--log", "cli.test/log",
           "-o", "proposal.json")
    assert "Still to sign: RU" in accord(cwd, "agreement", "sign", "proposal.json",
                                         "--key", "IL.key").stdout
    assert "ready to adopt" in accord(cwd, "agreement", "sign", "proposal.json",
                                      "--key", "RU.key").stdout
    accord(cwd, "agreement", "adopt", "proposal.json", "-d", "dep")
    return cwd / "dep"
