"""The console's page, files and the API documentation page as served by `accord serve`:
open (no data), typed, under a strict Content-Security-Policy, never a path outside the
package's files, and `/docs` loading nothing from another host."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import httpx
import pytest
from api_support import Server

from accord.console.settings import ConsoleSettings
from accord.console.site import STATIC, csp, static_files
from accord.errors import DeploymentError


def test_the_page_and_its_files_are_served_typed_with_a_strict_policy(server: Server) -> None:
    page = httpx.get(server.url + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S)
    assert scripts and all('src="/' in attrs and not body.strip() for attrs, body in scripts)
    assert not re.search(r"<[^>]+\son[a-z]+=", page.text)  # no inline handler either
    js = httpx.get(server.url + "/console/js/main.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    css = httpx.get(server.url + "/console/console.css")
    assert css.headers["content-type"].startswith("text/css")
    # the API's answers carry the policy too
    assert "content-security-policy" in httpx.get(server.url + "/healthz").headers


def test_only_the_package_files_are_served(server: Server) -> None:
    for path in ("/console/../api/app.py", "/console/%2e%2e/%2e%2e/keys.py",
                 "/console/js/../../site.py", "/console/nope.js", "/console/",
                 "/console//etc/passwd", "/console/.hidden"):
        r = httpx.get(server.url + path)
        assert r.status_code in (401, 404), (path, r.status_code)
        assert r.headers["content-type"] == "application/problem+json"
    # and nothing under /console/ reaches an API route without a token
    r = httpx.get(server.url + "/console/../v1/picture")
    assert r.status_code in (401, 404)
    assert "notices" not in r.text


def test_the_docs_page_loads_only_this_origin(server: Server) -> None:
    page = httpx.get(server.url + "/docs")
    assert page.status_code == 200
    refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert refs and all(r.startswith("/") and not r.startswith("//") for r in refs), refs
    for ref in refs:
        assert httpx.get(server.url + ref).status_code == 200, ref
    assert "cdn" not in page.text.lower()
    assert httpx.get(server.url + "/redoc").status_code == 401  # gone: it loaded from a CDN


def test_new_reads_answer_for_the_party(server: Server) -> None:
    h = {"Authorization": f"Bearer {server.tokens['A']}"}
    t = httpx.get(server.url + "/v1/time", headers=h).json()
    assert t["scenario"] is False and t["now"].endswith("Z")
    tracks = httpx.get(server.url + "/v1/tracks", headers=h).json()
    assert tracks["tracks"] == [] and tracks["at"].endswith("Z")
    assert httpx.get(server.url + "/v1/time").status_code == 401


def test_vendored_files_match_their_manifest() -> None:
    vendor = STATIC / "vendor"
    lines = (vendor / "MANIFEST.sha256").read_text().splitlines()
    listed = {}
    for line in lines:
        digest, name = line.split(maxsplit=1)
        listed[name.removeprefix("./")] = digest
    on_disk = {p.relative_to(vendor).as_posix() for p in vendor.rglob("*")
               if p.is_file() and p.name != "MANIFEST.sha256"}
    assert set(listed) == on_disk
    for name, digest in listed.items():
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, name
    for lib in ("leaflet", "topojson-client", "world-atlas", "natural-earth-east-med",
                "swagger-ui"):
        assert (vendor / lib / "LICENSE").is_file(), lib


def test_static_listing_leaves_out_dotfiles(tmp_path: Path) -> None:
    (tmp_path / "a.js").write_text("x")
    (tmp_path / ".secret").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.css").write_text("x")
    assert set(static_files(tmp_path)) == {"a.js", "sub/b.css"}


def test_console_settings(tmp_path: Path) -> None:
    assert ConsoleSettings.load(tmp_path) == ConsoleSettings()
    (tmp_path / "accord.toml").write_text(
        '[console]\ntile_url = "https://tiles.example.org/{z}/{x}/{y}.png"\n')
    s = ConsoleSettings.load(tmp_path)
    assert s.tile_origin == "https://tiles.example.org"
    assert "img-src 'self' data: https://tiles.example.org;" in csp(s)
    for bad in ('tile_url = "javascript:alert(1)"', 'tile_url = "https://x/{z}/{x}.png"',
                "tile_url = \"https://x.org/{z}/{x}/{y}.png; script-src *\"",
                'tile_url = 5', 'zoom = 3'):
        (tmp_path / "accord.toml").write_text(f"[console]\n{bad}\n")
        with pytest.raises(DeploymentError):
            ConsoleSettings.load(tmp_path)
