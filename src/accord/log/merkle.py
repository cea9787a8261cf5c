"""RFC 9162 §2.1 Merkle tree math (the hashing of RFC 6962), computed from perfect subtrees only.

Every hash this module reads comes from a `NodeSource`, which answers for *perfect* subtrees
(2**level leaves, aligned). A store keeps those nodes and answers each read with one indexed
lookup, so a root costs O(log n) reads and a proof O(log n)..O(log² n), never a rebuild. A range
that is not perfect is split at the largest power of two below its size, as RFC 9162 does.

Verification follows RFC 9162 §2.1.3.2 and §2.1.4.2 and raises `ProofError`; every hash given to
a verifier must be 32 bytes. Decisions the RFC leaves open:

- a consistency proof from size 0 is rejected (nothing to be consistent with; the
  transparency-dev vectors reject it too);
- size1 == size2 needs an empty proof and equal roots.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Protocol

from accord.errors import InvalidInput, ProofError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_LEAF = b"\x00"
_NODE = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the hash of one log entry."""
    return hashlib.sha256(_LEAF + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return hashlib.sha256(_NODE + left + right).digest()


class NodeSource(Protocol):
    """Where tree hashes come from (a store, or `MemoryTree`)."""

    def node(self, level: int, index: int) -> bytes:
        """Hash of the perfect subtree over leaves [index * 2**level, (index + 1) * 2**level)."""
        ...


def _split(n: int) -> int:
    """Largest power of two strictly below n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree_hash(src: NodeSource, start: int, end: int) -> bytes:
    """MTH(D[start:end]) for 0 <= start < end, read as O(log n) perfect nodes."""
    if not 0 <= start < end:
        raise InvalidInput(f"subtree [{start}, {end}) is empty or negative", field="range")
    size = end - start
    if size & (size - 1) == 0 and start % size == 0:
        level = size.bit_length() - 1
        return src.node(level, start >> level)
    k = _split(size)
    return node_hash(subtree_hash(src, start, start + k), subtree_hash(src, start + k, end))


def root(src: NodeSource, size: int) -> bytes:
    """Root hash of the first `size` leaves; EMPTY_ROOT for size 0."""
    if size < 0:
        raise InvalidInput(f"tree size {size} is negative", field="size")
    return EMPTY_ROOT if size == 0 else subtree_hash(src, 0, size)


def inclusion_proof(src: NodeSource, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1, leaf-side hash first."""
    if not 0 <= index < size:
        raise InvalidInput(f"leaf index {index} is not in a tree of size {size}", field="index")
    top_down: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            top_down.append(subtree_hash(src, start + k, end))
            end = start + k
        else:
            top_down.append(subtree_hash(src, start, start + k))
            start += k
    top_down.reverse()
    return top_down


def consistency_proof(src: NodeSource, size1: int, size2: int) -> list[bytes]:
    """PROOF(size1, D[0:size2]) of RFC 9162 §2.1.4.1; empty when size1 == size2."""
    if not 0 < size1 <= size2:
        raise InvalidInput(
            f"no consistency proof from size {size1} to size {size2}",
            field="size",
            accepted="0 < size1 <= size2",
        )
    top_down: list[bytes] = []
    start, end, m, whole = 0, size2, size1, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            top_down.append(subtree_hash(src, start + k, end))
            end = start + k
        else:
            top_down.append(subtree_hash(src, start, start + k))
            start, m, whole = start + k, m - k, False
    if not whole:
        top_down.append(subtree_hash(src, start, end))
    top_down.reverse()
    return top_down


def _check_hash(what: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} is {len(value)} bytes, not {HASH_SIZE}", field=what)


def _check_proof(proof: Sequence[bytes]) -> None:
    for i, h in enumerate(proof):
        _check_hash(f"proof[{i}]", h)


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root_hash: bytes
) -> None:
    """Check that `leaf` (a leaf hash) is entry `index` of the tree of `size` with `root_hash`.

    RFC 9162 §2.1.3.2. Returns None on success; raises ProofError on any mismatch.
    """
    _check_hash("leaf_hash", leaf)
    _check_hash("root", root_hash)
    _check_proof(proof)
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}", field="index")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the tree is deep", field="proof")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the tree is deep", field="proof")
    if r != root_hash:
        raise ProofError("inclusion proof does not lead to the root", field="root")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree (size2, root2) extends the tree (size1, root1).

    RFC 9162 §2.1.4.2, with size1 == 0 rejected and size1 == size2 requiring an empty proof and
    equal roots. Raises ProofError on any mismatch.
    """
    _check_hash("root1", root1)
    _check_hash("root2", root2)
    _check_proof(proof)
    if size1 <= 0:
        raise ProofError("a consistency proof needs size1 > 0", field="size1")
    if size2 < size1:
        raise ProofError(f"size2 {size2} is smaller than size1 {size1}", field="size2")
    if size1 == size2:
        if proof:
            raise ProofError("equal sizes need an empty consistency proof", field="proof")
        if root1 != root2:
            raise ProofError("equal sizes but different roots", field="root2")
        return
    path: list[bytes] = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    if not path:
        raise ProofError("consistency proof is empty", field="proof")
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long", field="proof")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short", field="proof")
    if fr != root1:
        raise ProofError("consistency proof does not lead to root1", field="root1")
    if sr != root2:
        raise ProofError("consistency proof does not lead to root2", field="root2")


class Frontier:
    """The right edge (compact range) of an append-only tree: one perfect-subtree hash per set
    bit of `size`, largest (leftmost) first. Enough to append and to compute the root."""

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()) -> None:
        hs = list(hashes)
        if size < 0 or len(hs) != size.bit_count():
            raise InvalidInput(
                f"a frontier of size {size} needs {max(size, 0).bit_count()} hashes, got {len(hs)}",
                field="hashes",
            )
        for h in hs:
            if len(h) != HASH_SIZE:
                raise InvalidInput(f"frontier hash is {len(h)} bytes, not 32", field="hashes")
        self._size = size
        self._hashes = hs

    @classmethod
    def from_source(cls, src: NodeSource, size: int) -> Frontier:
        """Rebuild the frontier of the first `size` leaves with popcount(size) node reads."""
        if size < 0:
            raise InvalidInput(f"tree size {size} is negative", field="size")
        hashes: list[bytes] = []
        start = 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                hashes.append(src.node(level, start >> level))
                start += 1 << level
        return cls(size, hashes)

    @property
    def size(self) -> int:
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        return tuple(self._hashes)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; return the perfect nodes (level, index, hash) it completes, the leaf
        itself first, so a store can persist exactly those."""
        if len(leaf) != HASH_SIZE:
            raise InvalidInput(f"leaf hash is {len(leaf)} bytes, not 32", field="leaf_hash")
        index = self._size
        made = [(0, index, leaf)]
        h, level = leaf, 0
        while index & 1:
            h = node_hash(self._hashes.pop(), h)
            index >>= 1
            level += 1
            made.append((level, index, h))
        self._hashes.append(h)
        self._size += 1
        return made

    def root(self) -> bytes:
        """Root hash at the current size (equals `root(src, size)`)."""
        if not self._hashes:
            return EMPTY_ROOT
        r = self._hashes[-1]
        for h in reversed(self._hashes[:-1]):
            r = node_hash(h, r)
        return r


class MemoryTree:
    """An in-memory `NodeSource` keeping every perfect node, for tests and benchmarks."""

    __slots__ = ("_levels",)

    def __init__(self) -> None:
        self._levels: list[list[bytes]] = [[]]

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def append(self, data: bytes, *, prehashed: bool = False) -> int:
        """Append an entry (hashed here) or, with prehashed=True, a leaf hash; return its index."""
        if prehashed:
            if len(data) != HASH_SIZE:
                raise InvalidInput(f"leaf hash is {len(data)} bytes, not 32", field="leaf_hash")
            h = data
        else:
            h = leaf_hash(data)
        levels = self._levels
        index = len(levels[0])
        levels[0].append(h)
        level = 0
        while len(levels[level]) % 2 == 0:
            row = levels[level]
            h = node_hash(row[-2], row[-1])
            level += 1
            if level == len(levels):
                levels.append([])
            levels[level].append(h)
        return index

    def node(self, level: int, index: int) -> bytes:
        if 0 <= level < len(self._levels) and 0 <= index < len(self._levels[level]):
            return self._levels[level][index]
        raise InvalidInput(f"no perfect node ({level}, {index}) in a tree of size {self.size}")
