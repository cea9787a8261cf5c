"""Text from other parties never drives the reader's terminal (issue 7, item 19, output side).

The service refuses control characters in free text, but a store written before that rule, a
bug, or a hostile server can still hand them to the CLI. Here they come from a fake service
(every read endpoint the renderers use) and from a store edited directly, and every renderer
must show them as visible escapes.
"""

from __future__ import annotations

import json
import os
import pty
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cli_support import deployment

from accord.render import json_text, markup, printable

EVIL = "\x1b[2J\u202eevil\x9b31m"
RAW = ("\x1b", "\u202e", "\x9b")
AT = "2026-01-01T00:00:00.000000Z"

FINDING = {"finding": "F1", "kind": "conflict", "notice": "IL-N1", "version": 1,
           "parties": ["IL", "RU"], "action": "finding", "entry": 2, "raised_at": AT,
           "details": {"other": "RU-N1" + EVIL, "other_version": 1, "other_party": "RU",
                       "horizontal_m": 1000, "vertical_m": 0, "start": AT, "end": AT}}
PICTURE = {
    "at": AT, "party": "IL", "entries": 3,
    "notices": [{"id": "RU-N1" + EVIL, "party": "RU", "kind": "transit", "version": 1,
                 "state": "filed", "acks": [],
                 "volumes": [{"start": AT, "end": AT, "altitude": {
                     "lower": 0, "upper": 3000, "reference": "AMSL"}}]}],
    "findings": [FINDING],
    "messages": [{"id": "RU-M1", "from": "RU", "to": ["IL"], "text": "hello " + EVIL,
                  "deadline": AT, "acks": []}],
    "escalations": [{"escalation": "E1", "text": "call " + EVIL}],
}
ALERTS = [{"alert": "L1", "state": "open", "kind": "hazard", "change": "raised", "level": 2,
           "parties": ["IL"], "raised_at": AT, "updated_at": AT,
           "details": {"aircraft": "4XABC" + EVIL, "notice": "RU-N1", "inside": True}}]
STREAM = {"index": 5, "value": {"received_at": AT, "event": {
    "type": "message", "party": "RU" + EVIL, "body": {"message": "RU-M1", "text": EVIL}}}}
ENTRIES = [{"index": 0, "entry": json.dumps({"text": EVIL}, ensure_ascii=False)}]


class _Fake(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/v1/stream":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            data = json.dumps(STREAM, ensure_ascii=False)
            self.wfile.write(f"id: 5\nevent: message\ndata: {data}\n\n".encode())
            return
        body = {"/v1/picture": PICTURE, "/v1/findings": [FINDING], "/v1/alerts": ALERTS,
                "/v1/log/entries": ENTRIES}.get(path)
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        raw = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture(scope="module")
def fake() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Fake)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "accord", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, COLUMNS="400"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_one_escape_for_text_and_json() -> None:
    assert printable(EVIL) == "\\x1b[2J\\u202eevil\\x9b31m"
    from rich.text import Text

    shown = Text.from_markup(markup("[bold]" + EVIL)).plain  # what Rich puts on the screen
    assert shown == "[bold]\\x1b[2J\\u202eevil\\x9b31m"
    text = json_text({"t": EVIL, "ok": "Хмеймим ✈"})
    assert json.loads(text) == {"t": EVIL, "ok": "Хмеймим ✈"}  # the same value
    assert not any(c in text for c in RAW) and "Хмеймим ✈" in text  # readable, not ASCII-only
    for bidi in "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069":
        assert printable(bidi).startswith("\\u") and bidi not in json_text(bidi)


@pytest.mark.parametrize("args", [
    ("picture",), ("findings",), ("alerts",), ("watch",), ("log", "entries"),
    ("picture", "--json"), ("alerts", "--json"), ("watch", "--json"),
])
def test_every_renderer_escapes_what_the_service_sends(fake: str, tmp_path: Path,
                                                       args: tuple[str, ...]) -> None:
    proc = run(tmp_path, "--server", fake, "--token", "t", *args)
    out = proc.stdout + proc.stderr
    for raw in RAW:
        assert raw not in out, (args, out)
    assert "\\u202e" in out, out
    if "--json" not in args and args[0] != "log":
        assert "\\x1b[2J" in out, out  # shown, visibly, where it was


def test_a_store_edited_directly_cannot_drive_the_terminal(tmp_path: Path) -> None:
    """A message, a notice id and an entry holding controls, put into a store directly (the
    service refuses them): the picture and `log entry` on a terminal show them escaped, and
    `log entry` into a pipe or a file gives the exact bytes."""
    dep = deployment(tmp_path)
    run(tmp_path, "message", "send", "hello", "--to", "RU", "--key", "IL.key", "-d", "dep",
        "--id", "IL:M1")
    db = sqlite3.connect(tmp_path / "dep" / "accord.db")
    (row,) = db.execute("SELECT json FROM p_messages WHERE id = 'IL:M1'").fetchone(),
    msg = json.loads(row[0])
    msg["text"] = "hello " + EVIL
    db.execute("UPDATE p_messages SET json = ? WHERE id = 'IL:M1'",
               (json.dumps(msg, ensure_ascii=False),))
    db.commit()
    db.close()
    out = run(tmp_path, "picture", "-d", "dep").stdout
    assert not any(c in out for c in RAW) and "hello \\x1b[2J\\u202eevil" in out
    # an entry as stored, holding a bidi override and a C1 control inside a JSON string
    size = json.loads(run(tmp_path, "log", "checkpoint", "-d", "dep", "--json").stdout)["size"]
    stored = ('{"note":"' + "\u202eevil\x9b" + '"}').encode()
    db = sqlite3.connect(dep / "accord.db")
    db.execute("INSERT INTO entries(idx, entry) VALUES(?, ?)", (size, stored))
    db.commit()
    db.close()
    piped = subprocess.run([sys.executable, "-m", "accord", "log", "entry", str(size), "-d",
                            "dep"], cwd=tmp_path, capture_output=True, timeout=60)
    assert piped.returncode == 0 and piped.stdout == stored  # exact, no newline added
    leader, follower = pty.openpty()
    try:
        on_tty = subprocess.run([sys.executable, "-m", "accord", "log", "entry", str(size),
                                 "-d", "dep"], cwd=tmp_path, stdout=follower,
                                stderr=subprocess.PIPE, timeout=60)
        os.close(follower)
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(leader)
    assert on_tty.returncode == 0
    text = shown.decode()
    assert "\\u202eevil\\x9b" in text and not any(c in text for c in RAW)
    assert b"exact bytes" in on_tty.stderr
