"""The witnessing coordinator sleeps when there is nothing to do: no busy loop without
witnesses, nor after a round is over (it once spun a core, slowing every filing)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from accord.service.witnessing import Witnessing
from accord.store.witnessed import CosignatureBook


class QuietStore:
    def checkpoint(self, size: int | None = None) -> tuple[int, str] | None:
        return None

    def close(self) -> None:
        pass


def test_idle_coordinator_sleeps(tmp_path: Path) -> None:
    book = CosignatureBook(tmp_path / "witnessed.db")
    store: Any = QuietStore()
    w = Witnessing(book, lambda: store, lambda: None, round_s=0.2)
    try:
        time.sleep(1.0)
        assert w.wakeups <= 8  # one per round_s, not thousands
        for _ in range(5):
            w.notify()
        time.sleep(0.2)
        assert w.wakeups <= 16
    finally:
        w.close()
        book.close()
