"""Serving the console: the page at `/`, its files under `/console/`, the API's documentation
page at `/docs` (Swagger UI from the package, no outside host), and the security headers.

Files are served from a list made at start (every file under `static/`), so no request path
is ever joined to a directory: `/console/../x` and the like are simply not in the list. Each
file gets its type from its suffix (`.js`/`.mjs` set explicitly: some systems map `.js` to
text/plain, which breaks module scripts). Every response, the API's too, carries a strict
Content-Security-Policy: scripts and connections to this origin only, no inline script.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse, Response

from accord.console.settings import ConsoleSettings
from accord.errors import NotFound

STATIC = Path(__file__).parent / "static"
PREFIX = "/console/"
_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css",
          ".json": "application/json", ".html": "text/html; charset=utf-8",
          ".png": "image/png", ".svg": "image/svg+xml", ".txt": "text/plain; charset=utf-8",
          ".sha256": "text/plain; charset=utf-8", ".wav": "audio/wav"}
for _suffix, _type in (("text/javascript", ".js"), ("text/javascript", ".mjs")):
    mimetypes.add_type(_suffix, _type)


def csp(settings: ConsoleSettings) -> str:
    """The Content-Security-Policy of every response: nothing from another origin (but the
    deployment's own tiles, when it sets them), no inline script, no framing."""
    img = "'self' data:" + (f" {settings.tile_origin}" if settings.tile_origin else "")
    return ("default-src 'none'; script-src 'self'; style-src 'self'; "
            f"img-src {img}; connect-src 'self'; font-src 'self'; media-src 'self'; "
            "manifest-src 'self'; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'")


class SecurityHeaders:
    """ASGI middleware adding the CSP and its companions to every HTTP response."""

    def __init__(self, app: Any, policy: str) -> None:
        self.app = app
        self.headers = [(b"content-security-policy", policy.encode()),
                        (b"x-content-type-options", b"nosniff"),
                        (b"referrer-policy", b"no-referrer"),
                        (b"cross-origin-resource-policy", b"same-origin"),
                        (b"x-frame-options", b"DENY")]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        await self.app(scope, receive, with_headers)


def static_files(root: Path = STATIC) -> dict[str, Path]:
    """Every servable file, by its path under `/console/` (dotfiles left out)."""
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in
                                       p.relative_to(root).parts)}


def _file(path: Path) -> Response:
    kind = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] \
        or "application/octet-stream"
    # The page's own files change with the package: revalidate each time (cheap, ETag).
    return FileResponse(path, media_type=kind, headers={"Cache-Control": "no-cache"})


def mount(app: FastAPI, settings: ConsoleSettings) -> None:
    """Add the console's routes and headers to `app` (open routes: see `accord.api.auth`)."""
    files = static_files()
    app.add_middleware(SecurityHeaders, policy=csp(settings))

    @app.get("/", include_in_schema=False)
    def page() -> Response:
        """The console."""
        return _file(files["index.html"])

    @app.get("/docs", include_in_schema=False)
    def docs() -> Response:
        """The API's documentation (Swagger UI, served from the package)."""
        return _file(files["docs.html"])

    @app.get(PREFIX + "settings.json", include_in_schema=False)
    def console_settings() -> JSONResponse:
        """The deployment's console settings (a tile URL of its own, if any)."""
        return JSONResponse(settings.to_json(), headers={"Cache-Control": "no-cache"})

    @app.get(PREFIX + "{name:path}", include_in_schema=False)
    def static(name: str) -> Response:
        """One of the console's files."""
        path = files.get(name)
        if path is None:
            raise NotFound(f"no console file {name!r}", field="path",
                           accepted="a file the console ships")
        return _file(path)
