"""The store port on both engines (the `database` fixture), and what only PostgreSQL has:
migrations, the server's settings, the schema check, URLs without passwords."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from accord import commands
from accord.errors import AccordError, DeploymentError, InvalidInput, NotFound
from accord.geo.box import Box4, volume_box
from accord.service.deployment import DATABASE_ENV, Deployment
from accord.service.writer import Submission
from accord.store.base import Store
from accord.store.postgres import MIGRATIONS, PostgresStore
from accord.verify import verify_store
from pg import PgServer
from support import World, make_world, volume


@pytest.fixture
def store(tmp_path: Path, database: str | None) -> Store:
    d = Deployment.init(tmp_path / "dep", "store.test/log", database=database)
    return d.store()


def test_a_command_rolled_back_leaves_nothing_and_the_others_stay(store: Store) -> None:
    with store.transaction():
        store.savepoint()
        store.add_entries([(0, b"zero")])
        store.add_nodes([(0, 0, b"h0")])
        store.release_savepoint()
        store.savepoint()
        store.add_entries([(1, b"one")])
        store.add_private("N", 1, b"s" * 16, {"x": 1})
        assert store.entry(1) == b"one" and store.size() == 2  # readable before the commit
        store.rollback_savepoint()
        assert store.size() == 1
        store.savepoint()
        store.add_entries([(1, b"uno")])
        store.release_savepoint()
    assert [e for _, e in store.entries()] == [b"zero", b"uno"]
    assert store.private("N", 1) is None
    assert list(store.nodes()) == [(0, 0, b"h0")]


def test_a_failed_transaction_writes_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.add_entries([(0, b"zero")])
        store.save_item("p_messages", "M1", {"a": 1})
        raise RuntimeError("the batch fails")
    assert store.size() == 0 and store.items("p_messages") == {}
    with pytest.raises(NotFound):
        store.entry(0)


def test_a_read_in_the_middle_of_a_command_keeps_its_rollback_exact(store: Store) -> None:
    """A read that writes what the batch gathered (PostgreSQL) inside a command: rolling the
    command back must still undo exactly that command."""
    with store.transaction():
        store.savepoint()
        store.save_item("p_messages", "M1", {"v": 1})
        store.release_savepoint()
        store.savepoint()
        store.save_item("p_messages", "M1", {"v": 2})
        store.save_item("p_messages", "M2", {"v": 2})
        assert store.items("p_messages") == {"M1": {"v": 2}, "M2": {"v": 2}}
        store.save_item("p_messages", "M3", {"v": 3})
        store.rollback_savepoint()
        assert store.items("p_messages") == {"M1": {"v": 1}}
    assert store.items("p_messages") == {"M1": {"v": 1}}


def test_the_check_sees_notices_filed_earlier_in_the_same_batch(world: World) -> None:
    """The strategic check of a filing looks at the index as the batch left it: a notice
    filed earlier in the same batch (not yet committed) is a candidate, one rolled back is
    not, and a cancelled one leaves the index."""
    def filing(party: str, seq: int, notice: str, lon: float) -> Submission:
        body, _ = commands.notice_body({"kind": "transit", "volumes": [volume(lon, 35.0)]},
                                       party, notice=notice)
        return world.sub(party, "notice.file", body, seq=seq)

    bad = filing("A", 1, "A-bad", 35.0)  # seq 1 again: refused, rolled back
    results = world.writer.submit_batch([filing("A", 1, "A-1", 35.0), bad,
                                         filing("B", 1, "B-1", 35.01)])
    first, refused, second = results
    assert isinstance(refused, AccordError)
    assert [f.kind for f, _ in second.findings] == ["conflict"]
    assert set(second.findings[0][0].parties) == {"A", "B"}
    box = volume_box(first.notice.volumes[0])
    assert world.store.near(box) == {"A-1", "B-1"}  # never A-bad
    world.ref("A", "notice.cancel", "A-1", 1)
    assert world.store.near(box) == {"B-1"}


def test_an_entry_written_twice_is_refused(store: Store) -> None:
    with store.transaction():
        store.add_entries([(0, b"zero")])
    with pytest.raises(store.errors), store.transaction():
        store.add_entries([(0, b"again")])
    with store.transaction():
        store.savepoint()
        store.add_entries([(1, b"one")])
        with pytest.raises(store.errors):
            store.add_entries([(1, b"once more")])
        store.rollback_savepoint()
    assert store.size() == 1


# -- PostgreSQL only ------------------------------------------------------------------------


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    with pg_server.database() as url:
        yield url


def test_migrations_are_recorded_and_a_newer_schema_is_refused(pg_url: str) -> None:
    store = PostgresStore(pg_url, create=True)
    assert store.schema_versions() == [(v, w) for v, w, _ in MIGRATIONS]
    assert store.meta("schema") == str(MIGRATIONS[-1][0])
    store.close()
    PostgresStore(pg_url).close()  # nothing pending: opens
    with psycopg.connect(pg_url, autocommit=True) as db:
        db.execute("INSERT INTO accord_schema(version, what) VALUES(999, 'from the future')")
    with pytest.raises(DeploymentError, match="newer than this Accord knows"):
        PostgresStore(pg_url)
    with pytest.raises(DeploymentError, match="newer"):
        PostgresStore(pg_url, readonly=True)


def test_a_database_without_a_store_is_refused(pg_url: str) -> None:
    with pytest.raises(DeploymentError, match="holds no Accord store"):
        PostgresStore(pg_url)


def test_commits_are_synchronous_whatever_the_server_default(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as db:
        db.execute(sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(
            sql.Identifier(conninfo_to_dict(pg_url)["dbname"])))
    store = PostgresStore(pg_url, create=True)
    row = store.db.execute("SHOW synchronous_commit").fetchone()
    assert row is not None and row[0] == "on"
    store.close()


def test_the_cube_index_keeps_exact_doubles(pg_url: str) -> None:
    store = PostgresStore(pg_url, create=True)
    box = Box4(35.000000001, 35.1, 35.0, 35.1, 0.0, 3000.0, 1e9, 1e9 + 3600)
    with store.transaction():
        store.db.execute("INSERT INTO p_volumes(notice, lon0, lon1, lat0, lat1, alt0, alt1, "
                         "t0, t1) VALUES('N', %s, %s, %s, %s, %s, %s, %s, %s)",
                         store.stored_box(box))
    # a box ending a hair before the stored one begins does not meet it (float32 would)
    assert store.near(Box4(34.9, 35.0000000005, 35.0, 35.1, 0, 3000, 1e9, 1e9 + 1)) == set()
    assert store.near(Box4(34.9, 35.000000001, 35.0, 35.1, 0, 3000, 1e9, 1e9 + 1)) == {"N"}
    plan = "\n".join(r[0] for r in store.db.execute(
        "EXPLAIN SELECT notice FROM p_volumes WHERE box && cube(ARRAY[0,0,0,0]::float8[], "
        "ARRAY[1,1,1,1]::float8[])"))
    assert "p_volumes_box" in plan or "Seq Scan" in plan  # tiny tables may skip the index
    store.db.execute("SET enable_seqscan = off")
    plan = "\n".join(r[0] for r in store.db.execute(
        "EXPLAIN SELECT notice FROM p_volumes WHERE box && cube(ARRAY[0,0,0,0]::float8[], "
        "ARRAY[1,1,1,1]::float8[])"))
    assert "p_volumes_box" in plan
    store.close()


def test_verify_names_a_changed_schema(tmp_path: Path, pg_url: str) -> None:
    make_world(tmp_path / "dep", database=pg_url).store.close()
    d = Deployment.open(tmp_path / "dep")
    store = d.store(readonly=True)
    assert verify_store(store, d.verifier_key, origin=d.origin).ok
    store.db.execute("DROP INDEX p_volumes_box")
    store.db.execute("ALTER TABLE p_findings RENAME COLUMN entry TO entry_no")
    problems = [str(p) for p in verify_store(store, d.verifier_key, origin=d.origin).problems]
    store.close()
    assert any("index p_volumes_box" in p for p in problems), problems
    assert any("p_findings.entry" in p for p in problems), problems


def test_a_password_is_never_kept_in_accord_toml(tmp_path: Path, pg_url: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    with_password = pg_url.replace("postgres:@", "postgres:secret@", 1)
    assert "secret" in with_password
    with pytest.raises(DeploymentError, match="password in clear text"):
        Deployment.init(tmp_path / "a", "store.test/a", database=with_password)
    assert not (tmp_path / "a" / "accord.toml").exists()
    # the whole URL, password and all, from the environment instead
    monkeypatch.setenv(DATABASE_ENV, pg_url)
    d = Deployment.init(tmp_path / "b", "store.test/b", database="env")
    assert 'database = "env"' in (tmp_path / "b" / "accord.toml").read_text()
    d.store().close()
    monkeypatch.delenv(DATABASE_ENV)
    with pytest.raises(DeploymentError, match=DATABASE_ENV):
        Deployment.open(tmp_path / "b").store()
    # a password written into accord.toml by hand is refused at start
    toml = tmp_path / "b" / "accord.toml"
    toml.write_text(toml.read_text().replace('"env"', f'"{with_password}"'))
    with pytest.raises(DeploymentError, match="password in clear text"):
        Deployment.open(tmp_path / "b")


def test_one_database_holds_one_deployment(tmp_path: Path, pg_url: str) -> None:
    Deployment.init(tmp_path / "a", "store.test/a", database=pg_url)
    with pytest.raises(DeploymentError, match=r"already holds the log 'store\.test/a'"):
        Deployment.init(tmp_path / "b", "store.test/b", database=pg_url)
    with pytest.raises(InvalidInput, match="not a PostgreSQL URL"):
        Deployment.init(tmp_path / "c", "store.test/c", database="mysql://x/y")


def test_a_batch_after_one_that_failed_once_written_still_commits(store: Store) -> None:
    """What a failed transaction had written (PostgreSQL: its temporary tables too) is gone,
    and the next batch writes as if it had never been."""
    with pytest.raises(RuntimeError), store.transaction():
        store.savepoint()
        store.save_item("p_alerts", "L1", {"v": 1})
        assert store.items("p_alerts") == {"L1": {"v": 1}}  # written before the commit
        store.release_savepoint()
        raise RuntimeError("the batch fails")
    for v in (2, 3):
        with store.transaction():
            store.save_item("p_alerts", "L1", {"v": v})
            store.save_item("p_alerts", "L2", {"v": v})
    assert store.items("p_alerts") == {"L1": {"v": 3}, "L2": {"v": 3}}


def test_accord_init_with_a_database_from_the_command_line(tmp_path: Path, pg_url: str) -> None:
    import json
    import os
    import subprocess
    import sys

    def accord(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "accord", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, COLUMNS="200", **(env or {})))

    done = accord("init", "dep", "--database", pg_url, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["store"] == "postgresql"
    assert not (tmp_path / "dep" / "accord.db").exists()
    done = accord("verify", "-d", "dep", "--json")
    # an empty log has no picture state yet (as in SQLite); the schema and the rest are sound
    assert {p["where"].split(" (")[0] for p in json.loads(done.stdout)["problems"]} == {
        "table p_state"}
    secret = pg_url.replace("postgres:@", "postgres:hunter2@", 1)
    done = accord("init", "dep2", "--database", secret)
    assert done.returncode == 2 and "password in clear text" in done.stderr
    assert "hunter2" not in done.stderr + done.stdout and "Traceback" not in done.stderr
    done = accord("init", "dep3", "--database", "env", env={"ACCORD_DATABASE_URL": ""})
    assert done.returncode == 2 and "ACCORD_DATABASE_URL" in done.stderr
