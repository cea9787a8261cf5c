"""Fuzz the API from its own OpenAPI document (schemathesis): no 5xx, and no rejected request
changes the log."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from api_support import make_deployment, start, stop

from accord.service.deployment import Deployment
from accord.verify import verify_store


def test_schemathesis_finds_no_server_error(tmp_path: Any) -> None:
    dir = tmp_path / "dep"
    keys, tokens = make_deployment(dir)
    server = start(dir, keys, tokens)
    try:
        size = server.size()
        st = Path(sys.executable).with_name("schemathesis")
        proc = subprocess.run(
            [str(st), "run", server.url + "/openapi.json",
             "-H", f"Authorization: Bearer {tokens['A']}",
             "--checks", "not_a_server_error", "--exclude-path", "/v1/stream",
             "--max-examples", "60", "--seed", "20261123", "--workers", "1"],
            capture_output=True, text=True, timeout=600, cwd=tmp_path)  # its cache stays there
        summary = proc.stdout[-3000:]
        assert proc.returncode == 0, summary + proc.stderr[-2000:]
        cases = re.search(r"(\d+) generated, (\d+) passed", summary)
        assert cases is not None, summary
        generated = int(cases.group(1))
        print(f"schemathesis: {generated} cases, none answered 5xx")
        assert generated > 300
        # every generated write was refused (none can carry a party's signature), so:
        assert server.size() == size
    finally:
        assert stop(server) == 0
    deployment = Deployment.open(dir)
    store = deployment.store(readonly=True)
    assert verify_store(store, deployment.verifier_key).ok
    store.close()
