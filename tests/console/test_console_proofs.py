"""What the console computes itself, checked against the Python side in real Chromium:
canonical JSON (JCS) byte for byte on many samples, an event signed in the browser verified
by the service's code, receipts verified in the browser (and a tampered one shown failing),
the time slider's picture equal to `accord picture --at T`, a network cut resumed with
nothing lost or shown twice, and an accessibility check (axe-core) with no serious or
critical violation."""

from __future__ import annotations

import base64
import json
import math
import random
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from console_support import (
    Browser,
    Deployed,
    box,
    deploy,
    minutes_from_now,
    serve,
    sign_in,
    stop,
    submit,
    volume,
    write_offline,
)

from accord.log.event import Event, canonical, verify_event_signature
from accord.timefmt import SystemClock, format_time


@pytest.fixture(scope="module")
def dep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    d = serve(deploy(tmp_path_factory.mktemp("proofs") / "dep", ack_minutes=30))
    yield d
    assert stop(d) == 0


def samples(n: int, seed: int = 10) -> list[Any]:
    """JSON values of the shapes events hold, and the awkward corners of RFC 8785: non-ASCII
    and astral keys (UTF-16 order differs from code point order), escapes, control
    characters, floats that need exponents, -0, integers up to 2^53."""
    rng = random.Random(seed)
    keys = ["a", "b", "notice", "volumes", "é", "ö", "\u20ac", "\U0001f600", "\ufb33", "Z",
            "aa", "\u0080", "key with space", "\n", "\"q\"", "\\", "10", "1", "", "\u00e9a"]
    strings = ["", "plain", "é\u20ac\U0001f600", "\u2028\u2029", "\x00\x1f\x7f", "<b>x</b>",
               "quote\"back\\slash", "\ud7ff\ue000", "tab\tnew\nline", "\u061c\u202e"]
    floats = [0.0, -0.0, 1.5, -2.25, 1e21, 1e-7, 123456789.125, 5e-324, 1.7976931348623157e308,
              0.1, 1 / 3, 100.0, 35.401, 9260.0, 1e20, 1e-6, 2.5e-5, -1e-7]

    def value(depth: int) -> Any:
        r = rng.random()
        if depth > 3 or r < 0.3:
            kind = rng.randrange(6)
            if kind == 0:
                return rng.choice(strings) + rng.choice(keys)
            if kind == 1:
                f = rng.choice(floats) * rng.choice([1, -1, 10, 1e-3])
                return f if math.isfinite(f) else 1.0
            if kind == 2:
                return rng.choice([0, 1, -1, 2**53 - 1, -(2**53 - 1), 42, 10**15])
            if kind == 3:
                return rng.choice([True, False, None])
            if kind == 4:
                return rng.uniform(-1e6, 1e6)
            return rng.random() * 10 ** rng.randrange(-30, 30)
        if r < 0.6:
            return [value(depth + 1) for _ in range(rng.randrange(4))]
        return {rng.choice(keys) + rng.choice(["", "x", "\U0001f600"]): value(depth + 1)
                for _ in range(rng.randrange(5))}

    return [value(0) for _ in range(n)]


def test_jcs_in_the_browser_equals_python(dep: Deployed, browser: Browser) -> None:
    page = browser.page(dep.url)
    page.goto(dep.url + "/")
    values = samples(2000)
    got = page.evaluate("async (values) => { const m = await import('/console/js/jcs.js');"
                        " return values.map((v) => m.canonicalize(v)); }", values)
    mismatches = [(v, g, canonical(v).decode()) for v, g in zip(values, got, strict=True)
                  if g.encode() != canonical(v)]
    assert not mismatches, mismatches[:3]
    # what JSON cannot carry is refused, as in Python
    refused = page.evaluate("async () => { const m = await import('/console/js/jcs.js');"
                            " return [NaN, Infinity, undefined].map((v) => { try {"
                            " m.canonicalize({x: v}); return 'accepted'; } catch (e) {"
                            " return e.name + ': ' + e.message; } }); }")
    assert all(r != "accepted" for r in refused), refused
    assert browser.errors == [] and browser.foreign == []


def test_an_event_signed_in_the_browser_verifies_in_python(dep: Deployed,
                                                           browser: Browser) -> None:
    page = browser.page(dep.url)
    page.goto(dep.url + "/")
    key = dep.key_files["IL"].read_text()
    event = {"v": 2, "log": "console.test/log", "agreement": None, "type": "message",
             "party": "IL", "seq": 7, "issued_at": "2026-11-24T00:00:00Z",
             "body": {"message": "IL:M-\u20ac-\U0001f600", "text": "é <x> 1e21", "n": 1e21,
                      "f": 0.1, "z": -0.0, "to": ["RU"]}}
    sig = page.evaluate("async ([text, event]) => { const c = await import('/console/js/"
                        "crypto.js'); const k = await c.importKeyFile(text);"
                        " return c.signEvent(k.key, event); }", [key, event])
    verify_event_signature(Event.from_json(event), sig, dep.keys["IL"].public_key)
    assert base64.b64decode(sig) == base64.b64decode(dep.keys["IL"].sign(Event.from_json(event)))


def _file_and_receipt(dep: Deployed, page: Any, notice: str) -> int:
    answer = submit(dep, "IL", "notice.file", {
        "notice": notice, "kind": "transit",
        "volumes": [volume(box(34.0, 34.0, 34.1, 34.1), minutes_from_now(30),
                           minutes_from_now(60))]})
    index = int(answer["index"])
    page.wait_for_selector(f"#notices-list [data-notice={notice}] button", timeout=5000)
    page.click(f"#notices-list [data-notice={notice}] button")
    page.wait_for_selector(f"#details li[data-entry='{index}'] button.verify")
    return index


def test_receipts_verify_in_the_browser_and_tampering_shows_red(dep: Deployed,
                                                                browser: Browser) -> None:
    page = browser.page(dep.url)
    sign_in(page, dep, "RU")
    index = _file_and_receipt(dep, page, "IL-RECEIPT-1")
    page.click(f"#details li[data-entry='{index}'] button.verify")
    ok = page.wait_for_selector(f"#details .proof[data-entry='{index}'][data-result]")
    assert ok.get_attribute("data-result") == "verified", ok.inner_text()
    assert "leaf = hash of the entry shown" in ok.inner_text()
    assert "proof ok" in (ok.get_attribute("class") or "")

    # Tampered receipts: each altered in one place, each shown failing, naming the step.
    def tamper(how: str) -> None:
        def handler(route: Any) -> None:
            r = route.fetch()
            rc = r.json()
            if how == "proof":
                h = bytearray(base64.b64decode(rc["inclusion_proof"][0]))
                h[0] ^= 1
                rc["inclusion_proof"][0] = base64.b64encode(bytes(h)).decode()
            elif how == "entry":
                entry = base64.b64decode(rc["entry"]).replace(b'"transit"', b'"strike"')
                rc["entry"] = base64.b64encode(entry).decode()
            elif how == "checkpoint":
                lines = rc["checkpoint"].split("\n")
                lines[1] = str(int(lines[1]) + 1)
                rc["checkpoint"] = "\n".join(lines)
            route.fulfill(response=r, body=json.dumps(rc))
        page.context.unroute(f"**/v1/log/receipt/{index}")
        page.context.route(f"**/v1/log/receipt/{index}", handler)

    for how, step in (("proof", "inclusion"), ("entry", "entry"), ("checkpoint", "checkpoint")):
        tamper(how)
        page.click(f"#details li[data-entry='{index}'] button.verify")
        bad = page.wait_for_selector(f"#details .proof[data-entry='{index}'][data-result=failed]")
        assert f"({step})" in bad.inner_text(), (how, bad.inner_text())
        assert "proof bad" in (bad.get_attribute("class") or "")
        color = bad.evaluate("(e) => getComputedStyle(e).color")
        assert color == "rgb(143, 13, 13)"  # red
    page.context.unroute(f"**/v1/log/receipt/{index}")
    assert browser.errors == [] and browser.foreign == []


def test_the_slider_shows_the_picture_of_accord_picture_at(dep: Deployed,
                                                          browser: Browser) -> None:
    submit(dep, "RU", "notice.file", {
        "notice": "RU-HIST-1", "kind": "surveillance",
        "volumes": [volume(box(35.2, 35.2, 35.9, 35.9), minutes_from_now(20),
                           minutes_from_now(80), 5000, 8000)]})
    time.sleep(1.2)
    t = SystemClock().now().replace(microsecond=0)
    time.sleep(1.2)
    submit(dep, "IL", "notice.file", {
        "notice": "IL-HIST-2", "kind": "strike",
        "volumes": [volume(box(35.5, 35.5, 35.8, 35.8), minutes_from_now(21),
                           minutes_from_now(50))]})
    submit(dep, "RU", "notice.cancel", {"notice": "RU-HIST-1", "version": 1})
    at = format_time(t)
    page = browser.page(dep.url)
    sign_in(page, dep, "IL")
    page.fill("#slider", str(int(t.timestamp())))
    page.wait_for_selector(f"body[data-view=history][data-at='{at}']", state="attached")
    page.wait_for_selector("#history-panel:not([hidden])")
    shown = {(li.get_attribute("data-notice"), li.get_attribute("data-state"),
              li.get_attribute("data-version"))
             for li in page.query_selector_all("#notices-list li[data-notice]")}
    findings = {li.get_attribute("data-finding")
                for li in page.query_selector_all("#history-findings li[data-finding]")}
    cli = subprocess.run([sys.executable, "-m", "accord", "--server", dep.url, "--token",
                          dep.tokens["IL"], "picture", "--at", at, "--json"],
                         capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    want = json.loads(cli.stdout)
    assert shown == {(n["id"], n["state"], str(n["version"])) for n in want["notices"]}
    assert ("RU-HIST-1", "filed", "1") in shown and not any(n[0] == "IL-HIST-2" for n in shown)
    assert findings == {f["finding"] for f in want["findings"]}
    assert "history, not live" in page.inner_text("#history")
    assert page.is_disabled("#f-file")  # no writing from the past
    # UTC and local time side by side
    assert page.inner_text("#slider-utc").startswith(at[:10])
    assert "local" in page.inner_text("#slider-local")
    page.click("#live-btn")
    page.wait_for_selector("body[data-view=live]", state="attached")
    page.wait_for_selector("#notices-list [data-notice=IL-HIST-2]")
    assert not page.query_selector("#notices-list [data-notice=RU-HIST-1]")  # cancelled
    assert browser.errors == [] and browser.foreign == []


def test_a_network_cut_resumes_with_nothing_lost_or_twice(dep: Deployed,
                                                          browser: Browser) -> None:
    """The service goes away (its stream ends), entries are written meanwhile, and the
    service comes back on the same address: the console says since when it was cut off,
    then resumes with Last-Event-ID and shows each entry once."""
    page = browser.page(dep.url)
    sign_in(page, dep, "RU")
    submit(dep, "IL", "message", {"message": "IL:CUT-0", "text": "before the cut", "to": ["RU"]})
    page.wait_for_selector("#messages [data-message='IL:CUT-0']")
    port = int(dep.url.rsplit(":", 1)[1])
    assert stop(dep) == 0
    page.wait_for_selector("#disconnected:not([hidden])", timeout=15000)
    assert "Disconnected from the service since" in page.inner_text("#disconnected")
    for i in range(1, 4):
        write_offline(dep, "IL", "message", {"message": f"IL:CUT-{i}", "text": f"during {i}",
                                             "to": ["RU"]})
    serve(dep, port)
    page.wait_for_selector("#disconnected", state="hidden", timeout=20000)
    for i in range(1, 4):
        page.wait_for_selector(f"#messages [data-message='IL:CUT-{i}']", timeout=10000)
    submit(dep, "IL", "message", {"message": "IL:CUT-4", "text": "after", "to": ["RU"]})
    page.wait_for_selector("#messages [data-message='IL:CUT-4']", timeout=10000)
    ids = [li.get_attribute("data-message") for li in page.query_selector_all(
        "#messages li[data-message^='IL:CUT-']")]
    assert sorted(ids) == [f"IL:CUT-{i}" for i in range(5)]  # none lost, none twice
    # while the service was down the browser logged its failed connections; nothing else
    browser.errors[:] = [e for e in browser.errors if "ERR_CONNECTION_REFUSED" not in e
                         and "Failed to load resource" not in e]
    assert browser.errors == [] and browser.foreign == []


def test_accessibility_no_serious_or_critical_violation(dep: Deployed,
                                                        browser: Browser) -> None:
    from axe_playwright_python.sync_playwright import Axe

    page = browser.page(dep.url)
    page.goto(dep.url + "/")
    axe = Axe()
    before = [v for v in axe.run(page).response["violations"]
              if v["impact"] in ("serious", "critical")]
    assert before == [], [(v["id"], v["help"]) for v in before]
    sign_in(page, dep, "IL")
    page.wait_for_selector("#notices-list li")
    page.click("#notices-list li[data-notice] button")
    after = [v for v in axe.run(page).response["violations"]
             if v["impact"] in ("serious", "critical")]
    assert after == [], [(v["id"], v["help"], [n["target"] for n in v["nodes"][:3]])
                         for v in after]
    # keyboard: the sign-out button, the panels and the slider are reachable with Tab
    reached = set()
    for _ in range(80):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("() => document.activeElement && document.activeElement.id"))
    assert {"signout", "slider", "live-btn", "f-check"} <= reached, reached


def test_the_docs_page_renders_from_the_package(dep: Deployed, browser: Browser) -> None:
    page = browser.page(dep.url)
    page.goto(dep.url + "/docs")
    page.get_by_text("/v1/events", exact=True).first.wait_for(timeout=15000)
    assert browser.foreign == [], browser.foreign
    assert browser.errors == [], browser.errors


def test_the_insecure_context_is_said_not_hidden(dep: Deployed, browser: Browser) -> None:
    """On a host that is not a secure context (plain http, not localhost) the page says that
    signing and verification are off, rather than failing silently."""
    host = dep.url.replace("127.0.0.1", "accord-test.invalid")
    page = browser.page(host)
    ctx = page.context
    ctx.unroute("**/*")

    def via_loopback(route: Any) -> None:
        url = route.request.url
        if "accord-test.invalid" not in url:
            browser.foreign.append(url)
            route.abort()
            return
        r = route.fetch(url=url.replace("accord-test.invalid", "127.0.0.1"))
        route.fulfill(response=r)

    ctx.route("**/*", via_loopback)
    page.goto(host + "/")
    page.wait_for_selector("#insecure:not([hidden])")
    assert "secure context" in page.inner_text("#insecure")
    assert page.evaluate("() => window.isSecureContext") is False
    assert browser.foreign == []
    assert browser.errors == [], browser.errors  # the headers raise no complaint there either


def test_a_browser_clock_off_the_services_is_warned_of(dep: Deployed, browser: Browser) -> None:
    """The page compares its clock with GET /v1/time: an hour off is said, and the times it
    shows are the service's, not the browser's."""
    from datetime import timedelta

    page = browser.page(dep.url)
    page.clock.install(time=SystemClock().now() - timedelta(hours=1))
    sign_in(page, dep, "IL")
    page.wait_for_selector("#skew:not([hidden])")
    text = page.inner_text("#skew")
    assert re.search(r"clock is 3[56]\d\d\.\d s behind the service's", text), text
    shown = page.inner_text("#clock-utc")
    service_now = SystemClock().now()
    assert shown[:13] == format_time(service_now).replace("T", " ")[:13]  # the service's hour
    assert browser.errors == [] and browser.foreign == []


def test_amend_and_cancel_from_the_console_and_draw_a_circle(dep: Deployed,
                                                             browser: Browser) -> None:
    submit(dep, "IL", "notice.file", {
        "notice": "IL-AMEND-1", "kind": "transit",
        "volumes": [volume(box(34.5, 34.5, 34.6, 34.6), minutes_from_now(30),
                           minutes_from_now(60), 0, 2000)]})
    il, ru = browser.page(dep.url), browser.page(dep.url)
    sign_in(il, dep, "IL")
    sign_in(ru, dep, "RU")
    il.click("#notices-list [data-notice=IL-AMEND-1] button")
    il.click("#details button:has-text('Amend IL-AMEND-1')")
    assert "replaces version 1" in il.inner_text("#f-mode")
    assert il.input_value("#f-upper") == "2000"
    # a new footprint: a circle drawn on the map (centre, then a point on the edge)
    il.click("#draw-circle")
    from console_support import click_map

    click_map(il, 34.55, 34.55)
    click_map(il, 34.55, 34.60)
    fp = json.loads(il.input_value("#footprint"))
    assert fp["type"] == "Circle" and 3.5 < fp["radius"]["value"] < 5.5  # about 4.6 km
    il.fill("#f-upper", "2500")
    il.click("#f-check")
    il.wait_for_selector("#check-result p")
    with il.expect_response(lambda r: r.url.endswith("/v1/events")) as answer:
        il.click("#f-file")
    assert answer.value.status == 200
    ru.wait_for_selector("#notices-list [data-notice=IL-AMEND-1][data-version='2']",
                         timeout=5000)
    ru.click("#notices-list [data-notice=IL-AMEND-1] button")
    ru.wait_for_selector("#details:has-text('2,500 m AMSL')")
    assert "circle of" in ru.inner_text("#details")
    # RU cannot amend or cancel IL's notice: the buttons are not offered
    assert ru.query_selector("#details button:has-text('Amend')") is None
    assert ru.query_selector("#details button:has-text('Cancel')") is None
    # cancel (the page asks to confirm; the test's dialog handler accepts)
    il.click("#notices-list [data-notice=IL-AMEND-1] button")
    il.click("#details button:has-text('Cancel IL-AMEND-1')")
    il.wait_for_selector("#action-msg:has-text('Cancelled IL-AMEND-1')", timeout=10000)
    ru.wait_for_selector("#notices-list [data-notice=IL-AMEND-1]", state="detached",
                         timeout=5000)
    assert browser.errors == [] and browser.foreign == []
