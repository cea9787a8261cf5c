"""Each benchmark runs at tiny size and prints its ratio against its baseline (or, for the
diagnostic ones without a baseline, wal.py and verify.py, its result lines).

Smoke tests, not timings: they assert that the benchmark runs to the end (the benchmarks
themselves refuse to print figures when the engines disagree or a command fails) and that it
prints the ratio line(s) it promises. The figures are taken by running bench/*.py in full.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RATIO = re.compile(r"^ratio .*: .*\d+(\.\d+)?x", re.MULTILINE)


def run(name: str, timeout: float = 120) -> str:
    env = dict(os.environ, COLUMNS="200")
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / name), "--quick"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-2000:] + proc.stdout[-2000:]
    return proc.stdout


def test_log_bench_runs_and_prints_its_ratios() -> None:
    out = run("log.py")
    assert "ratio group commit / max_batch=1, same threads and commands:" in out
    assert "ratio appender" in out
    assert "ratio proof by rebuilding / from stored nodes" in out
    assert len(RATIO.findall(out)) == 3


def test_strategic_bench_runs_and_prints_its_ratio() -> None:
    out = run("strategic.py")
    assert re.search(r"^ratio at 2,000 volumes, means over the same 20 checks: linear scan / "
                     r"indexed \d+\.\dx, numpy scan / indexed \d+\.\dx", out, re.MULTILINE)


def test_tactical_bench_runs_and_prints_its_ratios() -> None:
    out = run("tactical.py")
    assert "Every engine: the best of 2 runs" in out
    assert re.search(r"^ratio at 400 aircraft \(region\), best of 2 each: BlueSky C / Accord "
                     r"\d+\.\dx, one thread \d+\.\dx", out, re.MULTILINE)
    assert re.search(r"^ratio at 400 aircraft \(dense\)", out, re.MULTILINE)
    assert re.search(r"^ratio at 2,000 aircraft \(continent\)", out, re.MULTILINE)
    assert re.search(r"^ratio at 400 tracks, best of 2 cycles each: brute force / pruned "
                     r"\d+\.\dx", out, re.MULTILINE)


def test_ingest_bench_runs_and_prints_its_ratios() -> None:
    out = run("ingest.py", timeout=300)  # the PostgreSQL mode starts a server
    assert re.search(r"^ratio closed loop, group commit / max_batch=1, the same 60 filings: "
                     r"\d+\.\dx", out, re.MULTILINE)
    assert re.search(r"^ratio open loop at 40/s, the same filings: p99 max_batch=1 / group "
                     r"commit \d+\.\dx, achieved group commit / max_batch=1 \d+\.\dx", out,
                     re.MULTILINE)
    # At this load every filing is answered 200 in both modes, and both logs agree.
    assert "errors in all runs: 0" in out
    logged = re.findall(r"^(?:group commit|max_batch = 1|PostgreSQL, 2 processes): ([\d,]+) "
                        r"log entries, ([\d,]+) findings$", out, re.MULTILINE)
    assert len(logged) == 3 and logged[0] == logged[1] == logged[2]
    assert re.search(r"^ratio closed loop, PostgreSQL, 2 processes / SQLite group commit: "
                     r"\d+\.\d+x filings/s", out, re.MULTILINE)


def test_failover_bench_runs_and_prints_its_ratio() -> None:
    out = run("failover.py", timeout=300)
    assert re.search(r"^ratio, median restart / median failover: \d+\.\dx", out, re.MULTILINE)
    assert re.search(r"^PostgreSQL, failover to a follower: SIGKILL to first acknowledged "
                     r"write median [\d.]+ s, max [\d.]+ s; receipts [\d,]+, lost 0,", out,
                     re.MULTILINE)


def test_wal_bench_runs_and_reports() -> None:
    out = run("wal.py")
    assert re.search(r"^\d+ filings \(0 errors\) at 20/s x 3 for 2 s$", out, re.MULTILINE)
    assert re.search(r"^write latency: p50 [\d.]+ ms, p99 [\d.]+ ms", out, re.MULTILINE)


def test_verify_bench_runs_and_reports() -> None:
    out = run("verify.py")
    assert re.search(r"^verify: \d+ entries \(300 notices, \d+ findings\) in [\d.]+ s", out,
                     re.MULTILINE)


def test_reads_bench_runs_and_prints_its_ratios() -> None:
    out = run("reads.py")
    assert re.search(r"^ratio p99, baseline / read model: "
                     r"/v1/picture\?bbox \(100 km\) \d+\.\dx, /v1/notices/\{id\} \d+\.\dx, "
                     r"/v1/findings\?open=true \d+\.\dx, /v1/picture \d+\.\dx", out, re.MULTILINE)


def test_streams_bench_runs_and_prints_its_ratio() -> None:
    out = run("streams.py")
    assert re.search(r"^p99 added by \d+ streams: -?[\d.]+ ms", out, re.MULTILINE)
    assert RATIO.search(out)


def test_mirror_bench_runs_and_prints_its_ratio() -> None:
    out = run("mirror.py")
    assert "kept up" in out
    assert re.search(r"^ratio catch-up, fetch only / verified mirror, the same [\d,]+ entries: "
                     r"\d+\.\dx entries/s", out, re.MULTILINE)


def test_console_bench_runs_and_prints_its_ratio() -> None:
    out = run("console.py")
    assert re.search(r"^first full render: \d+\.\d\d s for 500 notices drawn", out, re.MULTILINE)
    assert re.search(r"^live update \(entry -> painted\): n=\d+ p50", out, re.MULTILINE)
    assert re.search(r"^aircraft update \(tracks -> painted\): n=[1-9]", out, re.MULTILINE)
    assert "longest main-thread task in the live period" in out
    assert len(RATIO.findall(out)) == 1


def test_stores_bench_runs_and_prints_its_ratios() -> None:
    out = run("stores.py")
    assert re.search(r"^ratio PostgreSQL / SQLite, log append through the writer, median of 1 "
                     r"rounds: \d+\.\d\dx", out, re.MULTILINE)
    assert re.search(r"^ratio PostgreSQL / SQLite, strategic check at 3,000 volumes: p50 "
                     r"\d+\.\d\dx, p99 \d+\.\d\dx", out, re.MULTILINE)


def test_witness_bench_runs_and_prints_its_ratio() -> None:
    out = run("witness.py")
    assert re.search(r"^ratio with/without witnesses: closed-loop filings/s \d+\.\d+x",
                     out, re.MULTILINE)
    assert "time to witnessed (quorum 2 of 3)" in out


def test_asof_bench_runs_and_prints_its_ratio() -> None:
    out = run("asof.py")
    assert re.search(r"^ratio median over the same T, fold from 0 / snapshot \+ tail: whole "
                     r"\d+\.\dx, area \d+\.\dx", out, re.MULTILINE)
    assert re.search(r"^start until ready \(s\): \d+\.\d\d", out, re.MULTILINE)
