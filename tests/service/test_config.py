"""`[service]` in accord.toml: every setting is checked when the service starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from accord.errors import DeploymentError
from accord.service.deployment import Deployment
from accord.service.runtime import ServiceConfig
from accord.timefmt import SystemClock


def test_the_defaults_are_usable() -> None:
    c = ServiceConfig()
    assert c.stream_backlog >= 1 and c.rate_per_second > 0 and 0 <= c.port <= 65535


@pytest.mark.parametrize("setting", [
    {"rate_per_second": 0}, {"rate_per_second": -1.0}, {"burst": 1.5}, {"burst": 0},
    {"port": 70000}, {"port": -5}, {"stream_backlog": 0}, {"write_timeout_s": -1},
    {"max_open_alerts": True}, {"host": ""}, {"host": 7}, {"max_batch": "512"},
    {"header_timeout_s": float("nan")},
])
def test_an_unusable_setting_is_refused_by_name(setting: dict[str, Any]) -> None:
    [(name, _)] = setting.items()
    with pytest.raises(DeploymentError, match=name):
        ServiceConfig(**setting)


def test_accord_toml_is_checked_when_loaded(tmp_path: Path) -> None:
    Deployment.init(tmp_path / "d", "config.test/log", SystemClock())
    with (tmp_path / "d" / "accord.toml").open("a") as fh:
        fh.write("\n[service]\nstream_backlog = -3\n")
    with pytest.raises(DeploymentError, match="stream_backlog"):
        ServiceConfig.load(tmp_path / "d")
