"""The deployment's `[console]` settings in accord.toml (all optional).

`tile_url` replaces the shipped offline base map (Natural Earth outlines) by raster tiles of
the deployment's own (`https://tiles.example/{z}/{x}/{y}.png`); its origin is added to the
page's Content-Security-Policy for images, and nothing else is. `tile_attribution` is shown
on the map. Pure but for `load`, which reads the file.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from accord.errors import DeploymentError

CONFIG = "accord.toml"
_ACCEPTED_URL = ("an http(s) URL template with {z}, {x} and {y} on a plain host[:port], e.g. "
                 "https://tiles.example/{z}/{x}/{y}.png")
# The host part goes into the Content-Security-Policy header as is: a DNS name or an IP
# address and a port, nothing else (no user, no {s} template, no control character).
_HOST = re.compile(r"(?:(?:[A-Za-z0-9-]+\.)*[A-Za-z0-9-]+|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?")


def _plain_host(netloc: str) -> bool:
    """`netloc` is a host name or IP address with an optional port (1 to 65535)."""
    m = _HOST.fullmatch(netloc)
    return m is not None and (m[1] is None or 0 < int(m[1]) < 65536)


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    tile_url: str | None = None
    tile_attribution: str = ""

    def __post_init__(self) -> None:
        if self.tile_url is not None:
            parts = urlsplit(self.tile_url)
            if (parts.scheme not in ("http", "https") or not _plain_host(parts.netloc)
                    or any(ch in " \"'<>\\;," or ord(ch) < 0x20 or ord(ch) == 0x7f
                           for ch in self.tile_url)
                    or not all(f"{{{k}}}" in self.tile_url for k in "zxy")):
                raise DeploymentError(f"[console] tile_url = {self.tile_url!r} is not usable",
                                      accepted=_ACCEPTED_URL)
        if len(self.tile_attribution) > 200 or any(ord(c) < 0x20 for c in
                                                    self.tile_attribution):
            raise DeploymentError("[console] tile_attribution must be one line of at most "
                                  "200 characters", accepted="plain text")

    @property
    def tile_origin(self) -> str | None:
        """The scheme and host the tiles come from (for the CSP's img-src)."""
        if self.tile_url is None:
            return None
        parts = urlsplit(self.tile_url)
        return f"{parts.scheme}://{parts.netloc}"

    def to_json(self) -> dict[str, Any]:
        return {"tile_url": self.tile_url, "tile_attribution": self.tile_attribution}

    @staticmethod
    def load(dir: Path) -> ConsoleSettings:
        try:
            doc = tomllib.loads((Path(dir) / CONFIG).read_text()).get("console", {})
        except FileNotFoundError:
            return ConsoleSettings()
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise DeploymentError(f"cannot read {Path(dir) / CONFIG}: {exc}") from None
        if not isinstance(doc, dict):
            raise DeploymentError("[console] must be a table", accepted="tile_url, "
                                  "tile_attribution")
        unknown = sorted(set(doc) - {"tile_url", "tile_attribution"})
        if unknown:
            raise DeploymentError(f"unknown [console] settings {unknown}",
                                  accepted="tile_url, tile_attribution")
        url, attribution = doc.get("tile_url"), doc.get("tile_attribution", "")
        if url is not None and not isinstance(url, str):
            raise DeploymentError("[console] tile_url must be a string", accepted=_ACCEPTED_URL)
        if not isinstance(attribution, str):
            raise DeploymentError("[console] tile_attribution must be a string",
                                  accepted="plain text")
        return ConsoleSettings(url, attribution)
