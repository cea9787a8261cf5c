"""The hotline in the writer: messages, acknowledgements, deadlines, escalation, restarts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from accord.errors import Conflict, InvalidInput, NotFound, UnknownParty
from accord.service.deployment import Deployment
from accord.service.writer import Writer, rebuild_picture
from accord.verify import verify_store
from support import T0, World, volume


def send(world: World, party: str, mid: str, **body: object) -> None:
    world.writer.submit(world.sub(party, "message", {"message": mid, "text": "check", **body}))


def ack(world: World, party: str, mid: str) -> None:
    world.writer.submit(world.sub(party, "message.ack", {"message": mid}))


def test_acknowledged_in_time_never_escalates(world: World) -> None:
    send(world, "A", "A:M1", ack_minutes=2)
    assert [d.party for d in world.writer.picture.pending.values()] == ["B"]
    ack(world, "B", "A:M1")
    world.clock.advance(timedelta(minutes=10))
    assert world.writer.escalate() == []
    assert world.writer.picture.messages["A:M1"].acks == frozenset({"B"})


def test_missed_deadline_raises_finding_and_escalates_once(world: World) -> None:
    send(world, "A", "A:M1", ack_minutes=2, priority="urgent", ref={"notice": "N-1"})
    world.clock.advance(timedelta(minutes=1))
    assert world.writer.escalate() == []  # not yet due
    world.clock.advance(timedelta(minutes=2))
    finding_index, escalation_index = world.writer.escalate()
    p = world.writer.picture
    [f] = [f for f in p.findings.values() if f.kind == "unacknowledged"]
    assert f.entry == finding_index and f.parties == ("A", "B") and f.details["message"] == "A:M1"
    assert p.is_open(f, world.clock.now())
    [e] = p.escalations.values()
    assert e["entry"] == escalation_index and e["party"] == "B" and e["priority"] == "urgent"
    assert e["finding"] == f.id and "has not acknowledged message A:M1" in e["text"]
    assert world.writer.escalate() == []  # once
    ack(world, "B", "A:M1")  # a late acknowledgement is still recorded, and closes the finding
    assert not p.is_open(f, world.clock.now())


def test_notice_that_needs_acknowledgement_escalates(world: World) -> None:
    world.file("A", {"kind": "strike", "volumes": [volume()]}, notice="S")
    [due] = world.writer.picture.pending.values()
    assert due.notice == "S" and due.party == "B" and due.deadline == \
        world.writer.picture.notices["S"].updated_at + timedelta(minutes=5)
    world.clock.advance(timedelta(minutes=6))
    assert len(world.writer.escalate()) == 2
    [f] = [f for f in world.writer.picture.findings.values() if f.kind == "unacknowledged"]
    assert f.notice == "S" and f.version == 1 and f.details["party"] == "B"


def test_amendment_restarts_the_clock_and_cancel_stops_it(world: World) -> None:
    world.file("A", {"kind": "strike", "volumes": [volume()]}, notice="S")
    world.clock.advance(timedelta(minutes=4))
    world.amend("A", "S", 1, {"kind": "strike", "volumes": [volume(35.1, 35.0)]})
    world.clock.advance(timedelta(minutes=4))
    assert world.writer.escalate() == []  # v2's deadline is 5 min after the amendment
    world.ref("A", "notice.cancel", "S", 2)
    world.clock.advance(timedelta(minutes=10))
    assert world.writer.escalate() == [] and world.writer.picture.pending == {}


def test_deadlines_survive_a_restart(world: World) -> None:
    send(world, "A", "A:M1", ack_minutes=1)
    world.file("B", {"kind": "strike", "volumes": [volume()]}, notice="S")
    world.writer.store.close()
    world.clock.advance(timedelta(minutes=30))  # the service was down past both deadlines
    store = Deployment.open(world.dir).store()
    writer = Writer(store, world.writer.signer, world.clock)
    world.writer = writer
    assert len(writer.picture.pending) == 2
    assert len(writer.escalate()) == 4
    key = writer.signer.public_key
    assert rebuild_picture(store, key, verify=True).snapshot() == writer.picture.snapshot()
    assert verify_store(store, (world.dir / "log.pub").read_text().strip()).ok


@pytest.mark.parametrize("body, error", [
    ({"to": ["Z"]}, UnknownParty),
    ({"to": ["A"]}, UnknownParty),  # not to oneself
    ({"text": ""}, InvalidInput),
    ({"ack_minutes": 0}, InvalidInput),
    ({"ack_minutes": 5000}, InvalidInput),
    ({"priority": "flash"}, InvalidInput),
    ({"ref": {"notice": 3}}, InvalidInput),
    ({"colour": "red"}, InvalidInput),
])
def test_bad_messages_are_refused(world: World, body: dict, error: type) -> None:
    size = world.store.size()
    with pytest.raises(error) as exc:
        send(world, "A", "M9", **body)
    assert exc.value.field and world.store.size() == size


def test_bad_acknowledgements_are_refused(world: World) -> None:
    send(world, "A", "A:M1")
    with pytest.raises(NotFound):
        ack(world, "B", "nope")
    with pytest.raises(NotFound):
        ack(world, "A", "A:M1")  # not sent to A: answered as for a message that does not exist
    ack(world, "B", "A:M1")
    with pytest.raises(Conflict):
        ack(world, "B", "A:M1")
    with pytest.raises(Conflict):
        send(world, "A", "A:M1")  # ids are unique


def test_message_ids_are_scoped_to_their_sender(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Messages are read only by their audience: were ids one namespace, C could learn that A
    sent B a message "X" from an "already taken". Each sender owns the prefix "PARTY:"."""
    from support import make_world

    world = make_world(tmp_path / "dep", parties=("A", "B", "C"))
    send(world, "A", "A:SECRET", to=["B"])
    answers = []
    for mid in ("A:SECRET", "A:NOTHING", "SECRET"):
        size = world.store.size()
        with pytest.raises(InvalidInput) as exc:
            send(world, "C", mid, to=["B"])
        assert world.store.size() == size
        answers.append((exc.value.field, exc.value.accepted, str(exc.value).replace(mid, "ID")))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][1] == "C:<1-63 more characters>"
    send(world, "C", "C:SECRET", to=["B"])  # the same tail under C's own prefix is C's to use
    assert {"A:SECRET", "C:SECRET"} <= set(world.writer.picture.messages)


def test_escalation_names_the_contact(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from support import make_world

    w = make_world(tmp_path / "d")
    doc_parties = w.writer.picture.agreement.parties  # type: ignore[union-attr]
    assert all(p.escalation is None for p in doc_parties)
    w.writer.submit(w.sub("A", "message", {"message": "A:M", "text": "x", "ack_minutes": 1}))
    w.clock.set(T0 + timedelta(hours=1))
    w.writer.escalate()
    [e] = w.writer.picture.escalations.values()
    assert e["contact"] is None and e["text"].startswith("URGENT for B")
