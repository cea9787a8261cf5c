"""The CLI on bad input (issue 7, item 20): one clear line and a non-zero exit, never a
traceback, a hang on a pipe, or an endless read of `/dev/zero`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cli_support import accord, deployment, notice_doc


@pytest.fixture(scope="module")
def cwd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    here = tmp_path_factory.mktemp("bad-input")
    deployment(here)
    (here / "n.json").write_text(json.dumps(notice_doc(44.0)))
    accord(here, "notice", "file", "n.json", "--key", "IL.key", "-d", "dep", "--receipt",
           "r.json")
    os.mkfifo(here / "pipe")
    return here


def refused(cwd: Path, *args: str, says: str) -> str:
    """Run the CLI (a hang fails the test by timeout) and check it refused in one line."""
    proc = accord(cwd, *args, ok=False, timeout=30)
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr + proc.stdout
    first = proc.stderr.splitlines()[0] if proc.stderr else ""
    assert first.startswith("error "), proc.stderr
    assert says in first, proc.stderr
    return first


def test_a_missing_receipt(cwd: Path) -> None:
    refused(cwd, "verify", "--receipt", "missing.json", "--key", "dep/log.pub",
            says="receipt missing.json does not exist")


@pytest.mark.parametrize("args", [
    ("verify", "--receipt", "/dev/zero", "--key", "dep/log.pub"),
    ("verify", "--receipt", "r.json", "--key", "/dev/zero"),
    ("notice", "file", "n.json", "--key", "/dev/zero", "-d", "dep"),
    ("notice", "file", "/dev/zero", "--key", "IL.key", "-d", "dep"),
    ("agreement", "sign", "/dev/zero", "--key", "IL.key"),
])
def test_dev_zero_is_never_read(cwd: Path, args: tuple[str, ...]) -> None:
    refused(cwd, *args, says="/dev/zero is a character device, not a regular file")


@pytest.mark.parametrize("args", [
    ("verify", "--receipt", "pipe", "--key", "dep/log.pub"),
    ("verify", "--receipt", "r.json", "--key", "pipe"),
    ("notice", "file", "n.json", "--key", "pipe", "-d", "dep"),
    ("notice", "file", "pipe", "--key", "IL.key", "-d", "dep"),
    ("verify", "--receipt", "r.json", "--key", "dep/log.pub", "--checkpoint", "pipe"),
])
def test_a_named_pipe_is_refused_without_waiting_for_a_writer(cwd: Path,
                                                              args: tuple[str, ...]) -> None:
    refused(cwd, *args, says="pipe is a named pipe, not a regular file")


def test_files_past_the_cap(cwd: Path) -> None:
    big = cwd / "big.json"
    with big.open("wb") as fh:
        fh.truncate(5 * 1024 * 1024)  # sparse: 5 MiB of NULs
    refused(cwd, "notice", "file", "big.json", "--key", "IL.key", "-d", "dep",
            says="more than 4,194,304")
    refused(cwd, "verify", "--receipt", "big.json", "--key", "dep/log.pub",
            says="more than 4,194,304")
    key = cwd / "big.key"
    with key.open("wb") as fh:
        fh.truncate(2 * 1024 * 1024)
    refused(cwd, "notice", "file", "n.json", "--key", "big.key", "-d", "dep",
            says="more than 1,048,576")


def test_receipts_that_are_not_receipts(cwd: Path) -> None:
    (cwd / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    refused(cwd, "verify", "--receipt", "deep.json", "--key", "dep/log.pub",
            says="nested too deeply")
    (cwd / "text.json").write_text("not json")
    refused(cwd, "verify", "--receipt", "text.json", "--key", "dep/log.pub",
            says="receipt is not JSON")
    (cwd / "bin.json").write_bytes(b"\xff\xfe{}")
    refused(cwd, "verify", "--receipt", "bin.json", "--key", "dep/log.pub",
            says="not UTF-8")
    refused(cwd, "verify", "--receipt", "r.json", "--key", "n.json",
            says="does not hold a log verifier key")
    refused(cwd, "verify", "--receipt", "r.json", "--key", "no-such-key",
            says="neither the log's verifier key nor a file")


def test_init_where_it_cannot(cwd: Path) -> None:
    refused(cwd, "init", "n.json", says="n.json exists and is not a folder")
    refused(cwd, "init", "n.json/dep", says="cannot create a deployment in n.json/dep")
    refused(cwd, "init", "/proc/self/accord-dep", says="cannot create a deployment")
    refused(cwd, "init", "dep", says="already holds a deployment")
    refused(cwd, "keygen", "XX", "-o", "/proc/self/xx.key", says="error")


def test_a_key_file_others_can_read_is_used_with_a_warning(cwd: Path) -> None:
    key = cwd / "IL.key"
    key.chmod(0o644)
    try:
        sent = accord(cwd, "message", "send", "hello", "--to", "RU", "--key", "IL.key",
                      "-d", "dep")
    finally:
        key.chmod(0o600)
    assert sent.stderr.startswith("warning IL.key is readable by others (mode 0644)")
    assert "chmod 600 IL.key" in sent.stderr and "Sent message" in sent.stdout
    quiet = accord(cwd, "message", "send", "again", "--to", "RU", "--key", "IL.key", "-d", "dep")
    assert "warning" not in quiet.stderr


def test_one_line_errors_name_no_python(cwd: Path) -> None:
    """The error line for a refusal is one line of text plus at most an `accepted:` line."""
    proc = accord(cwd, "verify", "--receipt", "missing.json", "--key", "dep/log.pub", ok=False)
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2 and 1 <= len(lines) <= 2
    assert all(not line.startswith("  File ") for line in lines)


def test_a_receipt_path_that_cannot_be_written_is_refused_before_filing(cwd: Path) -> None:
    before = json.loads(accord(cwd, "log", "checkpoint", "-d", "dep", "--json").stdout)["size"]
    refused(cwd, "notice", "file", "n.json", "--key", "IL.key", "-d", "dep", "--receipt",
            "no-such-folder/r.json", says="cannot write the receipt to no-such-folder/r.json")
    refused(cwd, "notice", "file", "n.json", "--key", "IL.key", "-d", "dep", "--receipt",
            "dep", says="cannot write the receipt to dep")
    after = json.loads(accord(cwd, "log", "checkpoint", "-d", "dep", "--json").stdout)["size"]
    assert after == before


def test_a_log_key_that_is_not_this_deployments_is_refused(cwd: Path) -> None:
    accord(cwd, "init", "other", "--origin", "cli.test/other")
    refused(cwd, "--log-key", "other/log.pub", "notice", "file", "n.json", "--key", "IL.key",
            "-d", "dep", says="not the log key you hold")
    same = accord(cwd, "--log-key", "dep/log.pub", "log", "receipt", "1", "-d", "dep")
    assert json.loads(same.stdout)["index"] == 1
