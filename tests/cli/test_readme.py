"""The README's walkthrough runs as written: every sh block under "Using Accord", in order."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def walkthrough() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Using Accord", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) >= 5
    return "\n".join(blocks)


def test_readme_walkthrough_needs_no_gnu_date() -> None:
    """BSD and GNU `date` differ in every option that does arithmetic: the walkthrough uses none."""
    assert not re.search(r"(^|[\s;(`$])date\s", walkthrough(), re.M)


def test_readme_walkthrough_runs(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "accord"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m accord "$@"\n')
    shim.chmod(0o755)
    env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}", COLUMNS="120")
    script = "set -euo pipefail\n" + walkthrough()
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "late_notice" in out and "conflict" in out
    assert "Amended IL-STRIKE-0001 v2" in out and "Cancelled IL-STRIKE-0001" in out
    assert out.count("OK ") >= 3  # the store and both receipt checks
