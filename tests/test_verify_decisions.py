"""`accord verify` re-makes the operator's decisions: a log whose every signature, node and
checkpoint is right but whose findings are not what the strategic check gives is reported,
at the entry of the filing (a missing finding) or of the finding (an extra one)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from accord.log.event import Entry
from accord.log.merkle import Frontier
from accord.log.note import Checkpoint, sign_note
from accord.picture.fold import Picture
from accord.rules.notice import Finding, Notice
from accord.scenarios import latakia
from accord.service.deployment import Deployment
from accord.service.writer import strategic_check
from accord.timefmt import format_time
from accord.verify import Report, verify_store
from support import T0, RawDb, World, volume

Doctor = Callable[[list[Finding]], list[Finding]]


def crooked(w: World, doctor: Doctor) -> None:
    """The operator's writer, with its check's answer changed by `doctor` before it is logged:
    every entry is still signed with the log key, every node and checkpoint is right."""
    writer = w.writer

    def check(notice: Notice, received_at, previous):  # type: ignore[no-untyped-def]
        return doctor(strategic_check(writer.store, writer.picture, notice, received_at,
                                      previous))

    writer._check = check  # type: ignore[method-assign]


def verify(w: World) -> Report:
    return verify_store(w.store, (w.dir / "log.pub").read_text().strip())


def file_pair(w: World) -> int:
    """B's transit, then A's strike over it (a conflict); the strike's entry index."""
    w.file("B", {"kind": "transit", "volumes": [volume()]}, notice="B-1")
    w.clock.advance(timedelta(seconds=1))
    return w.file("A", {"kind": "strike", "volumes": [volume(35.02, 35.0)]},
                  notice="A-1").index


def problems(report: Report) -> list[str]:
    return [str(p) for p in report.problems]


def test_honest_log_verifies_and_every_filing_was_checked(world: World) -> None:
    file_pair(world)
    world.amend("A", "A-1", 1, {"kind": "strike", "volumes": [volume(35.03, 35.0)]})
    report = verify(world)
    assert report.ok, report.problems
    assert report.checks == 3
    assert sum(f.kind == "conflict" for f in world.writer.picture.findings.values()) == 2


def test_a_conflict_left_out_is_reported_at_the_filing(world: World) -> None:
    crooked(world, lambda fs: [f for f in fs if f.kind != "conflict"])
    strike = file_pair(world)
    assert not any(f.kind == "conflict" for f in world.writer.picture.findings.values())
    report = verify(world)
    assert len(report.problems) == 1, report.problems
    [p] = problems(report)
    assert p.startswith(f"entry {strike}: ") and "conflict" in p and "B-1" in p
    assert "does not record" in p


def test_a_conflict_left_out_of_an_amendment_is_reported(world: World) -> None:
    file_pair(world)
    crooked(world, lambda fs: [f for f in fs if f.kind != "conflict"])
    world.clock.advance(timedelta(seconds=1))
    amend = world.amend("A", "A-1", 1, {"kind": "strike", "volumes": [volume(35.03, 35.0)]})
    got = problems(verify(world))
    [p] = got
    assert p.startswith(f"entry {amend.index}: ") and "A-1 v2 conflicts with B-1" in p


def test_an_invented_finding_is_reported_at_its_entry(world: World) -> None:
    invented = Finding(kind="conflict", notice="B-2", version=1, parties=("A", "B"),
                       action="finding", details={"party": "B", "other": "A-9",
                                                  "other_version": 1, "other_party": "A",
                                                  "hazard": False, "horizontal_m": 0,
                                                  "vertical_m": 0, "start": "x", "end": "y",
                                                  "volumes": [[0, 0]]})
    crooked(world, lambda fs: [*fs, invented])
    out = world.file("B", {"kind": "transit", "volumes": [volume(40.0, 40.0)]}, notice="B-2")
    [(f, _)] = out.findings
    got = problems(verify(world))
    [p] = got
    assert p.startswith(f"entry {f.entry}: ") and "is not one the strategic check of entry " \
        f"{out.index} gives" in p


def test_a_late_notice_without_its_late_finding_is_reported(world: World) -> None:
    crooked(world, lambda fs: [f for f in fs if f.kind != "late_notice"])
    late = world.file("A", {"kind": "strike",
                            "volumes": [volume(start=T0 + timedelta(minutes=5))]}, notice="A-1")
    assert late.findings == []
    got = problems(verify(world))
    [p] = got
    assert p.startswith(f"entry {late.index}: ") and "late_notice" in p


def test_a_finding_changed_in_its_details_is_reported(world: World) -> None:
    def nearer(fs: list[Finding]) -> list[Finding]:
        return [replace(f, details={**f.details, "horizontal_m": 9999.0})
                if f.kind == "conflict" else f for f in fs]

    crooked(world, nearer)
    strike = file_pair(world)
    got = problems(verify(world))
    assert len(got) == 2, got  # the logged one is extra, the true one missing
    assert any(p.startswith(f"entry {strike + 1}: ") and "is not one" in p for p in got)
    assert any(p.startswith(f"entry {strike}: ") and "does not record" in p for p in got)


def test_a_logged_filing_that_breaks_a_reject_rule_is_reported(world: World) -> None:
    crooked(world, lambda fs: [f for f in fs if f.action != "reject"])
    drill = world.file("A", {"kind": "drill", "volumes": [volume(
        start=T0 + timedelta(minutes=10))]}, notice="D-1")  # lead time 60 min, late: reject
    got = problems(verify(world))
    assert any(p.startswith(f"entry {drill.index}: ") and "must have refused it" in p
               for p in got), got


def test_findings_out_of_the_writers_order_are_reported(world: World) -> None:
    crooked(world, lambda fs: list(reversed(fs)))
    soon = T0 + timedelta(minutes=5)
    world.file("B", {"kind": "transit", "volumes": [volume(start=soon)]}, notice="B-1")
    late = world.file("A", {"kind": "strike", "volumes": [volume(35.02, 35.0, start=soon)]},
                      notice="A-1")
    assert [f.kind for f, _ in late.findings] == ["conflict", "late_notice"]
    assert not verify(world).ok


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("demo")
    assert latakia.run(Console(file=io.StringIO(), width=120), keep=base) == 0
    return base


@pytest.mark.parametrize("name", ["as-it-happened", "in-time"])
def test_the_demo_stores_verify_with_their_decisions(demo: Path, name: str) -> None:
    d = Deployment.open(demo / name)
    store = d.store(readonly=True)
    try:
        report = verify_store(store, d.verifier_key)
    finally:
        store.close()
    assert report.ok, report.problems
    assert report.checks >= 2 and report.findings >= 1


def test_a_zone_violation_left_out_is_reported(world: World) -> None:
    crooked(world, lambda fs: [f for f in fs if f.kind != "zone_violation"])
    strike = world.file("A", {"kind": "strike", "volumes": [volume(36.0, 36.0)]}, notice="A-1")
    got = problems(verify(world))
    [p] = got
    assert p.startswith(f"entry {strike.index}: ") and "zone_violation" in p and "base" in p


# -- escalations: made by the timer from deadlines ---------------------------------------------


def send(w: World, party: str, mid: str, minutes: int) -> None:
    w.writer.submit(w.sub(party, "message", {"message": mid, "text": "check",
                                             "ack_minutes": minutes}))


def test_honest_escalations_verify(world: World) -> None:
    send(world, "A", "A:M1", 1)
    world.file("A", {"kind": "strike", "volumes": [volume()]}, notice="S")
    send(world, "B", "B:M2", 2)
    world.clock.advance(timedelta(minutes=10))
    assert len(world.writer.escalate()) == 6
    world.writer.submit(world.sub("B", "message.ack", {"message": "A:M1"}))  # late, still logged
    report = verify(world)
    assert report.ok, report.problems


def test_an_escalation_before_its_deadline_is_reported(world: World) -> None:
    send(world, "A", "A:M1", 5)
    picture = world.writer.picture
    picture.overdue = lambda at: Picture.overdue(picture, at + timedelta(hours=1))  # type: ignore[method-assign]
    world.clock.advance(timedelta(minutes=1))
    finding_index, _ = world.writer.escalate()
    got = problems(verify(world))
    [p] = got
    assert p.startswith(f"entry {finding_index}: ") and "before its deadline" in p


def test_an_escalation_left_out_of_a_pass_is_reported(world: World) -> None:
    send(world, "A", "A:M1", 1)
    send(world, "A", "A:M2", 2)
    picture = world.writer.picture
    picture.overdue = lambda at: [d for d in Picture.overdue(picture, at)  # type: ignore[method-assign]
                                  if d.message != "A:M1"]
    world.clock.advance(timedelta(minutes=3))
    finding_index, _ = world.writer.escalate()
    got = problems(verify(world))
    [p] = got
    assert p.startswith(f"entry {finding_index}: ") and "leaves out message:A:M1:B" in p


def test_an_escalation_of_what_was_acknowledged_is_reported(world: World) -> None:
    send(world, "A", "A:M1", 1)
    picture = world.writer.picture
    [due] = picture.pending.values()
    world.writer.submit(world.sub("B", "message.ack", {"message": "A:M1"}))
    picture.overdue = lambda at: [due]  # type: ignore[method-assign]
    world.clock.advance(timedelta(minutes=3))
    finding_index, _ = world.writer.escalate()
    got = problems(verify(world))
    [p] = got
    assert p.startswith(f"entry {finding_index}: ") and "no such acknowledgement was owed" in p


def test_an_escalation_body_changed_is_reported(world: World,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from accord.service import writer as writer_module

    real = writer_module.overdue_records

    def other_contact(*args: Any) -> Any:
        finding, make = real(*args)
        return finding, lambda fid, seq: {**make(fid, seq), "contact": "nobody"}

    monkeypatch.setattr(writer_module, "overdue_records", other_contact)
    send(world, "A", "A:M1", 1)
    world.clock.advance(timedelta(minutes=3))
    _, escalation_index = world.writer.escalate()
    got = problems(verify(world))
    [p] = got
    assert p.startswith(f"entry {escalation_index}: ") and "not the one the writer makes" in p


# -- a finding deleted from the store, the tree rebuilt and re-signed with the log key ---------


def delete_last_entry_and_reseal(dir: Path) -> None:
    """What an operator with the log key (and the database) can do: drop the last entry, cut
    the tree back, sign a new checkpoint, and make the projection agree."""
    d = Deployment.open(dir)
    con = RawDb(dir)
    last = con.execute("SELECT MAX(idx) FROM entries").fetchone()[0]
    gone = Entry.decode(bytes(con.execute("SELECT entry FROM entries WHERE idx = ?",
                                          (last,)).fetchone()[0]))
    before = Entry.decode(bytes(con.execute("SELECT entry FROM entries WHERE idx = ?",
                                            (last - 1,)).fetchone()[0]))
    con.execute("DELETE FROM entries WHERE idx = ?", (last,))
    con.execute("DELETE FROM nodes WHERE ((idx + 1) << level) > ?", (last,))  # held it
    con.execute("DELETE FROM checkpoints WHERE size > ?", (last,))
    frontier = Frontier()
    for (h,) in con.execute("SELECT hash FROM nodes WHERE level = 0 ORDER BY idx"):
        frontier.append(bytes(h))
    assert frontier.size == last
    note = sign_note(Checkpoint(d.origin, last, frontier.root()).body(), [d.signer()])
    con.execute("INSERT INTO checkpoints(size, note) VALUES(?, ?)", (last, note))
    con.execute("DELETE FROM p_findings WHERE entry = ?", (last,))
    if gone.event.seq > 1:
        con.execute("UPDATE p_seqs SET seq = ? WHERE party = ?", (gone.event.seq - 1,
                                                                  gone.event.party))
    else:
        con.execute("DELETE FROM p_seqs WHERE party = ?", (gone.event.party,))
    con.execute("UPDATE p_state SET v = ? WHERE k = 'size'", (json.dumps(last),))
    con.execute("UPDATE p_state SET v = ? WHERE k = 'last_received'",
                (json.dumps(format_time(before.received_at, micro=True)),))
    con.commit()
    con.close()


def test_a_conflict_deleted_and_the_log_resigned_is_reported(world: World) -> None:
    strike = file_pair(world)  # the strike's conflict finding is the last entry
    [conflict] = world.writer.picture.findings.values()
    assert conflict.kind == "conflict" and conflict.entry == strike + 1 == world.store.size() - 1
    world.store.close()
    delete_last_entry_and_reseal(world.dir)
    d = Deployment.open(world.dir)
    store = d.store(readonly=True)
    report = verify_store(store, d.verifier_key, origin=d.origin)
    store.close()
    assert len(report.problems) == 1, report.problems  # the tree, checkpoints and tables agree
    p = str(report.problems[0])
    assert p.startswith(f"entry {strike}: the strategic check gives a conflict finding "
                        f"(A-1 v1 conflicts with B-1 v1") and "does not record" in p


def test_accord_verify_names_the_wrong_decision_and_exits_1(world: World) -> None:
    file_pair(world)
    world.store.close()
    delete_last_entry_and_reseal(world.dir)
    proc = subprocess.run([sys.executable, "-m", "accord", "verify", "-d", str(world.dir)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "300"})
    assert proc.returncode == 1, proc.stderr
    assert "FAILED 1 problem(s)" in proc.stderr and "internal error" not in proc.stderr
    assert "the strategic check gives a conflict finding" in proc.stderr


def test_accord_verify_says_the_decisions_were_checked(world: World) -> None:
    file_pair(world)
    world.store.close()
    run = [sys.executable, "-m", "accord", "verify", "-d", str(world.dir)]
    env = {**os.environ, "COLUMNS": "300"}
    proc = subprocess.run(run, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "the strategic check of 2 filings and amendments, run again" in proc.stdout
    as_json = subprocess.run([*run, "--json"], capture_output=True, text=True, timeout=120,
                             env=env)
    assert json.loads(as_json.stdout)["checks"] == 2
