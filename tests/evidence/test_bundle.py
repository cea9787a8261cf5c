"""Evidence bundles: made from a party's mirror (or the operator's store), checked offline
with nothing else; any byte changed fails, naming what is wrong; the report escapes
everything and loads nothing."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.errors import ProofError
from accord.evidence.bundle import make_bundle, verify_bundle
from accord.log.note import NoteSigner
from mirror_support import replica_of
from support import World, make_world, volume


def scene(dir: Path) -> World:
    w = make_world(dir, ("A", "B", "C"), disclosure={"C": "volumes"})
    w.clock.advance(timedelta(seconds=5))
    w.file("A", {"notice": "A-1", "kind": "strike", "title": "<script>alert(1)</script> & co",
                 "volumes": [volume()]})
    w.clock.advance(timedelta(seconds=5))
    w.file("C", {"notice": "C-1", "kind": "transit", "title": "C's secret",
                 "volumes": [volume(35.01, 35.01)]})
    w.clock.advance(timedelta(seconds=5))
    w.ref("B", "notice.ack", "A-1", 1)
    w.writer.submit(w.sub("B", "message", {"message": "B:q", "text": "why <b>here</b>?",
                                           "to": ["A"], "ref": {"notice": "A-1"}}))
    w.writer.submit(w.sub("A", "message.ack", {"message": "B:q"}))
    w.writer.submit(w.sub("B", "message", {"message": "B:other", "text": "unrelated"}))
    w.clock.advance(timedelta(minutes=2))
    w.amend("A", "A-1", 1, {"kind": "strike", "volumes": [volume(35.2, 35.2)]})
    return w


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    tmp = tmp_path_factory.mktemp("evidence")
    w = scene(tmp / "dep")
    r = replica_of(tmp, w, "A")
    assert r.held is not None
    return make_bundle("A-1", "A", r.verifier.verifier_key, r.held[0], r.store.leaves(),
                       r.store, "+03:00")


def test_a_bundle_proves_every_entry_about_the_notice(bundle: bytes) -> None:
    v = verify_bundle(bundle)
    kinds = [(p.entry.event.type, p.entry.event.party) for p in v.entries]
    assert kinds[0] == ("agreement", "*")
    assert ("notice.file", "A") in kinds and ("notice.amend", "A") in kinds
    assert ("notice.ack", "B") in kinds and ("message", "B") in kinds
    assert ("message.ack", "A") in kinds and ("finding", "operator") in kinds
    assert not any(p.entry.event.body.get("message") == "B:other" for p in v.entries)
    assert v.witnessed is None and v.witness_problem == "the agreement names no witnesses"
    assert canonical_roundtrip(bundle)


def canonical_roundtrip(raw: bytes) -> bool:
    from accord.log.event import canonical

    return canonical(json.loads(raw)) == raw


def test_the_report_escapes_everything_and_loads_nothing(bundle: bytes) -> None:
    html = json.loads(bundle)["report"]
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
    assert "why &lt;b&gt;here&lt;/b&gt;?" in html
    assert not re.search(r"(src|href)\s*=", html)  # no external resource of any kind
    assert "<svg" in html and "<polygon" in html
    assert "(2030-06-01 15:00:05 +03:00)" in html  # local time beside UTC 12:00:05


def test_a_bundle_for_another_log_key_is_refused(bundle: bytes) -> None:
    other = NoteSigner.generate("someone.else/log").verifier()
    with pytest.raises(ProofError, match="not the one you hold"):
        verify_bundle(bundle, other)


def test_the_operator_reads_everything(tmp_path: Path) -> None:
    w = scene(tmp_path / "dep")
    cp = w.store.checkpoint()
    assert cp is not None
    rows = ((i, b"", d, None) for i, d in w.store.entries(0, cp[0]))
    v = verify_bundle(make_bundle("C-1", "operator", w.store.meta("log_key") or "", cp[1],
                                  rows, w.store))
    assert any(p.entry.event.body.get("title") == "C's secret" for p in v.entries)
    # A reads C's notice with its title withheld: proved as a leaf hash only.
    r = replica_of(tmp_path, w, "A")
    assert r.held is not None
    va = verify_bundle(make_bundle("C-1", "A", r.verifier.verifier_key, r.held[0],
                                   r.store.leaves(), r.store))
    assert va.withheld and "C's secret" not in json.dumps([p.entry.to_json()
                                                           for p in va.entries])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_byte_changed_fails_naming_what_is_wrong(bundle: bytes, data: st.DataObject) -> None:
    at = data.draw(st.integers(0, len(bundle) - 1), label="at")
    new = data.draw(st.integers(0, 255).filter(lambda b: b != bundle[at]), label="byte")
    changed = bundle[:at] + bytes([new]) + bundle[at + 1:]
    with pytest.raises(ProofError) as got:
        verify_bundle(changed)
    assert got.value.field and got.value.detail
