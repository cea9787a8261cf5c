"""Snapshots through the store port, on both engines (the `database` fixture): bytes by the
log size they cover, the nearest at or before a size, and gone with a failed transaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from accord.service.deployment import Deployment
from accord.store.base import Store


@pytest.fixture
def store(tmp_path: Path, database: str | None) -> Store:
    d = Deployment.init(tmp_path / "dep", "store.test/log", database=database)
    return d.store()


def test_snapshots_by_size(store: Store) -> None:
    assert store.snapshot_at_or_before(10**6) is None and store.snapshot_sizes() == []
    blob = bytes(range(256)) * 3  # any bytes, NUL included
    with store.transaction():
        store.add_snapshot(10, b"ten")
        store.add_snapshot(30, blob)
    assert store.snapshot_sizes() == [10, 30]
    assert store.snapshot_at_or_before(9) is None
    assert store.snapshot_at_or_before(10) == (10, b"ten")
    assert store.snapshot_at_or_before(29) == (10, b"ten")
    assert store.snapshot_at_or_before(2**70) == (30, blob)
    assert store.snapshot_at_or_before(-5) is None
    with store.transaction():
        store.add_snapshot(10, b"again")  # replaced, not doubled
    assert store.snapshot_sizes() == [10, 30]
    assert store.snapshot_at_or_before(10) == (10, b"again")


def test_a_snapshot_in_a_failed_transaction_is_not_kept(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.add_snapshot(5, b"five")
        raise RuntimeError("the batch fails")
    assert store.snapshot_sizes() == [] and store.snapshot_at_or_before(5) is None
