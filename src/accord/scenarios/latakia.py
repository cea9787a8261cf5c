"""The built-in scenario: Latakia, 17 September 2018, modelled on public reports.

The figures were disputed in public; this scenario shows how Accord would have recorded each
claim. Two parties (the Israeli and Russian air forces), an agreement with a 15-minute lead
time for strikes and acknowledgement within 5 minutes, a Russian Il-20 surveillance flight
over the sea west of Latakia returning to Hmeimim, and an Israeli strike notice over Latakia
received one minute before its window opens. Then the same strike notice filed 15 minutes
earlier. Times are UTC; local time in Syria was UTC+3.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from accord import commands
from accord.keys import PARTY_KEY, KeyFile
from accord.log.cosignature import merge_cosignatures
from accord.log.merkle import consistency_proof
from accord.log.receipt import prove_json
from accord.rules.notice import duration
from accord.scenarios import in_folder
from accord.service.deployment import Deployment
from accord.service.writer import Outcome, Writer
from accord.timefmt import ManualClock, format_time
from accord.verify import verify_store
from accord.witness.folder import WitnessFolder
from accord.witness.protocol import AddCheckpoint
from accord.witness.state import WitnessState

DAY = datetime(2018, 9, 17, tzinfo=UTC)
LOCAL = timedelta(hours=3)


def at(hhmmss: str) -> datetime:
    h, m, s = (int(x) for x in hhmmss.split(":"))
    return DAY + timedelta(hours=h, minutes=m, seconds=s)


def box(lon0: float, lat0: float, lon1: float, lat1: float) -> dict[str, Any]:
    ring = [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]
    return {"type": "Polygon", "coordinates": [ring]}


def corridor(points: list[tuple[float, float]], half_width_deg: float) -> dict[str, Any]:
    """A simple corridor polygon along a two-point leg (enough for a scenario)."""
    (x0, y0), (x1, y1) = points
    dx, dy = x1 - x0, y1 - y0
    n = (dx * dx + dy * dy) ** 0.5
    ox, oy = -dy / n * half_width_deg, dx / n * half_width_deg
    ring = [[x0 + ox, y0 + oy], [x1 + ox, y1 + oy], [x1 - ox, y1 - oy], [x0 - ox, y0 - oy]]
    ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [[[round(x, 5), round(y, 5)] for x, y in ring]]}


def alt(lower: float, upper: float) -> dict[str, Any]:
    return {"lower": lower, "upper": upper, "units": "m", "reference": "AMSL"}


def agreement_doc(keys: dict[str, KeyFile],
                  witnesses: list[str] | None = None) -> dict[str, Any]:
    doc = _agreement_doc(keys)
    if witnesses:
        doc["witnesses"] = {"quorum": len(witnesses), "list": [{"key": k} for k in witnesses]}
    return doc


def _agreement_doc(keys: dict[str, KeyFile]) -> dict[str, Any]:
    return {
        "id": "il-ru-syria",
        "title": "Israel-Russia deconfliction mechanism over Syria (modelled)",
        "parties": [
            {"id": "IL", "name": "Israeli Air Force command post", "key": keys["IL"].public_b64,
             "escalation": "IAF duty commander"},
            {"id": "RU", "name": "Russian command centre, Hmeimim",
             "key": keys["RU"].public_b64, "escalation": "Hmeimim duty general"},
        ],
        "separation": {"horizontal_m": 9260, "vertical_m": 300},
        "kinds": {
            "strike": {"hazard": True, "lead_time_minutes": 15, "late": "finding",
                       "ack_required": True, "ack_deadline_minutes": 5},
            "surveillance": {"lead_time_minutes": 30},
            "transit": {},
        },
        "conflicts": {"action": "finding"},
        "zones": [
            {"id": "hmeimim", "name": "Hmeimim air base (protected)",
             "footprint": {"type": "Circle", "center": [35.948, 35.401],
                           "radius": {"value": 5, "units": "km"}},
             "altitude": alt(0, 15000), "applies_to": {"hazard": True}, "protects": ["RU"]},
            {"id": "south-west-buffer", "name": "Buffer zone, south-west Syria",
             "footprint": box(35.6, 32.6, 36.3, 33.3), "altitude": alt(0, 20000),
             "applies_to": {"parties": ["RU"]}, "protects": ["IL"]},
        ],
        "limits": {"max_volumes": 8, "max_vertices": 200, "max_window_hours": 12,
                   "horizon_days": 7},
    }


IL20 = {
    "notice": "RU-IL20-0917",
    "kind": "surveillance",
    "title": "Il-20 maritime surveillance west of Latakia, return to Hmeimim",
    "volumes": [
        {"footprint": box(35.05, 35.25, 35.45, 35.75), "altitude": alt(5000, 8000),
         "start": "2018-09-17T17:00:00Z", "end": "2018-09-17T19:00:00Z"},
        {"footprint": corridor([(35.40, 35.52), (35.95, 35.41)], 0.05),
         "altitude": alt(0, 8000),
         "start": "2018-09-17T18:45:00Z", "end": "2018-09-17T19:15:00Z"},
    ],
    "private": {"aircraft": "Il-20M", "crew": 15, "callsign": "withheld"},
}

STRIKE = {
    "kind": "strike",
    "title": "Strike package, Latakia area",
    "volumes": [
        {"footprint": box(35.55, 35.47, 35.88, 35.66), "altitude": alt(0, 12000),
         "start": "2018-09-17T18:40:00Z", "end": "2018-09-17T19:10:00Z"},
    ],
    "private": {"package": "4 x F-16I", "targets": "withheld"},
}


@dataclass
class Run:
    dir: Path
    writer: Writer
    clock: ManualClock
    keys: dict[str, KeyFile]
    witnesses: dict[str, WitnessState] = field(default_factory=dict)  # party -> its witness

    def witness(self, when: datetime) -> str:
        """Each party's witness cosigns the latest checkpoint at `when` (its own clock; in this
        replay, the scenario's), as the service submits it: from the witness's size, with a
        consistency proof. The note with both cosignatures."""
        self.clock.set(when)
        store = self.writer.store
        cp = store.checkpoint()
        assert cp is not None
        size, note = cp
        lines = []
        for state in self.witnesses.values():
            latest = state.latest(self.writer.picture.origin)
            old = latest[0].size if latest else 0
            proof = consistency_proof(store, old, size) if 0 < old < size else []
            lines.append(state.add(AddCheckpoint(old, tuple(proof), note)).line)
        return merge_cosignatures(note, lines)

    def send(self, when: datetime, party: str, type: str, body: dict[str, Any],
             private: dict[str, Any] | None = None) -> Outcome:
        self.clock.set(when)
        key = self.keys[party]
        sub = commands.signed(key, type, self.writer.context(party), when, body, private)
        return self.writer.submit(sub)

    def file(self, when: datetime, party: str, doc: dict[str, Any], notice: str) -> Outcome:
        body, reveal = commands.notice_body(doc, party, notice=notice)
        return self.send(when, party, "notice.file", body, reveal)


def setup(dir: Path, origin: str, *, witnesses: bool = False) -> Run:
    """The deployment with the agreement adopted; with `witnesses`, each party runs a witness
    (its own folder, key and state) and the agreement names both, quorum 2."""
    clock = ManualClock(at("11:00:00"))
    deployment = Deployment.init(dir, origin, clock)
    keys = {p: KeyFile.generate(PARTY_KEY, p) for p in ("IL", "RU")}
    for p, k in keys.items():
        k.write(dir / f"{p}.key")
    store = deployment.store()
    writer = Writer(store, deployment.signer(), clock)
    run = Run(dir, writer, clock, keys)
    if witnesses:
        vkey = deployment.verifier_key
        for p in keys:
            folder = WitnessFolder.init(dir / f"witness-{p.lower()}",
                                        f"witness.{p.lower()}.example/latakia", [vkey])
            run.witnesses[p] = folder.state(clock)
    clock.set(at("12:00:00"))
    adoption = commands.signed_by_all(
        agreement_doc(keys, [w.signer.verifier_key for w in run.witnesses.values()]),
        keys.values(), clock.now(), origin)
    (dir / "agreement.json").write_text(json.dumps(
        {"event": adoption.event, "sigs": adoption.sigs}, indent=2) + "\n")
    writer.submit(adoption)
    return run


def hhmm(t: datetime) -> tuple[str, str]:
    return t.strftime("%H:%M:%S"), (t + LOCAL).strftime("%H:%M")


def run(console: Console, keep: Path | None = None) -> int:
    return in_folder(keep, "accord-demo-", lambda base: _run(console, base, keep))


@dataclass
class _Flight:
    party: str
    aircraft: str
    callsign: str
    lon: float
    lat: float
    alt: float
    gs: float
    trk: float
    vs: float

    def step(self, dt: float) -> None:
        import math

        r = 6371000.0
        self.lat += math.degrees(self.gs * math.cos(math.radians(self.trk)) * dt / r)
        self.lon += math.degrees(self.gs * math.sin(math.radians(self.trk)) * dt
                                 / (r * math.cos(math.radians(self.lat))))
        self.alt += self.vs * dt

    def report(self, when: datetime) -> dict[str, Any]:
        return {"aircraft": self.aircraft, "callsign": self.callsign, "time": format_time(when),
                "lat": round(self.lat, 6), "lon": round(self.lon, 6), "alt_m": round(self.alt, 1),
                "gs_mps": self.gs, "trk_deg": self.trk, "vs_mps": self.vs}


def _tracks(console: Console, r: Run) -> bool:
    """18:44-18:50: the Il-20 turning for Hmeimim along its notified return corridor, which
    crosses the declared strike area, one of the strike package's jets inside that area, and
    the alerts the tactical monitor logs."""
    from accord.service.tactical import TacticalMonitor
    from accord.service.writer import Alerts
    from accord.tactical.alerts import Hazard, Report, describe, entry_time

    il20 = _Flight("RU", "RF-93610", "IL20", 35.30, 35.53, 6000.0, 140.0, 102.7, -2.0)
    f16 = _Flight("IL", "IAF-1", "HAWK1", 35.85, 35.64, 5800.0, 80.0, 250.0, 0.0)
    monitor = TacticalMonitor(r.clock)
    start = at("18:44:00")
    strike = r.writer.picture.notices["IL-STRIKE-0917"]
    first = Report("RU", il20.aircraft, start, il20.lat, il20.lon, il20.alt, il20.gs, il20.trk,
                   il20.vs)
    entry_s = entry_time(first, start, Hazard(strike.id, strike.version, "IL",
                                              strike.volumes[0]), 900.0)
    rows: list[tuple[datetime, str, str, str]] = []
    for k in range(0, 6 * 60 + 1, 10):
        now = start + timedelta(seconds=k)
        r.clock.set(now)
        for fl in (il20, f16):
            monitor.ingest(fl.party, [fl.report(now)])
        bodies = monitor.cycle(r.writer.picture)
        if bodies:
            [indices] = r.writer.submit_batch([Alerts(bodies)])
            for body, index in zip(bodies, indices, strict=True):
                what = describe(body["kind"], body["change"], body["details"])
                rows.append((now, body["change"], f"{body['kind']} level {body['level']}",
                             f"{what} [entry {index}]"))
        for fl in (il20, f16):
            fl.step(10.0)
    t = Table("UTC", "local", "alert", "level", "what", title="Live tracks, 18:44-18:50 UTC: "
              "alerts logged by the tactical monitor (each an operator entry)")
    for when, change, kind, what in rows:
        utc, local = hhmm(when)
        t.add_row(utc, local, change, kind, what)
    console.print(t)
    hazard_raised = [w for w, c, k, _ in rows if c == "raised" and k.startswith("hazard")]
    if entry_s is None or not hazard_raised:
        console.print("[red]the Il-20's hazard-entry alert did not fire[/]")
        return False
    entry_at = start + timedelta(seconds=entry_s)
    lead = entry_at - hazard_raised[0]
    console.print(f"The Il-20 entered the declared strike area at {hhmm(entry_at)[0]} UTC; the "
                  f"hazard-entry alert fired at {hhmm(hazard_raised[0])[0]} (its first reported "
                  f"position), {duration(lead.total_seconds())} before, to both parties.\n")
    return lead.total_seconds() > 0


def _timeline() -> Table:
    t = Table("UTC", "local", "who", "what", "entry", show_lines=False, expand=False)
    return t


def _row(t: Table, when: datetime, who: str, what: str, entry: int | str) -> None:
    utc, local = hhmm(when)
    t.add_row(utc, local, who, what, str(entry))


def _outcome_rows(t: Table, r: Outcome, who: str, what: str) -> None:
    _row(t, r.entry.received_at, who, what, r.index)
    for f, _ in r.findings:
        style = "bold red" if f.kind in ("late_notice", "conflict") else "yellow"
        _row(t, f.raised_at or r.entry.received_at, "Accord",
             f"[{style}]{f.kind}[/] {f.id} to {'+'.join(f.parties)}: {f.summary()}", f.entry)


def _evidence(console: Console, r: Run, base: Path, vkey: str, cosigned: list[str]) -> bool:
    """RU's own mirror of the log, and from it the evidence bundle for IL's strike notice,
    checked as a third party would: with the bundle alone."""
    from accord.evidence.bundle import make_bundle, verify_bundle
    from accord.log.note import NoteVerifier
    from accord.mirror.folder import MirrorFolder
    from accord.mirror.local import StoreSource

    verifier = NoteVerifier.parse(vkey)
    folder = MirrorFolder.prepare(base / "ru-mirror", "RU", verifier, None, r.clock)
    replica = folder.replica(r.clock)
    try:
        got = replica.sync(StoreSource(r.writer.store, "RU"))
        for note in cosigned:  # as the service serves them (GET /v1/log/witnessed)
            replica.keep_witnessed(note)
        bundle = make_bundle("IL-STRIKE-0917", "RU", vkey, replica.evidence_checkpoint(),
                             replica.store.leaves(), replica.store, "+03:00",
                             replica.witnessed_notes())
    finally:
        replica.store.close()
    path = r.dir / "IL-STRIKE-0917.evidence.json"
    path.write_bytes(bundle)
    path.with_suffix(".html").write_text(json.loads(bundle)["report"])
    v = verify_bundle(bundle, verifier)
    filing = next(p for p in v.entries if p.entry.event.type == "notice.file"
                  and p.entry.event.body.get("notice") == "IL-STRIKE-0917")
    console.print(f"\n[bold]RU's own copy[/]: RU's mirror holds the log to size {got.size}, "
                  f"every signature RU may read checked and the tree rebuilt. From it, the "
                  f"evidence bundle {path.name} ({len(v.entries)} entries, each with its "
                  f"inclusion proof) [green]verifies with nothing else[/]:")
    bound = v.bound_of(filing.index)
    ru = r.witnesses["RU"].signer.name if "RU" in r.witnesses else None
    ru_time = bound.time_of(ru) if bound is not None and ru is not None else None
    console.print(f"  IL-STRIKE-0917 received {hhmm(filing.entry.received_at)[0]} UTC by the "
                  f"operator, issued by IL at {hhmm(filing.entry.event.issued)[0]} UTC (IL's "
                  f"own signed time)"
                  + (f", and cosigned by RU's own witness ({ru}) no later than "
                     f"{hhmm(datetime.fromtimestamp(ru_time, UTC))[0]} UTC" if ru_time else ""))
    if ru_time is None:
        console.print("  [yellow]not witnessed[/]: the upper bound is the operator's own")
        return False
    console.print("  a time neither side can move: IL signed the lower bound, RU's witness the "
                  "upper (in this replay the witnesses' clocks are the scenario's)")
    return True


def _run(console: Console, base: Path, keep: Path | None) -> int:
    console.rule("[bold]Accord demo: Latakia, 17 September 2018[/] (modelled on public reports)")
    console.print("Two parties, the Israeli (IL) and Russian (RU) air forces, share the sky over "
                  "Syria but not a command.\nTheir agreement: strikes notified at least 15 min "
                  "ahead and acknowledged within 5 min; 5 NM / 300 m separation.\n")
    r = setup(base / "as-it-happened", "accord.demo/latakia-2018", witnesses=True)
    t = _timeline()
    _row(t, at("12:00:00"), "IL+RU", "agreement il-ru-syria v1 adopted, signed by both parties", 0)
    il20 = r.file(at("15:00:00"), "RU", IL20, "RU-IL20-0917")
    _outcome_rows(t, il20, "RU", "files RU-IL20-0917: Il-20 surveillance west of Latakia "
                                  "17:00-19:00, return to Hmeimim 18:45-19:15")
    strike = r.file(at("18:39:00"), "IL", STRIKE, "IL-STRIKE-0917")
    _outcome_rows(t, strike, "IL", "files IL-STRIKE-0917: strike over Latakia, window "
                                   "18:40-19:10, hazard to 12,000 m")
    cosigned = [r.witness(at("18:39:01"))]
    _row(t, at("18:39:01"), "IL+RU", "each party's own witness cosigns the log's checkpoint", "")
    ack = r.send(at("18:40:30"), "RU", "notice.ack", {"notice": "IL-STRIKE-0917", "version": 1})
    _outcome_rows(t, ack, "RU", "acknowledges IL-STRIKE-0917 (after its window opened)")
    cosigned.append(r.witness(at("18:40:31")))
    _row(t, at("19:03:00"), "", "[dim]Il-20 lost to Syrian air-defence fire on its return "
                                "(reported ~22:03 local)[/]", "")
    console.print(t)
    tracks_ok = _tracks(console, r)
    late = next(f for f, _ in strike.findings if f.kind == "late_notice")
    conflict = next(f for f, _ in strike.findings if f.kind == "conflict")
    console.print(f"\n[bold]What the record proves[/]: IL's strike notice was received at "
                  f"{format_time(strike.entry.received_at, micro=True)} "
                  f"({hhmm(strike.entry.received_at)[1]} local), "
                  f"{int(late.details['lead_s'])} s before its window opened. Neither side can "
                  f"move that time: it is entry {strike.index} of a signed Merkle log.")
    # Receipts, verified offline with nothing but the log's public key.
    vkey = (r.dir / "log.pub").read_text().strip()
    receipts = {"IL": strike.receipt, "RU": il20.receipt}
    for party, rc in receipts.items():
        assert rc is not None
        path = r.dir / f"receipt-{party}-{rc.index}.json"
        path.write_text(json.dumps(rc.to_json(), indent=2) + "\n")
        cp = prove_json(rc.to_json(), vkey)[1]
        console.print(f"  {party} holds receipt {path.name}: entry {rc.index}, inclusion proof "
                      f"of {len(rc.inclusion_proof)} hashes, checkpoint size {cp.size} "
                      f"[green]verifies offline[/]")
    final = r.writer.receipt(strike.index)
    cp = prove_json(final.to_json(), vkey)[1]
    console.print(f"  the latest checkpoint (size {cp.size}) still proves entry {strike.index}: "
                  f"[green]verified[/]")
    bundle_ok = _evidence(console, r, base, vkey, cosigned)
    report = verify_store(r.writer.store, vkey)
    r.writer.store.close()
    for w in r.witnesses.values():
        w.close()
    status = "[green]OK[/]" if report.ok else "[red]FAILED[/] " + "; ".join(
        str(p) for p in report.problems[:3])
    console.print(f"  full verification of the store ({report.entries} entries, every "
                  f"signature, tree node, checkpoint and the picture): {status}")
    # The counterfactual: the same notice, filed in time.
    console.print()
    console.rule("[bold]The same strike notice, filed 15 minutes earlier[/]")
    c = setup(base / "in-time", "accord.demo/latakia-2018-in-time")
    t = _timeline()
    _row(t, at("12:00:00"), "IL+RU", "agreement il-ru-syria v1 adopted", 0)
    _outcome_rows(t, c.file(at("15:00:00"), "RU", IL20, "RU-IL20-0917"), "RU",
                  "files RU-IL20-0917 (as before)")
    early = c.file(at("18:24:00"), "IL", STRIKE, "IL-STRIKE-0917")
    _outcome_rows(t, early, "IL", "files IL-STRIKE-0917 (same volumes)")
    ack2 = c.send(at("18:26:00"), "RU", "notice.ack", {"notice": "IL-STRIKE-0917",
                                                       "version": 1})
    _outcome_rows(t, ack2, "RU", "acknowledges IL-STRIKE-0917 within the 5-minute deadline")
    console.print(t)
    early_conflict = next((f for f, _ in early.findings if f.kind == "conflict"), None)
    early_late = [f for f, _ in early.findings if f.kind == "late_notice"]
    report2 = verify_store(c.writer.store, (c.dir / "log.pub").read_text().strip())
    c.writer.store.close()
    ok = (report.ok and report2.ok and early_conflict is not None and not early_late
          and conflict is not None and tracks_ok and bundle_ok)
    if early_conflict is not None:
        lead = at("18:45:00") - early.entry.received_at
        console.print(f"\nFiled at 18:24, the notice is on time (no late_notice), and the conflict "
                      f"with the Il-20's return leg is found and sent to both parties at once: "
                      f"{int(lead.total_seconds() // 60)} min before the Il-20 was due to turn "
                      f"for Hmeimim, time to hold it west of the strike area.")
    if keep is not None:
        console.print(f"\nDeployments kept in {base}: try `accord picture -d {base}/as-it-happened "
                      f"--at 2018-09-17T18:45:00Z` or `accord verify -d {base}/as-it-happened`.")
    console.print("[bold green]Demo complete.[/]" if ok else "[bold red]Demo failed.[/]")
    return 0 if ok else 1
