"""The HTTP edge against a real `accord serve`: slow clients cannot exhaust descriptors, a
second server of the same folder refuses before it binds, streams are capped per party."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from api_support import Server, make_deployment, start, stop

EDGE = """header_timeout_s = 2
body_timeout_s = 2
max_connections_per_client = 50
max_streams_per_party = 2"""


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    dir = tmp_path_factory.mktemp("edge") / "dep"
    keys, tokens = make_deployment(dir, service=EDGE)
    s = start(dir, keys, tokens)
    yield s
    assert stop(s) == 0


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def addr(server: Server) -> tuple[str, int]:
    u = urlsplit(server.url)
    assert u.hostname is not None and u.port is not None
    return u.hostname, u.port


def attacker(server: Server) -> socket.socket:
    """A connection from another loopback address (Linux routes all of 127/8 to lo), so the
    per-address cap applies to the attacker and not to the parties on 127.0.0.1."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.2", 0))
    sock.settimeout(5)
    sock.connect(addr(server))
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(0.01)
    try:
        return sock.recv(4096, socket.MSG_PEEK) is not None  # data (408) or b"" (closed)
    except (BlockingIOError, TimeoutError):
        return False
    except OSError:
        return True


def test_trickling_connections_do_not_exhaust_descriptors(edge: Server) -> None:
    pid = edge.proc.pid
    before = fds(pid)
    socks = []
    try:
        for _ in range(300):
            s = attacker(edge)
            s.sendall(b"GET /v1/me HTTP/1.1\r\nHost: x\r\n")
            socks.append(s)
        peak = fds(pid)
        started = time.monotonic()
        while time.monotonic() - started < 1.5:  # trickle a header byte now and then
            for s in socks:
                with contextlib.suppress(OSError):
                    s.send(b"X")
            peak = max(peak, fds(pid))
            # another party's request and the readiness probe still answer
            me = httpx.get(edge.url + "/v1/me", timeout=5,
                           headers={"Authorization": f"Bearer {edge.tokens['B']}"})
            assert me.status_code == 200 and me.json()["party"] == "B"
            assert httpx.get(edge.url + "/readyz", timeout=5).status_code == 200
            time.sleep(0.3)
        assert peak - before <= 50 + 5, (before, peak)  # the per-address cap, and a margin
        refused_at_once = sum(closed_by_server(s) for s in socks)
        assert refused_at_once >= 300 - 50
        time.sleep(2.5)  # past the header deadline: every admitted trickler is gone too
        assert sum(closed_by_server(s) for s in socks) == 300
        assert fds(pid) <= before + 5
    finally:
        for s in socks:
            s.close()


def test_header_deadline_answers_408(edge: Server) -> None:
    with socket.create_connection(addr(edge), timeout=10) as s:
        s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        answer = s.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert 1.5 < time.monotonic() - started < 5


def test_body_deadline_closes_a_slow_body(edge: Server) -> None:
    size = edge.size()
    with socket.create_connection(addr(edge), timeout=10) as s:
        s.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Authorization: Bearer " + edge.tokens["A"].encode() +
                  b"\r\nContent-Length: 200\r\n\r\n{\"event\":")
        started = time.monotonic()
        while s.recv(4096):
            pass
        assert time.monotonic() - started < 5
    assert edge.size() == size


def test_oversized_headers_answer_431(edge: Server) -> None:
    with socket.create_connection(addr(edge), timeout=10) as s:
        s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n")
        try:
            for _ in range(100):
                s.sendall(b"X-Pad: " + b"a" * 1000 + b"\r\n")
        except OSError:
            pass
        assert s.recv(4096).startswith(b"HTTP/1.1 431")


def test_open_streams_are_capped_per_party(edge: Server) -> None:
    headers = {"Authorization": f"Bearer {edge.tokens['C']}"}
    timeout = httpx.Timeout(10, read=30)
    with httpx.Client(timeout=timeout) as c1, httpx.Client(timeout=timeout) as c2, \
            c1.stream("GET", edge.url + "/v1/stream", headers=headers) as r1, \
            c2.stream("GET", edge.url + "/v1/stream", headers=headers) as r2:
        assert r1.status_code == r2.status_code == 200
        third = httpx.get(edge.url + "/v1/stream", headers=headers, timeout=10)
        assert third.status_code == 429 and third.json()["field"] == "stream"
        other = {"Authorization": f"Bearer {edge.tokens['A']}"}
        with httpx.stream("GET", edge.url + "/v1/stream", headers=other,
                          timeout=timeout) as ra:
            assert ra.status_code == 200  # another party's cap is its own
    deadline = time.monotonic() + 10  # the closed streams are counted out
    while time.monotonic() < deadline:
        with httpx.stream("GET", edge.url + "/v1/stream", headers=headers,
                          timeout=timeout) as r:
            if r.status_code == 200:
                return
        time.sleep(0.2)
    raise AssertionError("closed streams still count against the party")


def test_second_serve_refuses_before_it_binds(edge: Server) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "accord", "serve", str(edge.dir),
                             "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2)  # it waits for the writer lock, without listening
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert "serving" not in out
    assert "another writer" in err and "Traceback" not in err
    assert httpx.get(edge.url + "/readyz").status_code == 200  # the first one still serves


@pytest.mark.parametrize("port", ["70000", "-5"])
def test_serve_refuses_a_port_out_of_range(edge: Server, port: str) -> None:
    out = subprocess.run([sys.executable, "-m", "accord", "serve", str(edge.dir), "--port",
                          port], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "serving" not in out.stdout
    assert "Traceback" not in out.stderr
    assert out.stderr.startswith("error") and "not a TCP port" in out.stderr.splitlines()[0]
