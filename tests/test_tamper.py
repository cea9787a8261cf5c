"""Flip a byte of any stored record: `verify_store` must fail and say which entry or table."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from accord.service.deployment import Deployment
from accord.store.sqlite import SqliteStore
from accord.verify import verify_store
from support import T0, World, make_world, volume


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    w: World = make_world(tmp_path_factory.mktemp("tamper") / "dep")
    w.file("B", {"kind": "transit", "volumes": [volume()]}, notice="B-1")
    w.file("A", {"kind": "strike", "volumes": [volume(start=T0 + timedelta(minutes=5))],
                 "private": {"callsign": "HAWK-11"}}, notice="A-1")
    w.ref("B", "notice.ack", "A-1", 1)
    w.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    w.store.close()
    return w.dir


def flip_in_file(db: Path, needle: bytes, offset: int = 0) -> None:
    """Flip one bit of the first occurrence of `needle` in the raw database file."""
    data = bytearray(db.read_bytes())
    at = data.find(needle)
    assert at >= 0, f"{needle[:30]!r} not found in the file"
    data[at + offset] ^= 0x01
    db.write_bytes(bytes(data))


def value(db: Path, sql: str) -> bytes:
    con = sqlite3.connect(db)
    v = con.execute(sql).fetchone()[0]
    con.close()
    return v if isinstance(v, bytes) else str(v).encode()


CASES: dict[str, tuple[str, Callable[[bytes], int], str]] = {
    # what to find (SQL for the stored value), where in it to flip, what verify must name
    "entry": ("SELECT entry FROM entries WHERE idx = 2", lambda v: len(v) // 2, "entry 2"),
    "leaf hash": ("SELECT hash FROM nodes WHERE level = 0 AND idx = 1", lambda v: 5,
                  "table nodes (level 0, index 1)"),
    "inner node": ("SELECT hash FROM nodes WHERE level = 1 AND idx = 0", lambda v: 7,
                   "table nodes (level 1, index 0)"),
    "checkpoint": ("SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1",
                   lambda v: len(v) - 10, "checkpoint at size"),
    "notice row": ("SELECT json FROM p_notices WHERE id = 'A-1'", lambda v: v.find(b'"kind"') + 9,
                   "table p_notices (A-1)"),
    "finding row": ("SELECT json FROM p_findings LIMIT 1", lambda v: v.find(b'"kind"') + 9,
                    "table p_findings"),
    "private part": ("SELECT data FROM private", lambda v: v.find(b"HAWK"), "table private"),
    "seq row": ("SELECT party || seq FROM p_seqs WHERE party = 'B'", lambda v: 0,
                "table p_seqs"),
}


def test_pristine_store_verifies(pristine: Path) -> None:
    d = Deployment.open(pristine)
    store = SqliteStore(d.db_path, readonly=True)
    report = verify_store(store, d.verifier_key)
    store.close()
    assert report.ok, report.problems


@pytest.mark.parametrize("case", sorted(CASES))
def test_flipped_byte_is_found_and_located(pristine: Path, tmp_path: Path, case: str) -> None:
    dep = tmp_path / "dep"
    shutil.copytree(pristine, dep)
    sql, where, expected = CASES[case]
    db = dep / "accord.db"
    stored = value(db, sql)
    if case == "seq row":
        # p_seqs holds integers: change the value through SQLite, as a tamperer with the file would.
        con = sqlite3.connect(db)
        con.execute("UPDATE p_seqs SET seq = seq + 1 WHERE party = 'B'")
        con.commit()
        con.close()
    else:
        flip_in_file(db, stored, where(stored))
    d = Deployment.open(dep)
    store = SqliteStore(d.db_path, readonly=True)
    report = verify_store(store, d.verifier_key)
    store.close()
    assert not report.ok
    assert any(expected in str(p) for p in report.problems), report.problems


def logical_dump(db: Path) -> list[str]:
    """Every stored row; for the R*Tree, its entries rather than its node blobs (whose unused
    tail bytes hold nothing)."""
    con = sqlite3.connect(db)
    try:
        rows = [line for line in con.iterdump() if "p_volume_index_" not in line]
        rows += [repr(r) for r in con.execute("SELECT * FROM p_volume_index ORDER BY id")]
        return rows
    finally:
        con.close()


@pytest.mark.parametrize("seed", range(40))
def test_random_byte_flips_never_pass_unnoticed(pristine: Path, tmp_path: Path,
                                                 seed: int) -> None:
    """Anywhere in the file: either verify fails, or the flip changed no stored data at all
    (it landed in free space inside a page, which holds nothing to protect)."""
    import random

    want = logical_dump(pristine / "accord.db")
    rnd = random.Random(seed)
    size = (pristine / "accord.db").stat().st_size
    for trial in range(10):
        dep = tmp_path / f"dep{trial}"
        shutil.copytree(pristine, dep)
        db = dep / "accord.db"
        data = bytearray(db.read_bytes())
        data[rnd.randrange(100, size)] ^= 1 << rnd.randrange(8)  # past the 100-byte header
        db.write_bytes(bytes(data))
        d = Deployment.open(dep)
        store = SqliteStore(d.db_path, readonly=True)
        report = verify_store(store, d.verifier_key)
        store.close()
        if report.ok:
            try:
                got = logical_dump(db)
            except sqlite3.DatabaseError:
                got = None
            assert got == want, "a flip changed stored data and verify did not notice"


def verify_copy(pristine: Path, tmp_path: Path, sql: str | None = None,
                params: tuple[object, ...] = ()) -> list[str]:
    """Copy the pristine deployment, change it with `sql`, verify as `accord verify` does."""
    dep = tmp_path / "dep"
    shutil.copytree(pristine, dep)
    if sql is not None:
        con = sqlite3.connect(dep / "accord.db")
        con.execute(sql, params)
        con.commit()
        con.close()
    d = Deployment.open(dep)
    store = SqliteStore(d.db_path, readonly=True)
    report = verify_store(store, d.verifier_key, origin=d.origin)
    store.close()
    return [str(p) for p in report.problems]


def test_the_origin_in_the_store_is_checked(pristine: Path, tmp_path: Path) -> None:
    got = verify_copy(pristine, tmp_path, "UPDATE meta SET v = 'test.example/lof' "
                                          "WHERE k = 'origin'")
    assert len(got) == 1 and got[0].startswith("table meta (origin): ") and "lof" in got[0]


def test_the_origin_in_accord_toml_is_checked(pristine: Path, tmp_path: Path) -> None:
    dep = tmp_path / "dep"
    shutil.copytree(pristine, dep)
    toml = dep / "accord.toml"
    toml.write_text(toml.read_text().replace("test.example/log", "test.example/loh"))
    d = Deployment.open(dep)
    store = SqliteStore(d.db_path, readonly=True)
    report = verify_store(store, d.verifier_key, origin=d.origin)
    store.close()
    assert [str(p) for p in report.problems] == [
        "accord.toml (origin): names the log 'test.example/loh', but its key and checkpoints "
        "name it 'test.example/log'"]


@pytest.fixture(scope="module")
def with_tokens(pristine: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from accord.service.runtime import issue_token
    from accord.timefmt import ManualClock

    dep = tmp_path_factory.mktemp("tokens") / "dep"
    shutil.copytree(pristine, dep)
    store = SqliteStore(dep / "accord.db")
    for party in ("A", "B"):
        issue_token(store, party, "ops", ManualClock(T0))
    store.close()
    return dep


TOKEN_CASES = {
    # what a tamperer (or a bug) does to the tokens table, and what verify must say
    "short hash": ("UPDATE tokens SET hash = substr(hash, 1, 31) WHERE party = 'A'",
                   "not a 32-byte SHA-256"),
    "text hash": ("UPDATE tokens SET hash = hex(hash) WHERE party = 'A'",
                  "not a 32-byte SHA-256"),
    "flipped party": ("UPDATE tokens SET party = '@' WHERE party = 'A'",
                      "names a party no agreement in the log has ever had"),
    "no party": ("UPDATE tokens SET party = '' WHERE party = 'A'", "names no party"),
    "stranger": ("INSERT INTO tokens VALUES(zeroblob(32), 'Z', 'x', '2030-06-01T12:00:00Z')",
                 "names a party no agreement in the log has ever had"),
    "bad time": ("UPDATE tokens SET created = 'yesterday' WHERE party = 'B'",
                 "is not an RFC 3339 UTC time"),
    "label blob": ("UPDATE tokens SET label = x'00' WHERE party = 'B'", "label is not text"),
}


def test_well_formed_tokens_verify(with_tokens: Path, tmp_path: Path) -> None:
    assert verify_copy(with_tokens, tmp_path) == []


@pytest.mark.parametrize("case", sorted(TOKEN_CASES))
def test_a_malformed_token_row_is_reported(with_tokens: Path, tmp_path: Path,
                                           case: str) -> None:
    sql, expected = TOKEN_CASES[case]
    got = verify_copy(with_tokens, tmp_path, sql)
    assert len(got) == 1 and got[0].startswith("table tokens (row ") and expected in got[0], got
