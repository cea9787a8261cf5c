"""An event's identity and time (issue 7, items 4 and 5): a signature is valid in one log,
under one agreement; seq is exactly last + 1; issued_at lies near the receive time; old v1
logs still verify while the writer admits only v2."""

from __future__ import annotations

import base64
import copy
import json
import os
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from accord import commands
from accord.api.app import create_app
from accord.errors import (
    AccordError,
    InvalidInput,
    InvalidTime,
    ReplayedSeq,
    StaleVersion,
    WrongLog,
)
from accord.keys import PARTY_KEY, KeyFile
from accord.log.event import MAX_SEQ, Context, Entry, Event
from accord.log.merkle import leaf_hash
from accord.picture.fold import AGREEMENT_ISSUED_BEHIND, ISSUED_AHEAD, ISSUED_BEHIND
from accord.service.deployment import Deployment
from accord.service.runtime import Service, ServiceConfig, issue_token
from accord.service.writer import Submission, Writer, rebuild_picture
from accord.timefmt import ManualClock, format_time
from accord.verify import verify_store
from support import World, agreement_doc, make_world, volume

V1_LOG = Path(__file__).parent.parent / "data" / "v1-log"


def transit(n: int) -> dict[str, Any]:
    return {"notice": f"N{n}", "kind": "transit", "volumes": [volume(lon=10 + n * 0.5)]}


def unchanged(world: World, fn: Any, expected: type[AccordError]) -> AccordError:
    size = world.store.size()
    snap = copy.deepcopy(world.writer.picture.snapshot())
    with pytest.raises(expected) as exc:
        fn()
    assert world.store.size() == size
    assert world.writer.picture.snapshot() == snap
    return exc.value


@pytest.fixture
def twins(tmp_path: Path) -> tuple[World, World]:
    """Two deployments with the same parties and keys, under different log origins."""
    a = make_world(tmp_path / "a", origin="a.example/log")
    b = make_world(tmp_path / "b", origin="b.example/log", keys=a.keys)
    yield a, b
    a.writer.store.close()
    b.writer.store.close()


# -- item 4: one log, one agreement ---------------------------------------------------------


def test_an_event_signed_for_one_log_is_refused_by_another(twins: tuple[World, World]) -> None:
    a, b = twins
    sub = a.sub("A", "notice.file", transit(1))
    assert sub.event["log"] == "a.example/log" and sub.event["v"] == 2
    a.writer.submit(sub)
    err = unchanged(b, lambda: b.writer.submit(sub), WrongLog)
    assert err.field == "event.log" and "b.example/log" in (err.accepted or "")
    # The same event re-addressed to B no longer carries a valid signature.
    forged = Submission(event={**sub.event, "log": "b.example/log",
                               "agreement": b.writer.picture.agreement_hash()}, sig=sub.sig)
    unchanged(b, lambda: b.writer.submit(forged), AccordError)
    # Copied from A's log as stored: refused as well.
    stored = json.loads(a.store.entry(a.store.size() - 1))
    copied = Submission(event=stored["event"], sig=stored["sig"])
    unchanged(b, lambda: b.writer.submit(copied), WrongLog)


def test_an_agreement_signed_for_one_log_is_refused_by_another(tmp_path: Path) -> None:
    a = make_world(tmp_path / "a", origin="a.example/log")
    clock = ManualClock(a.clock.now())
    d = Deployment.init(tmp_path / "fresh", "fresh.example/log", clock)
    fresh = Writer(d.store(), d.signer(), clock)
    adopted = json.loads(a.store.entry(0))  # A's agreement, signed by every party
    for sub in (Submission(event=adopted["event"], sigs=adopted["sigs"]),
                commands.signed_by_all(agreement_doc(a.keys), a.keys.values(), clock.now(),
                                       "a.example/log")):
        with pytest.raises(WrongLog):
            fresh.submit(sub)
    assert fresh.store.size() == 0 and fresh.picture.agreement is None
    fresh.submit(commands.signed_by_all(agreement_doc(a.keys), a.keys.values(), clock.now(),
                                        "fresh.example/log"))
    assert fresh.picture.agreement is not None
    fresh.store.close()
    a.writer.store.close()


def amend(world: World, keys: dict[str, KeyFile], **over: Any) -> None:
    leaf = world.writer.picture.agreement_hash()
    version = world.writer.picture.require_agreement().version + 1
    proposal = commands.propose_agreement(agreement_doc(keys, **over), world.clock.now(),
                                          world.writer.origin, leaf, version)
    assert proposal["event"]["agreement"] == leaf == proposal["event"]["body"]["replaces"]
    for k in keys.values():
        proposal = commands.sign_proposal(proposal, k)
    world.writer.submit(commands.adoption(proposal))


def test_an_event_signed_under_a_replaced_agreement_is_refused(world: World) -> None:
    before = world.sub("A", "notice.file", transit(1))
    old = world.writer.picture.agreement_hash()
    amend(world, world.keys, title="Amended")
    err = unchanged(world, lambda: world.writer.submit(before), StaleVersion)
    assert err.field == "event.agreement" and err.accepted == world.writer.picture.agreement_hash()
    assert old in err.detail
    world.writer.submit(world.sub("A", "notice.file", transit(1)))  # signed again: admitted


def test_an_amendment_must_name_the_agreement_it_replaces_in_the_event(world: World) -> None:
    leaf = world.writer.picture.agreement_hash()
    proposal = commands.propose_agreement(agreement_doc(world.keys, title="x"), world.clock.now(),
                                          world.writer.origin, leaf, 2)
    # A proposal whose event and body disagree is refused before anyone signs it...
    bad = {"event": {**proposal["event"], "agreement": None}, "sigs": {}}
    with pytest.raises(InvalidInput):
        commands.sign_proposal(bad, world.keys["A"])
    # ...and, signed anyway, by the writer.
    event = Event.from_json(bad["event"])
    sigs = {p: k.sign(event) for p, k in world.keys.items()}
    unchanged(world, lambda: world.writer.submit(Submission(event=bad["event"], sigs=sigs)),
              StaleVersion)


def test_a_first_agreement_names_no_agreement(tmp_path: Path) -> None:
    clock = ManualClock(datetime(2030, 1, 1, tzinfo=UTC))
    d = Deployment.init(tmp_path / "d", "d.example/log", clock)
    writer = Writer(d.store(), d.signer(), clock)
    keys = {p: KeyFile.generate(PARTY_KEY, p) for p in ("A", "B")}
    proposal = commands.propose_agreement(agreement_doc(keys), clock.now(), "d.example/log")
    event = Event.from_json({**proposal["event"], "agreement": base64.b64encode(
        b"\1" * 32).decode()})
    sigs = {p: k.sign(event) for p, k in keys.items()}
    with pytest.raises(StaleVersion) as exc:
        writer.submit(Submission(event=event.to_json(), sigs=sigs))
    assert exc.value.field == "event.agreement" and writer.store.size() == 0
    writer.store.close()


def test_operator_entries_name_the_log_and_agreement(world: World) -> None:
    world.file("A", {"kind": "transit", "volumes": [volume()]})
    out = world.file("B", {"kind": "transit", "volumes": [volume()]})  # a conflict finding
    assert out.findings
    stored = json.loads(world.store.entry(out.findings[0][0].entry))
    assert stored["event"]["party"] == "operator"
    assert stored["event"]["log"] == "test.example/log"
    assert stored["event"]["agreement"] == world.writer.picture.agreement_hash()
    assert verify_store(world.store, Deployment.open(world.dir).verifier_key).ok


# -- old logs: v1 read on replay, never admitted --------------------------------------------


@pytest.fixture
def old(tmp_path: Path) -> Path:
    dir = tmp_path / "v1-log"
    shutil.copytree(V1_LOG, dir)
    for name in ("log.key", "A.key", "B.key"):
        os.chmod(dir / name, 0o600)
    return dir


def test_an_old_v1_log_still_verifies_and_continues_in_v2(old: Path) -> None:
    deployment = Deployment.open(old)
    store = deployment.store()
    entries = [json.loads(d) for _, d in store.entries()]
    assert len(entries) == 12 and {e["event"]["v"] for e in entries} == {1}
    assert verify_store(store, deployment.verifier_key).ok

    last = Entry.decode(store.entry(11)).received_at
    clock = ManualClock(last + timedelta(minutes=1))
    writer = Writer(store, deployment.signer(), clock)
    keys = {p: KeyFile.read(old / f"{p}.key", PARTY_KEY) for p in ("A", "B")}
    assert writer.picture.seqs["B"] == 7  # after a gap v1 allowed

    # A v1 submission is refused at admission, even one that is otherwise perfect.
    v1 = Event(type="message", party="A", seq=writer.picture.next_seq("A"),
               issued_at=format_time(clock.now()), body={"message": "V1", "text": "old"}, v=1)
    with pytest.raises(InvalidInput) as exc:
        writer.submit(Submission(event=v1.to_json(), sig=keys["A"].sign(v1)))
    assert exc.value.field == "event.v" and store.size() == 12

    # The log continues in v2, with seq = last + 1 after the v1 prefix.
    ctx = writer.context("B")
    assert (ctx.log, ctx.seq) == (deployment.origin, 8)
    writer.submit(commands.signed(keys["B"], "message", ctx, clock.now(),
                                  {"message": "B:V2", "text": "new"}))
    assert verify_store(store, deployment.verifier_key).ok

    # After a v2 entry, the fold itself refuses a v1 entry (not only the writer).
    picture = rebuild_picture(store, writer.operator_key, verify=True)
    assert picture.v2_seen
    v1 = Event(type="message", party="A", seq=picture.next_seq("A"),
               issued_at=format_time(clock.now()), body={"message": "V1b", "text": "x"}, v=1)
    entry = Entry(event=v1, received_at=clock.now(), sig=keys["A"].sign(v1))
    with pytest.raises(InvalidInput) as exc:
        picture.apply(entry, leaf_hash(entry.encode()))
    assert exc.value.field == "event.v"
    store.close()


# -- item 5: seq and issued_at ---------------------------------------------------------------


def test_seq_must_be_exactly_last_plus_one(world: World) -> None:
    last = world.writer.picture.seqs.get("A", 0)
    for seq in (last + 2, MAX_SEQ, last):
        if seq < 1:
            continue
        err = unchanged(world, lambda s=seq: world.writer.submit(
            world.sub("A", "notice.file", transit(1), seq=s)), ReplayedSeq)
        assert err.field == "event.seq" and err.accepted is not None
        assert err.accepted.startswith(str(last + 1))
    world.writer.submit(world.sub("A", "notice.file", transit(1)))  # nothing was burnt
    assert world.writer.picture.seqs["A"] == last + 1


def test_a_seq_of_2_53_minus_1_cannot_lock_a_party_out(world: World) -> None:
    with pytest.raises(ReplayedSeq):
        world.writer.submit(world.sub("A", "notice.file", transit(1), seq=MAX_SEQ))
    assert world.writer.picture.next_seq("A") == 1
    world.writer.submit(world.sub("A", "notice.file", transit(2)))
    with pytest.raises(InvalidInput):  # beyond 2^53-1: not even a valid event
        world.writer.submit(world.sub("A", "notice.file", transit(3), seq=MAX_SEQ + 1))


def test_a_refused_command_burns_no_seq(world: World) -> None:
    ctx = world.writer.context("A")
    bad = commands.signed(world.keys["A"], "notice.file", ctx, world.clock.now(),
                          {"notice": "X", "kind": "no-such-kind", "volumes": [volume()]})
    with pytest.raises(AccordError):
        world.writer.submit(bad)
    again = commands.signed(world.keys["A"], "notice.file", ctx, world.clock.now(), transit(1))
    assert world.writer.submit(again).entry.event.seq == ctx.seq


def test_one_partys_queued_events_in_one_batch_are_admitted_in_order(world: World) -> None:
    ctx = world.writer.context("A")
    subs = []
    for i in range(5):
        subs.append(commands.signed(world.keys["A"], "notice.file", ctx, world.clock.now(),
                                    transit(i)))
        ctx = ctx.next()
    b = world.sub("B", "message", {"message": "B:M", "text": "between"})
    results = world.writer.submit_batch([*subs[:2], b, *subs[2:]])
    assert all(not isinstance(r, AccordError) for r in results)
    assert [r.entry.event.seq for r in results if r.entry.event.party == "A"] == [1, 2, 3, 4, 5]
    # A refused event in the middle of a party's run: the ones after it skip a seq and are
    # refused too, and say which seq to sign with.
    ctx = world.writer.context("A")
    run = []
    for i, kind in enumerate(("transit", "no-such-kind", "transit")):
        run.append(commands.signed(world.keys["A"], "notice.file", ctx, world.clock.now(),
                                   {**transit(10 + i), "kind": kind}))
        ctx = ctx.next()
    first, middle, last = world.writer.submit_batch(run)
    assert not isinstance(first, AccordError) and isinstance(middle, AccordError)
    assert isinstance(last, ReplayedSeq) and last.accepted is not None
    assert last.accepted.startswith(str(first.entry.event.seq + 1))


@pytest.mark.parametrize("issued", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
def test_absurd_years_are_refused(world: World, issued: str) -> None:
    sub = world.sub("A", "notice.file", transit(1))
    event = Event.from_json({**sub.event, "issued_at": issued})
    forged = Submission(event=event.to_json(), sig=world.keys["A"].sign(event))
    err = unchanged(world, lambda: world.writer.submit(forged), InvalidTime)
    assert err.field == "event.issued_at"


def resigned(world: World, party: str, issued: datetime, n: int = 1) -> Submission:
    sub = world.sub(party, "notice.file", transit(n))
    event = Event.from_json({**sub.event, "issued_at": format_time(issued)})
    return Submission(event=event.to_json(), sig=world.keys[party].sign(event))


def test_issued_at_within_the_window_of_the_receive_time(world: World) -> None:
    now = world.clock.now()
    second = timedelta(seconds=1)
    for off in (ISSUED_AHEAD + second, -(ISSUED_BEHIND + second)):
        world.clock.set(now)
        unchanged(world, lambda o=off: world.writer.submit(resigned(world, "A", now + o)),
                  InvalidTime)
    world.clock.set(now)
    world.writer.submit(resigned(world, "A", now + ISSUED_AHEAD - second))
    world.clock.set(now + ISSUED_BEHIND)
    world.writer.submit(resigned(world, "B", now + second, n=2))


def test_an_agreement_may_be_signed_over_days_but_not_forever(world: World) -> None:
    proposed = world.clock.now()
    leaf = world.writer.picture.agreement_hash()

    def signed_proposal(version: int, **over: Any) -> Submission:
        p = commands.propose_agreement(agreement_doc(world.keys, **over), proposed,
                                       world.writer.origin, world.writer.picture.agreement_hash(),
                                       version)
        for k in world.keys.values():
            p = commands.sign_proposal(p, k)
        return commands.adoption(p)

    stale = signed_proposal(2, title="too late")
    world.clock.set(proposed + AGREEMENT_ISSUED_BEHIND + timedelta(minutes=1))
    err = unchanged(world, lambda: world.writer.submit(stale), InvalidTime)
    assert err.field == "event.issued_at"
    world.clock.set(proposed + AGREEMENT_ISSUED_BEHIND - timedelta(minutes=1))
    world.writer.submit(signed_proposal(2, title="in time"))
    assert world.writer.picture.agreement_hash() != leaf


def test_the_fold_holds_the_operators_receive_time_to_the_window(world: World) -> None:
    """Replay (accord verify) refuses an entry whose receive time is far from what the party
    signed, so an operator cannot backdate or postdate a party's entry by more."""
    sub = world.sub("A", "notice.file", transit(1))
    event = Event.from_json(sub.event)
    picture = copy.deepcopy(world.writer.picture)
    late = Entry(event=event, received_at=event.issued + ISSUED_BEHIND + timedelta(seconds=1),
                 sig=sub.sig)
    with pytest.raises(InvalidTime):
        picture.apply(late, leaf_hash(late.encode()))
    ok = replace(late, received_at=event.issued + ISSUED_BEHIND)
    picture.apply(ok, leaf_hash(ok.encode()))


def test_over_http_a_copied_event_is_refused_even_with_the_partys_token_there(
        twins: tuple[World, World]) -> None:
    """The issue's reproduction: A's signed event, read from deployment A's log, posted to
    deployment B with B's valid token for the same party (same key in both agreements)."""
    a, b = twins
    out = a.writer.submit(a.sub("A", "notice.file", transit(1)))
    stored = json.loads(a.store.entry(out.index))
    b.writer.store.close()
    s = Service(b.dir, clock=b.clock, config=ServiceConfig(tactical_interval_s=3600))
    try:
        store = s.deployment.store()
        token = issue_token(store, "A", "t", b.clock)
        store.close()
        with TestClient(create_app(service=s)) as http:
            auth = {"Authorization": f"Bearer {token}"}
            size = http.get("/readyz").json()["entries"]
            r = http.post("/v1/events", headers=auth,
                          json={"event": stored["event"], "sig": stored["sig"]})
            assert r.status_code == 400 and r.json()["type"].endswith("/wrong-log"), r.text
            assert r.json()["field"] == "event.log"
            assert http.get("/readyz").json()["entries"] == size
            # What B tells the party to name instead, and an event signed with it is admitted.
            me = http.get("/v1/me", headers=auth).json()
            assert me["log"] == "b.example/log" and me["next_seq"] == 1
            assert me["agreement"] == b.writer.picture.agreement_hash()
            sub = commands.signed(b.keys["A"], "notice.file", Context.from_json(me),
                                  b.clock.now(), transit(2))
            ok = http.post("/v1/events", headers=auth, json={"event": sub.event, "sig": sub.sig})
            assert ok.status_code == 200, ok.text
    finally:
        s.close()
