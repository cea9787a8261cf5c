"""Two duty officers' consoles in real Chromium on one live `accord serve`: IL draws and
files a strike notice, RU's console shows it and the conflict within a second, RU
acknowledges, a second notice left unacknowledged escalates on both, and an alert appears,
moves with its aircraft and clears. No request leaves the serving host; no console error."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from console_support import (
    Browser,
    Deployed,
    box,
    click_map,
    deploy,
    minutes_from_now,
    serve,
    sign_in,
    stop,
    submit,
    tracks,
    volume,
    wait_until,
)

from accord.timefmt import SystemClock, format_time


@pytest.fixture(scope="module")
def dep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    d = serve(deploy(tmp_path_factory.mktemp("console") / "dep", ack_minutes=0.25))
    yield d
    assert stop(d) == 0


def present(page: Any, selector: str) -> bool:
    return page.query_selector(selector) is not None


def test_two_command_posts(dep: Deployed, browser: Browser) -> None:
    # RU's surveillance flight west of Latakia, filed beforehand by RU's own client.
    submit(dep, "RU", "notice.file", {
        "notice": "RU-SURV-1", "kind": "surveillance", "title": "Il-20 <b>surveillance</b>",
        "volumes": [volume(box(35.40, 35.40, 35.80, 35.70), minutes_from_now(1),
                           minutes_from_now(90), 5000, 8000)]})
    il = browser.page(dep.url)
    ru = browser.page(dep.url)
    sign_in(il, dep, "IL")
    sign_in(ru, dep, "RU")
    assert present(ru, "#readonly[hidden]") and present(il, "#readonly[hidden]")
    # The title from another party is text, never markup.
    il.click("#notices-list [data-notice=RU-SURV-1] button")
    assert "Il-20 <b>surveillance</b>" in il.inner_text("#details")
    assert il.query_selector("#details b") is None

    # IL draws the strike area on the map and files it.
    il.click("#draw-polygon")
    for lat, lon in ((35.47, 35.55), (35.47, 35.88), (35.66, 35.88), (35.66, 35.55)):
        click_map(il, lat, lon)
    il.click("#draw-finish")
    assert '"Polygon"' in il.input_value("#footprint")
    il.fill("#f-notice", "IL-STRIKE-1")
    il.select_option("#f-kind", "strike")
    il.fill("#f-title", "Strike package, Latakia area")
    il.fill("#f-lower", "0")
    il.fill("#f-upper", "12000")
    il.fill("#f-start", minutes_from_now(2))
    il.fill("#f-end", minutes_from_now(40))
    il.click("#f-check")
    il.wait_for_selector("#check-result [data-kind=conflict]", timeout=10000)
    assert il.query_selector("#notices-list [data-notice=IL-STRIKE-1]") is None  # not filed
    with il.expect_response(lambda r: r.url.endswith("/v1/events")) as filed:
        il.click("#f-file")
    assert filed.value.status == 200
    t0 = time.monotonic()
    wait_until(lambda: present(ru, "#notices-list [data-notice=IL-STRIKE-1]")
               and present(ru, "#alerts-list [data-kind=conflict]"), timeout=5, step=0.01)
    seen = time.monotonic() - t0
    assert seen <= 1.0, f"RU's console showed the notice and conflict after {seen:.2f} s"
    il.wait_for_selector("#action-msg.ok", timeout=5000)
    assert "Filed IL-STRIKE-1" in il.inner_text("#action-msg")
    assert "receipt verified" in il.inner_text("#check-result")

    # RU acknowledges before the deadline: a countdown, then the signed acknowledgement.
    ru.wait_for_selector("#awaiting [data-awaiting=IL-STRIKE-1] .countdown")
    ru.click("#awaiting button:has-text('Acknowledge IL-STRIKE-1')")
    ru.wait_for_selector("#action-msg.ok", timeout=10000)
    il.wait_for_selector("#notices-list [data-notice=IL-STRIKE-1][data-state=acknowledged]",
                         timeout=5000)
    assert not present(ru, "#awaiting [data-awaiting=IL-STRIKE-1]")

    # The hotline: IL sends an urgent message from its console; RU sees it counting down
    # and acknowledges it; IL sees the acknowledgement.
    il.select_option("#m-to", "RU")
    il.select_option("#m-priority", "urgent")
    il.fill("#m-text", "Strike from 18:40Z; keep clear. <script>alert(1)</script>")
    il.click("#send-form button[type=submit]")
    ru.wait_for_selector("#messages .msg.in.urgent .countdown", timeout=5000)
    assert "<script>alert(1)</script>" in ru.inner_text("#messages")
    ru.click("#messages button:has-text('Acknowledge IL:M-')")
    il.wait_for_selector("#messages .msg.out:has-text('acknowledged by all')", timeout=5000)

    # A second strike notice that RU leaves unacknowledged: escalated on both consoles.
    submit(dep, "IL", "notice.file", {
        "notice": "IL-STRIKE-2", "kind": "strike",
        "volumes": [volume(box(36.20, 35.10, 36.40, 35.25), minutes_from_now(3),
                           minutes_from_now(30))]})
    ru.wait_for_selector("#awaiting [data-awaiting=IL-STRIKE-2]", timeout=5000)

    # Meanwhile an RU aircraft heads for IL's strike area: the alert appears on both.
    now = SystemClock().now()
    lat, lon = 35.56, 35.30

    def report(lon_: float, trk: float, when: Any) -> dict[str, Any]:
        return {"aircraft": "RF-93610", "callsign": "IL20", "time": format_time(when),
                "lat": lat, "lon": lon_, "alt_m": 6000.0, "gs_mps": 140.0, "trk_deg": trk}

    tracks(dep, "RU", [report(lon, 90.0, now)])
    for page in (il, ru):
        page.wait_for_selector("#alerts-list .alert[data-level]", timeout=10000)
    ru.wait_for_selector("#alerts-list .alert button")
    alert_id = ru.get_attribute("#alerts-list .alert", "data-alert")
    assert present(il, f"#alerts-list [data-alert={alert_id}]")

    def marker(page: Any) -> list[float]:
        got = page.evaluate("() => [...window.accordConsole.map.aircraft.values()]"
                            ".map((a) => a.dot.getLatLng().lng)")
        return list(got)

    before = wait_until(lambda: marker(ru), timeout=5)
    # It moves: a report 2 s later, 280 m further east.
    moved = lon + math.degrees(280 / (6371000 * math.cos(math.radians(lat))))
    tracks(dep, "RU", [report(moved, 90.0, now + timedelta(seconds=2))])
    wait_until(lambda: marker(ru) and marker(ru)[0] > before[0] + 1e-3, timeout=5)
    wait_until(lambda: marker(il) and marker(il)[0] > before[0] + 1e-3, timeout=5)  # IL too
    # Then turns away (west): no longer predicted, the service clears it (after its hold).
    tracks(dep, "RU", [report(moved, 270.0, now + timedelta(seconds=4))])

    # The escalation of IL-STRIKE-2 reaches both consoles.
    for page in (il, ru):
        page.wait_for_selector("#alerts-list .escalation", timeout=30000)
        page.wait_for_selector("#alerts-list [data-kind=unacknowledged]", timeout=5000)
    assert "overdue" in ru.inner_text("#awaiting")

    for page in (il, ru):
        page.wait_for_selector(f"#alerts-list [data-alert={alert_id}]", state="detached",
                               timeout=60000)
    assert browser.foreign == [], browser.foreign
    assert browser.errors == [], browser.errors


def test_read_only_without_a_key(dep: Deployed, browser: Browser) -> None:
    page = browser.page(dep.url)
    sign_in(page, dep, "RU", key=False)
    assert present(page, "#readonly:not([hidden])")
    assert page.is_disabled("#f-file") and page.is_disabled("#draw-polygon")
    assert page.is_disabled("#send-form button[type=submit]")
    # the token is in session storage, never in the URL
    assert dep.tokens["RU"] not in page.url
    assert page.evaluate("() => sessionStorage.getItem('accord.token')") == dep.tokens["RU"]
    assert page.evaluate("() => Object.keys(localStorage).length") == 0
    assert browser.errors == [] and browser.foreign == []


def test_a_key_of_another_party_is_refused(dep: Deployed, browser: Browser,
                                           tmp_path: Path) -> None:
    page = browser.page(dep.url)
    page.goto(dep.url + "/")
    page.fill("#token", dep.tokens["RU"])
    page.set_input_files("#keyfile", str(dep.key_files["IL"]))
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#signin-msg.bad")
    assert "IL's, the token RU's" in page.inner_text("#signin-msg")
    (tmp_path / "junk.key").write_text('{"type": "accord-party-key", "name": "RU"}')
    page.set_input_files("#keyfile", str(tmp_path / "junk.key"))
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#signin-msg.bad")
    assert present(page, "#console[hidden]")
