"""The `[console]` tile URL's host goes into every response's Content-Security-Policy: only a
plain host[:port] is taken, so no setting can add a source, a directive or a character the
HTTP layer would refuse on every response."""

from __future__ import annotations

import pytest

from accord.console.settings import ConsoleSettings
from accord.console.site import csp
from accord.errors import DeploymentError


@pytest.mark.parametrize("url", [
    "https://tiles.example\x0b.org/{z}/{x}/{y}.png",     # a control character in the header
    "https://tiles.example\t/{z}/{x}/{y}.png",           # stripped by urlsplit, not by us
    "https://tiles.example\r\n/{z}/{x}/{y}.png",
    "https://{s}.tile.example/{z}/{x}/{y}.png",          # an invalid CSP source
    "https://user:pass@tiles.example/{z}/{x}/{y}.png",   # a credential in the header
    "https://tiles.exämple/{z}/{x}/{y}.png",             # non-ASCII in the header
    "https://tiles.example:99999/{z}/{x}/{y}.png",
])
def test_a_tile_url_whose_host_is_not_plain_is_refused(url: str) -> None:
    with pytest.raises(DeploymentError, match="tile_url"):
        ConsoleSettings(url)


@pytest.mark.parametrize(("url", "origin"), [
    ("https://tiles.example.org/{z}/{x}/{y}.png", "https://tiles.example.org"),
    ("http://127.0.0.1:8080/{z}/{x}/{y}.png?v=1", "http://127.0.0.1:8080"),
    ("http://[::1]:8080/t/{z}/{x}/{y}.png", "http://[::1]:8080"),
])
def test_a_plain_tile_host_is_the_only_source_added(url: str, origin: str) -> None:
    policy = csp(ConsoleSettings(url))
    assert f"img-src 'self' data: {origin}; " in policy
    assert policy.isascii() and policy.isprintable()
