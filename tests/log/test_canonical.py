"""The fast canonical encoder must write exactly what the reference RFC 8785 encoder writes."""

from __future__ import annotations

import math

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.errors import InvalidInput
from accord.log.event import Entry, Event, canonical

scalars = (st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text())
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=5),
    max_leaves=30)


def assert_same_as_reference(value: object) -> None:
    """Same bytes as `rfc8785`, or refused where `rfc8785` refuses."""
    try:
        want = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        with pytest.raises(InvalidInput):
            canonical(value)
        return
    assert canonical(value) == want


@settings(max_examples=2000)
@given(json_values)
def test_fast_path_equals_reference(value: object) -> None:
    assert_same_as_reference(value)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_float_matches(x: float) -> None:
    assert canonical([x, {"k": -x}]) == rfc8785.dumps([x, {"k": -x}])


@pytest.mark.parametrize("value", [35.0, -0.0, 1e-7, 1e21, 123456789012345680.0, 5e-324,
                                   0.1 + 0.2, 1e16, 9007199254740993, "\u2028\x7f\x1f",
                                   {"\U0001f600": 1, "\ue000": 2, "a": 3}])
def test_edge_values(value: object) -> None:
    assert_same_as_reference(value)


def test_nan_names_the_field() -> None:
    with pytest.raises(InvalidInput) as exc:
        canonical({"body": {"xs": [1, math.nan]}}, "event")
    assert exc.value.field == "event.body.xs[1]"


def test_entry_bytes_are_the_jcs_of_the_whole_entry() -> None:
    from datetime import UTC, datetime

    ev = Event(type="notice.file", party="A", seq=3, issued_at="2030-01-01T00:00:00Z",
               log="test.example/log", agreement=None,
               body={"z": 1.5, "a": [35.0, "é"]})
    entry = Entry(event=ev, received_at=datetime(2030, 1, 1, tzinfo=UTC), sig="c2ln")
    assert entry.encode() == rfc8785.dumps(entry.to_json())
    assert Entry.decode(entry.encode()) == entry
    multi = Entry(event=ev, received_at=datetime(2030, 1, 1, tzinfo=UTC), sigs={"B": "x", "A": "y"})
    assert multi.encode() == rfc8785.dumps(multi.to_json())
