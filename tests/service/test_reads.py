"""Area queries read the store's 4D index, and answer exactly what a scan of the picture does."""

from __future__ import annotations

import random
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from accord import commands
from accord.errors import AccordError
from accord.picture.view import Area, picture_for, picture_geojson
from accord.service.runtime import Service, ServiceConfig
from accord.timefmt import format_time
from support import T0, World, make_world, volume


def populate(w: World, n: int, rnd: random.Random) -> None:
    """Notices of both parties over 2 x 2 degrees and ten hours; some amended, some cancelled."""
    filed: list[tuple[str, str]] = []
    for i in range(n):
        party = "AB"[i % 2]
        start = T0 + timedelta(hours=2, minutes=rnd.randrange(0, 600))
        doc = {"kind": "transit", "volumes": [
            volume(rnd.uniform(33.5, 35.5), rnd.uniform(33.5, 35.5), half=rnd.uniform(0.005, 0.1),
                   start=start, minutes=rnd.randrange(10, 120))]}
        try:
            w.file(party, doc, notice=f"{party}-{i}")
        except AccordError:
            continue
        filed.append((party, f"{party}-{i}"))
    for party, nid in rnd.sample(filed, len(filed) // 5):
        n = w.writer.picture.notices[nid]
        if rnd.random() < 0.5:
            w.ref(party, "notice.cancel", nid, n.version)
        else:
            body, _ = commands.notice_body(
                {"kind": "transit", "volumes": [volume(rnd.uniform(33.5, 35.5),
                                                       rnd.uniform(33.5, 35.5), half=0.02)]},
                party, notice=nid, replaces=n.version)
            w.writer.submit(w.sub(party, "notice.amend", body))


def service(w: World) -> Service:
    w.writer.store.close()
    return Service(w.dir, clock=w.clock, config=ServiceConfig(tactical_interval_s=3600))


def test_area_queries_through_the_index_equal_the_scan(tmp_path: Path) -> None:
    rnd = random.Random(9)
    w = make_world(tmp_path / "dep")
    populate(w, 80, rnd)
    s = service(w)
    try:
        model = s.picture()
        narrowed = 0
        for k in range(60):
            lon, lat = rnd.uniform(33.3, 35.7), rnd.uniform(33.3, 35.7)
            size = rnd.uniform(0.05, 1.5)
            start = T0 + timedelta(minutes=rnd.randrange(0, 900))
            end = start + timedelta(minutes=rnd.randrange(1, 240))
            area = Area.parse(f"{lon},{lat},{lon + size},{lat + size}",
                              format_time(start) if k % 3 else None,
                              format_time(end) if k % 4 else None)
            assert area is not None
            near = s.area_notices(model, area)
            assert near is not None
            narrowed += len(near) < len(model.notices)
            for at in (w.clock.now(), T0 + timedelta(hours=5)):
                assert (picture_for(model, "A", at, area, near)
                        == picture_for(model, "A", at, area))
                assert (picture_geojson(model, "B", at, area, near)
                        == picture_geojson(model, "B", at, area))
        assert narrowed > 40  # the index did narrow most of the areas
    finally:
        s.close()


def test_an_index_read_at_another_size_than_the_model_is_not_used(tmp_path: Path) -> None:
    w = make_world(tmp_path / "dep")
    populate(w, 4, random.Random(1))
    body, _ = commands.notice_body({"kind": "transit", "volumes": [volume(34.0, 34.0)]}, "A",
                                   notice="A-late")
    sub = w.sub("A", "notice.file", body)
    s = service(w)
    try:
        area = Area.parse("33,33,36,36", None, None)
        assert area is not None
        old = s.picture()
        assert s.area_notices(old, area) is not None
        s.submit(sub).result(10)
        # The index now holds A-late; the old model does not: its answer must not come from it.
        assert s.area_notices(old, area) is None
        new = s.picture()
        near = s.area_notices(new, area)
        assert near is not None and "A-late" in {n.id for n in near}
    finally:
        s.close()


def test_ended_and_cancelled_notices_leave_the_live_model_and_stay_in_history(
        tmp_path: Path) -> None:
    w = make_world(tmp_path / "dep")
    w.file("A", {"kind": "transit", "volumes": [volume(34.0, 34.0, minutes=30)]}, notice="A-1")
    w.file("B", {"kind": "transit", "volumes": [volume(34.5, 34.5, minutes=300)]},
           notice="B-1")
    cancelled = w.ref("A", "notice.cancel", "A-1", 1)
    s = service(w)
    try:
        model = s.picture()
        assert set(model.notices) == {"B-1"}  # A-1 was cancelled: not in the live picture
        a1 = s.notice(model, "A-1")  # but still there to be read, from the projection
        assert a1 is not None and a1.cancelled_at == cancelled.entry.received_at
        before = s.picture(cancelled.entry.received_at)  # and in history
        assert "A-1" in {n.id for n in before.live_notices(T0)}
        # B-1 ends at T0 + 2 h + 300 min: once the clock passes it, the idle writer drops it.
        w.clock.advance(timedelta(hours=8))
        deadline = T0 + timedelta(hours=8)
        for _ in range(200):
            if "B-1" not in s.picture().notices:
                break
            time.sleep(0.05)
        model = s.picture()
        assert "B-1" not in model.notices and model.live_at >= deadline
        assert model.checkpoint == s.writer.published.checkpoint
        b1 = s.notice(model, "B-1")
        assert b1 is not None and b1.id == "B-1"
        area = Area.parse("33,33,36,36", None, None)
        assert area is not None and s.area_notices(model, area) == []
    finally:
        s.close()


def test_the_check_runs_on_the_read_model_and_equals_the_writers(tmp_path: Path) -> None:
    """`Service.check` (POST /v1/check) gives what the writer's own preview gives, for random
    documents over a busy picture, and answers while the writer's thread is held up."""
    import threading

    rnd = random.Random(4)
    w = make_world(tmp_path / "dep")
    populate(w, 60, rnd)
    s = service(w)
    try:
        for k in range(25):
            start = T0 + timedelta(hours=2, minutes=rnd.randrange(0, 600))
            doc = {"kind": rnd.choice(["transit", "strike", "drill"]), "volumes": [
                volume(rnd.uniform(33.5, 35.5), rnd.uniform(33.5, 35.5),
                       half=rnd.uniform(0.01, 0.3), start=start)]}
            body, _ = commands.notice_body(doc, "A", notice=f"C-{k}")
            t = s.clock.now()
            s.clock.set(t)
            mine = s.check("A", body)
            s.clock.set(t)
            theirs = s.call(lambda wr, b=body: wr.preview("A", b)).result(10)
            assert mine == theirs
        taken = s.picture().notices
        nid = next(iter(taken))
        body, _ = commands.notice_body({"kind": "transit", "volumes": [volume()]}, "A",
                                       notice=nid)
        try:
            s.check("A", body)
        except AccordError as exc:
            assert "already taken" in str(exc)
        else:
            raise AssertionError("a taken id was not refused")
        held = threading.Event()
        s.call(lambda wr: held.wait(10))  # the writer's thread is busy until released
        try:
            started = time.perf_counter()
            s.check("A", commands.notice_body({"kind": "transit", "volumes": [volume()]},
                                              "A", notice="C-free")[0])
            assert time.perf_counter() - started < 5
        finally:
            held.set()
    finally:
        s.close()


def test_a_party_has_at_most_two_as_of_pictures_being_made_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each `?at=` picture is a snapshot read and a fold (about a second on a long log): a
    party asking for many at once is refused (429, one-line problem) past two, so it cannot
    hold every worker thread; another party's as-of read and the live picture still answer,
    and the slots come back when the reads end."""
    import threading

    from starlette.testclient import TestClient

    from accord.api.app import create_app
    from accord.service import runtime
    from accord.service.runtime import issue_token

    w = make_world(tmp_path / "dep")
    tokens = {p: issue_token(w.writer.store, p, "t", w.clock) for p in ("A", "B")}
    s = service(w)
    gate, entered = threading.Event(), threading.Semaphore(0)
    real = runtime.picture_at

    def slow(*args: Any, **kw: Any) -> Any:
        entered.release()
        gate.wait(10)
        return real(*args, **kw)

    monkeypatch.setattr(runtime, "picture_at", slow)
    at = format_time(w.clock.now())
    try:
        with TestClient(create_app(service=s)) as http:
            def get(party: str) -> Any:
                return http.get(f"/v1/picture?at={at}",
                                headers={"Authorization": f"Bearer {tokens[party]}"})

            held = [threading.Thread(target=get, args=("A",)) for _ in range(2)]
            for t in held:
                t.start()
            assert entered.acquire(timeout=10) and entered.acquire(timeout=10)
            r = get("A")
            assert r.status_code == 429
            problem = r.json()
            assert problem["field"] == "at" and problem["retry_after_s"] == 1.0
            live = http.get("/v1/picture", headers={"Authorization": f"Bearer {tokens['A']}"})
            assert live.status_code == 200
            other = threading.Thread(target=get, args=("B",))
            other.start()
            assert entered.acquire(timeout=10)  # B's own slot
            gate.set()
            for t in (*held, other):
                t.join(10)
            assert get("A").status_code == 200
    finally:
        gate.set()
        s.close()
