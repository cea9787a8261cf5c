"""CowMap: each version behaves as the dict it stands for, and evolving never changes it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from accord.picture.cow import DELETED, PER_BUCKET, CowMap

keys = st.text(min_size=1, max_size=4)
batches = st.lists(st.dictionaries(keys, st.one_of(st.integers(), st.just(DELETED)),
                                   max_size=60), max_size=12)


@given(st.dictionaries(keys, st.integers(), max_size=40), batches)
def test_every_version_equals_its_dict_and_stays_as_it_was(
        start: dict[str, int], changes: list[dict[str, object]]) -> None:
    versions = [(CowMap(start), dict(start))]
    for batch in changes:
        m, d = versions[-1]
        nd = dict(d)
        for k, v in batch.items():
            if v is DELETED:
                nd.pop(k, None)
            else:
                nd[k] = v  # type: ignore[assignment]
        versions.append((m.evolve(batch), nd))  # type: ignore[arg-type]
    for m, d in versions:  # older versions too: nothing was changed in place
        assert dict(m.items()) == d and len(m) == len(d)
        for k in d:
            assert k in m and m[k] == d[k] and m.get(k) == d[k]
        assert m.get("absent-key", 7) == 7 and "absent-key" not in m


def test_growing_past_the_bucket_load_rebuilds_and_keeps_everything() -> None:
    m: CowMap[int, int] = CowMap()
    for i in range(0, 16 * PER_BUCKET * 5, 97):
        m = m.evolve({j: j * 2 for j in range(i, i + 97)})
    assert len(m) == len(dict(m.items())) and all(m[k] == 2 * k for k in m)
    assert len(m._buckets) > 16  # it grew


def test_unhashable_key_is_simply_absent() -> None:
    assert [] not in CowMap({"a": 1})
