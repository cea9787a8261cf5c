"""The log's write side: entries, tree nodes, checkpoints and receipts, a batch at a time.

Inside one store transaction the appender adds entries and the perfect-subtree nodes they
complete (kept in memory as the `Frontier`, so an append never reads the tree), then `seal`
signs one checkpoint for the whole batch (an item rolled back to its savepoint is forgotten
here too: `mark` and `rollback`); once the transaction is durable, every entry of the
batch gets its receipt against that checkpoint. It knows nothing of notices or rules.
"""

from __future__ import annotations

from accord.log.merkle import Frontier, inclusion_proof, leaf_hash
from accord.log.note import Checkpoint, NoteSigner, sign_note
from accord.log.receipt import Receipt
from accord.store.base import Store


class _BatchNodes:
    """Tree nodes for one batch's receipts: the batch's own nodes, then the store, cached."""

    def __init__(self, store: Store, fresh: dict[tuple[int, int], bytes]) -> None:
        self.store = store
        self.cache = fresh

    def node(self, level: int, index: int) -> bytes:
        key = (level, index)
        h = self.cache.get(key)
        if h is None:
            h = self.cache[key] = self.store.node(level, index)
        return h


class LogAppender:
    def __init__(self, store: Store, signer: NoteSigner) -> None:
        self.store = store
        self.signer = signer
        self.frontier = Frontier.from_source(store, store.size())
        self._fresh: dict[tuple[int, int], bytes] = {}
        self._entries: dict[int, bytes] = {}  # this batch's entry bytes, for its receipts
        self._start = self.frontier.size

    @property
    def size(self) -> int:
        return self.frontier.size

    def begin(self) -> None:
        self._fresh = {}
        self._entries = {}
        self._start = self.frontier.size

    def append(self, data: bytes, leaf: bytes | None = None) -> int:
        """Add one entry (inside the caller's transaction); returns its index."""
        leaf = leaf or leaf_hash(data)
        index = self.frontier.size
        nodes = self.frontier.append(leaf)
        self.store.add_entries([(index, data)])
        self.store.add_nodes(nodes)
        self._entries[index] = data
        for level, idx, h in nodes:
            self._fresh[(level, idx)] = h
        return index

    def append_many(self, items: list[bytes]) -> range:
        """Add entries in one go: one executemany for entries and one for nodes."""
        start = self.frontier.size
        nodes: list[tuple[int, int, bytes]] = []
        for data in items:
            nodes.extend(self.frontier.append(leaf_hash(data)))
        self.store.add_entries(list(enumerate(items, start)))
        self._entries.update(enumerate(items, start))
        self.store.add_nodes(nodes)
        for level, idx, h in nodes:
            self._fresh[(level, idx)] = h
        return range(start, self.frontier.size)

    def mark(self) -> tuple[int, tuple[bytes, ...]]:
        """Where the tree ends now: `rollback(mark)` returns to it (one item's savepoint)."""
        return self.frontier.size, self.frontier.hashes

    def rollback(self, mark: tuple[int, tuple[bytes, ...]]) -> None:
        """Forget every append since `mark`, as the store's savepoint rollback forgets its rows:
        the frontier goes back, and the batch's fresh nodes that cover later leaves go."""
        size, hashes = mark
        if self.frontier.size == size:
            return
        self.frontier = Frontier(size, hashes)
        self._fresh = {(level, idx): h for (level, idx), h in self._fresh.items()
                       if (idx + 1) << level <= size}

    def seal(self) -> str | None:
        """Sign and store the checkpoint for everything appended since `begin` (None if nothing)."""
        if self.frontier.size == self._start:
            return None
        cp = Checkpoint(self.signer.name, self.frontier.size, self.frontier.root())
        note = sign_note(cp.body(), [self.signer])
        self.store.add_checkpoint(cp.size, note)
        return note

    def receipts(self, indices: list[int], note: str) -> list[Receipt]:
        """Receipts for entries of the sealed batch, proved against its checkpoint, each with
        its entry's bytes (so the receipt proves what was received, and when)."""
        nodes = _BatchNodes(self.store, self._fresh)
        size = self.frontier.size
        return [Receipt(index=i, leaf_hash=nodes.node(0, i), checkpoint=note,
                        inclusion_proof=tuple(inclusion_proof(nodes, i, size)),
                        entry=self._entries.get(i) or self.store.entry(i))
                for i in indices]

    def reload(self) -> None:
        """After a failed transaction: the store, not memory, says where the log ends."""
        self.frontier = Frontier.from_source(self.store, self.store.size())
        self._fresh = {}
        self._entries = {}
        self._start = self.frontier.size
