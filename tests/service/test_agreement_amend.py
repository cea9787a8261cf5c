"""Amending the agreement: every party, old and new, signs; it names the version it replaces."""

from __future__ import annotations

import base64
import copy

import pytest

from accord import commands
from accord.errors import BadSignature, StaleVersion
from accord.keys import PARTY_KEY, KeyFile
from support import World, agreement_doc, volume


def amendment(world: World, doc: dict, signers: list[KeyFile], replaces: str | None = None,
              version: int = 2) -> dict:
    leaf = replaces or base64.b64encode(world.writer.picture.agreement_leaf).decode()
    proposal = commands.propose_agreement(doc, world.clock.now(), world.writer.origin, leaf,
                                          version)
    for k in signers:
        proposal = commands.sign_proposal(proposal, k)
    return proposal


def test_amendment_adds_a_party_and_changes_rules(world: World) -> None:
    keys = dict(world.keys, C=KeyFile.generate(PARTY_KEY, "C"))
    doc = agreement_doc(keys)
    doc["kinds"]["transit"] = {"lead_time_minutes": 150}  # volume() starts in 2 h
    r = world.writer.submit(commands.adoption(amendment(world, doc, list(keys.values()))))
    p = world.writer.picture
    assert p.agreement is not None and p.agreement.version == 2 and "C" in p.agreement.party_ids
    assert p.agreement_entry == r.index
    world.keys["C"] = keys["C"]
    out = world.file("C", {"kind": "transit", "volumes": [volume()]})
    assert [f.kind for f, _ in out.findings] == ["late_notice"]  # the new rule applies


def test_amendment_needs_every_signature(world: World) -> None:
    doc = copy.deepcopy(agreement_doc(world.keys))
    proposal = amendment(world, doc, [world.keys["A"]])
    size = world.store.size()
    with pytest.raises(BadSignature) as exc:
        world.writer.submit(commands.adoption(proposal))
    assert "B" in exc.value.detail and world.store.size() == size


def test_removing_a_party_needs_its_signature_too(world: World) -> None:
    keys = dict(world.keys, C=KeyFile.generate(PARTY_KEY, "C"))
    doc3 = agreement_doc(keys)
    world.writer.submit(commands.adoption(amendment(world, doc3, list(keys.values()))))
    doc_without_c = agreement_doc(world.keys)
    without = amendment(world, doc_without_c, [world.keys["A"], world.keys["B"]], version=3)
    with pytest.raises(BadSignature):
        world.writer.submit(commands.adoption(without))
    signed = commands.sign_proposal(without, keys["C"])
    world.writer.submit(commands.adoption(signed))
    assert world.writer.picture.agreement.party_ids == ("A", "B")  # type: ignore[union-attr]


def test_amendment_must_name_the_agreement_in_force(world: World) -> None:
    doc = agreement_doc(world.keys)
    stale = amendment(world, doc, list(world.keys.values()), replaces="A" * 43 + "=")
    with pytest.raises(StaleVersion):
        world.writer.submit(commands.adoption(stale))
    skipped = amendment(world, doc, list(world.keys.values()), version=3)
    with pytest.raises(StaleVersion):
        world.writer.submit(commands.adoption(skipped))
