"""The tests stand on their own: nothing they read lies outside the repository."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest

import repo_guard

TESTS = Path(__file__).resolve().parent

# Paths that point beside or above a clone: the shared folder the project started from, the
# machine the tests were first written on, or a climb out of the repository.
FORBIDDEN = re.compile(r"""\.\./shared|/work/|shared/testdata|["'](shared|testdata)["']"""
                       r"""|["'](/home|/Users|/root|/opt|/srv|/mnt)/""")


def test_no_test_names_a_path_outside_the_repository() -> None:
    hits = []
    for path in sorted(TESTS.rglob("*.py")):
        if path.name == "test_self_contained.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if FORBIDDEN.search(line):
                hits.append(f"{path.relative_to(TESTS)}:{n}: {line.strip()}")
    assert hits == []


def test_a_test_that_opens_a_file_outside_the_repository_is_caught() -> None:
    outside = f"/accord-outside-{secrets.token_hex(4)}/vectors.json"
    seen = len(repo_guard.OUTSIDE)
    with pytest.raises(FileNotFoundError):
        open(outside).close()
    caught = repo_guard.OUTSIDE[seen:]
    del repo_guard.OUTSIDE[seen:]  # this test's own opening must not fail it
    assert caught == [outside]


def test_files_inside_the_repository_and_temporary_ones_are_allowed(tmp_path: Path) -> None:
    assert not repo_guard.outside_repository(str(TESTS / "data" / "merkle" / "LICENSE"))
    assert not repo_guard.outside_repository(str(tmp_path / "accord.db"))
    assert repo_guard.outside_repository(str(repo_guard.ROOT.parent / "a-neighbour" / "data"))


@pytest.mark.parametrize(("root", "beside", "not_beside"), [
    ("/tmp/ci/main", ["/tmp/ci/shared/testdata/x/", "/tmp/ci/other/x/"],
     ["/tmp/pytest-of-root/p/t0/accord.db/", "/tmp/ci/main/tests/x/"]),
    ("/tmp/main", ["/tmp/shared/testdata/x/"],
     ["/tmp/pytest-of-root/p/t0/accord.db/", "/tmp/tmpab12/x/", "/tmp/main/tests/x/"]),
    ("/work/main", ["/work/shared/seeds/x/", "/work/other/x/"], ["/tmp/x/", "/work/main/x/"]),
])
def test_a_clone_anywhere_keeps_its_neighbours_out_and_temporary_files_in(
        monkeypatch: pytest.MonkeyPatch, root: str, beside: list[str],
        not_beside: list[str]) -> None:
    """CI may clone into a temporary folder: its temporary files stay allowed, the folders
    beside the clone (where a shared folder would be) do not."""
    monkeypatch.setattr(repo_guard, "ROOT", Path(root))
    assert [p for p in beside if repo_guard._beside(p)] == beside
    assert [p for p in not_beside if repo_guard._beside(p)] == []
