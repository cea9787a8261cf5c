"""`accord`: every operation from the terminal, with `--json` for scripts.

The CLI is an adapter: it reads files and keys, drives the writer or the store, and prints.
Every refusal is an `AccordError` and is printed the same way (or as RFC 9457 JSON with --json).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from accord import commands
from accord.errors import AccordError, InvalidInput
from accord.geo.volume import footprint_geojson
from accord.keys import PARTY_KEY, KeyFile
from accord.log.event import Event
from accord.log.merkle import consistency_proof, root
from accord.log.note import Checkpoint, NoteVerifier, open_note
from accord.picture.fold import Picture
from accord.rules.agreement import identifier
from accord.rules.notice import duration
from accord.service.deployment import Deployment, WriterLock
from accord.service.writer import Outcome, Writer, load_picture, make_receipt, rebuild_picture
from accord.timefmt import SystemClock, format_time, parse_time
from accord.verify import load_json, verify_receipt_offline, verify_store

app = typer.Typer(
    name="accord",
    help="Accord: deconfliction for parties that share airspace but not a command.\n\n"
         "Signed agreements, 4D notices checked at once against everyone else's, and a signed "
         "Merkle log that proves who said what, and when.",
    no_args_is_help=True, rich_markup_mode="rich", pretty_exceptions_enable=False)
agreement_app = typer.Typer(help="Propose, sign, adopt and show the agreement.",
                            no_args_is_help=True)
notice_app = typer.Typer(help="File, amend, cancel, acknowledge and check notices.",
                         no_args_is_help=True)
log_app = typer.Typer(help="Read the signed log: checkpoints, entries, receipts, proofs.",
                      no_args_is_help=True)
app.add_typer(agreement_app, name="agreement")
app.add_typer(notice_app, name="notice")
app.add_typer(log_app, name="log")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

DirOpt = Annotated[Path, typer.Option("--dir", "-d", envvar="ACCORD_DIR",
                                      help="The deployment folder (made by `accord init`).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
KeyOpt = Annotated[Path, typer.Option("--key", "-k", help="The party's key file.")]

F = TypeVar("F", bound=Callable[..., Any])


def friendly(fn: F) -> F:
    """Print an AccordError plainly (or as problem JSON with --json) and exit 2."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AccordError as exc:
            if kwargs.get("as_json"):
                print(json.dumps(exc.problem(), indent=2), file=sys.stdout)
            else:
                err.print(f"[bold red]error[/] {exc.diagnostics()}", markup=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def writer_for(dir: Path) -> Iterator[Writer]:
    deployment = Deployment.open(dir)
    lock = WriterLock(deployment.dir)
    lock.acquire()
    store = deployment.store()
    try:
        yield Writer(store, deployment.signer(), SystemClock())
    finally:
        store.close()
        lock.release()


def dump(obj: Any) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False))


# -- deployment and keys ---------------------------------------------------------------------


@app.command()
@friendly
def init(dir: Annotated[Path, typer.Argument(help="Folder to create the deployment in.")],
         origin: Annotated[str | None, typer.Option(
             help="The log's origin name, unique to this log (default: made from the folder).")]
         = None,
         as_json: JsonOpt = False) -> None:
    """Create a deployment: the SQLite store, the operator's log key and the log's origin."""
    d = Deployment.init(dir, origin)
    if as_json:
        dump({"dir": str(d.dir), "origin": d.origin, "log_key": d.verifier_key})
        return
    out.print(f"Created deployment [bold]{d.dir}[/] with log origin [bold]{d.origin}[/]")
    out.print(f"Log verifier key (give it to every party):\n  {d.verifier_key}")


@app.command()
@friendly
def keygen(party: Annotated[str, typer.Argument(help="The party id this key signs for.")],
           out_path: Annotated[Path | None, typer.Option(
               "--out", "-o", help="Key file to write (default: PARTY.key).")] = None,
           force: Annotated[bool, typer.Option(help="Overwrite an existing key file.")] = False,
           as_json: JsonOpt = False) -> None:
    """Make a party's Ed25519 key pair. The private key file is written with mode 0600."""
    identifier(party, "party")
    path = out_path or Path(f"{party}.key")
    key = KeyFile.generate(PARTY_KEY, party)
    key.write(path, overwrite=force)
    if as_json:
        dump({"party": party, "key_file": str(path), "public_key": key.public_b64})
        return
    out.print(f"Wrote {path} (keep it private). Public key for the agreement:")
    out.print(f'  [[parties]]\n  id = "{party}"\n  key = "{key.public_b64}"', markup=False)


# -- agreement -------------------------------------------------------------------------------


@agreement_app.command("propose")
@friendly
def agreement_propose(
        file: Annotated[Path, typer.Argument(help="The agreement, as TOML (or JSON).")],
        out_path: Annotated[Path, typer.Option("--out", "-o", help="Proposal file to write.")]
        = Path("proposal.json"),
        dir: Annotated[Path | None, typer.Option(
            "--dir", "-d", envvar="ACCORD_DIR",
            help="For an amendment: the deployment whose agreement it replaces.")] = None,
        as_json: JsonOpt = False) -> None:
    """Turn an agreement file into a proposal for every party to sign."""
    doc = commands.load_document(file)
    replaces = version = None
    if dir is not None and (dir / "accord.toml").exists():
        store = Deployment.open(dir).store(readonly=True)
        state = store.state()
        if state.get("agreement_entry", -1) >= 0:
            key = NoteVerifier.parse(Deployment.open(dir).verifier_key).public_key
            current = load_picture(store, key.public_bytes_raw()).agreement
            assert current is not None
            replaces, version = state["agreement_leaf"], current.version + 1
        store.close()
    proposal = commands.propose_agreement(doc, SystemClock().now(), replaces, version)
    out_path.write_text(json.dumps(proposal, indent=2) + "\n")
    if as_json:
        dump(proposal)
        return
    body = proposal["event"]["body"]
    out.print(f"Wrote {out_path}: agreement [bold]{body['id']}[/] version "
              f"{proposal['event']['seq']}, to be signed by "
              + ", ".join(p["id"] for p in body["parties"]))


@agreement_app.command("sign")
@friendly
def agreement_sign(proposal: Annotated[Path, typer.Argument(help="The proposal file.")],
                   key: KeyOpt, as_json: JsonOpt = False) -> None:
    """Add your party's signature to a proposal (in place)."""
    k = KeyFile.read(key, PARTY_KEY)
    signed = commands.sign_proposal(commands.load_document(proposal), k)
    proposal.write_text(json.dumps(signed, indent=2) + "\n")
    if as_json:
        dump(signed)
        return
    parties = [p["id"] for p in signed["event"]["body"]["parties"]]
    missing = [p for p in parties if p not in signed["sigs"]]
    out.print(f"Signed as {k.name}. " + (f"Still to sign: {', '.join(missing)}" if missing
                                          else "Every party has signed: ready to adopt."))


@agreement_app.command("adopt")
@friendly
def agreement_adopt(proposal: Annotated[Path, typer.Argument(help="The signed proposal.")],
                    dir: DirOpt = Path("."), as_json: JsonOpt = False) -> None:
    """Append the agreement, signed by every party, to the log."""
    sub = commands.adoption(commands.load_document(proposal))
    with writer_for(dir) as w:
        result = w.submit(sub)
    if as_json:
        dump(outcome_json(result))
        return
    out.print(f"Agreement in force from entry {result.index}.")
    print_receipt(result)


@agreement_app.command("show")
@friendly
def agreement_show(dir: DirOpt = Path("."), as_json: JsonOpt = False) -> None:
    """Show the agreement in force."""
    picture = open_picture(dir)
    a = picture.require_agreement()
    if as_json:
        store = Deployment.open(dir).store(readonly=True)
        dump(Event.from_json(json.loads(store.entry(picture.agreement_entry))["event"]).body)
        return
    out.print(f"[bold]{a.title}[/] ({a.id}, version {a.version}, entry "
              f"{picture.agreement_entry})")
    out.print(f"Separation: {a.separation.horizontal_m:.0f} m horizontal, "
              f"{a.separation.vertical_m:.0f} m vertical; conflicts: {a.conflict_action}")
    t = Table("party", "name", "escalation", title="Parties")
    for p in a.parties:
        t.add_row(p.id, p.name, p.escalation or "")
    out.print(t)
    t = Table("kind", "hazard", "lead time", "late", "acknowledgement", title="Activity kinds")
    for k in a.kinds:
        ack = (f"within {duration(k.ack_deadline.total_seconds())}"
               if k.ack_required and k.ack_deadline else "no")
        t.add_row(k.name, "yes" if k.hazard else "", duration(k.lead_time.total_seconds()),
                  k.late_action, ack)
    out.print(t)
    if a.zones:
        t = Table("zone", "name", "applies to", "protects", "action", title="Zones")
        for z in a.zones:
            r = z.rule
            who = ("parties " + ",".join(sorted(r.parties)) if r.parties else "anyone")
            what = ("kinds " + ",".join(sorted(r.kinds)) if r.kinds else
                    "hazard activity" if r.hazard_only else "any activity")
            t.add_row(z.id, z.name, f"{who}, {what}", ",".join(sorted(z.protects)), z.action)
        out.print(t)


# -- notices ---------------------------------------------------------------------------------


def _submit_notice(dir: Path, key: Path, build: Callable[[KeyFile, Writer], Any]) -> Outcome:
    k = KeyFile.read(key, PARTY_KEY)
    with writer_for(dir) as w:
        return w.submit(build(k, w))


@notice_app.command("file")
@friendly
def notice_file(file: Annotated[Path, typer.Argument(help="The notice document (JSON).")],
                key: KeyOpt, dir: DirOpt = Path("."),
                receipt: Annotated[Path | None, typer.Option(
                    help="Also write the receipt to this file.")] = None,
                as_json: JsonOpt = False) -> None:
    """File a notice: it is checked at once and every finding is logged beside it."""
    report(_submit_notice(dir, key, _content(file, None, None)), as_json, receipt)


@notice_app.command("amend")
@friendly
def notice_amend(notice_id: Annotated[str, typer.Argument(help="The notice to amend.")],
                 file: Annotated[Path, typer.Argument(help="The new content (JSON).")],
                 replaces: Annotated[int, typer.Option(
                     help="The version you are replacing; refused if it is no longer current.")],
                 key: KeyOpt, dir: DirOpt = Path("."),
                 receipt: Annotated[Path | None, typer.Option(
                     help="Also write the receipt to this file.")] = None,
                 as_json: JsonOpt = False) -> None:
    """Replace a notice's content; the new version is checked like a new filing."""
    report(_submit_notice(dir, key, _content(file, notice_id, replaces)), as_json, receipt)


def _content(file: Path, notice_id: str | None,
             replaces: int | None) -> Callable[[KeyFile, Writer], Any]:
    """A `notice.file` (or, given `replaces`, a `notice.amend`) built from a notice document."""
    doc = commands.load_document(file)
    type = "notice.file" if replaces is None else "notice.amend"

    def build(k: KeyFile, w: Writer) -> Any:
        body, reveal = commands.notice_body(doc, k.name, replaces=replaces, notice=notice_id)
        return commands.signed(k, type, w.picture.next_seq(k.name), w.clock.now(), body, reveal)

    return build


def _ref(type: str, notice_id: str, version: int | None) -> Callable[[KeyFile, Writer], Any]:
    def build(k: KeyFile, w: Writer) -> Any:
        current = w.picture.notices.get(notice_id)
        v = version if version is not None else (current.version if current else 1)
        return commands.signed(k, type, w.picture.next_seq(k.name), w.clock.now(),
                               {"notice": notice_id, "version": v})
    return build


VersionOpt = Annotated[int | None, typer.Option(
    help="The version you mean (default: the current one).")]


@notice_app.command("cancel")
@friendly
def notice_cancel(notice_id: str, key: KeyOpt, dir: DirOpt = Path("."),
                  version: VersionOpt = None, as_json: JsonOpt = False) -> None:
    """Cancel one of your party's notices."""
    report(_submit_notice(dir, key, _ref("notice.cancel", notice_id, version)), as_json, None)


@notice_app.command("ack")
@friendly
def notice_ack(notice_id: str, key: KeyOpt, dir: DirOpt = Path("."),
               version: VersionOpt = None, as_json: JsonOpt = False) -> None:
    """Acknowledge another party's notice (a signed statement that you received it)."""
    report(_submit_notice(dir, key, _ref("notice.ack", notice_id, version)), as_json, None)


@notice_app.command("check")
@friendly
def notice_check(file: Annotated[Path, typer.Argument(help="The notice document (JSON).")],
                 party: Annotated[str, typer.Option(help="The party that would file it.")],
                 dir: DirOpt = Path("."), as_json: JsonOpt = False) -> None:
    """Run the same check as filing, without filing anything."""
    doc = commands.load_document(file)
    body, _ = commands.notice_body(doc, party)
    body.pop("private_digest", None)
    with writer_for(dir) as w:
        w.picture.require_agreement().party(party, "party")
        event = Event(type="notice.file", party=party, seq=1,
                      issued_at=format_time(w.clock.now()), body=body)
        notice, findings = w.preview(event)
    if as_json:
        dump({"notice": notice.to_json(), "findings": [f.to_body() for f in findings]})
        return
    out.print(f"Checked {notice.id} ({notice.kind}, {len(notice.volumes)} volume(s)): "
              + ("no findings." if not findings else f"{len(findings)} finding(s)"))
    for f in findings:
        out.print(f"  [bold yellow]{f.kind}[/] ({f.action}) {f.summary()}")


def outcome_json(r: Outcome) -> dict[str, Any]:
    return {"index": r.index, "received_at": format_time(r.entry.received_at, micro=True),
            "receipt": r.receipt.to_json() if r.receipt else None,
            "notice": r.notice.to_json() if r.notice else None,
            "findings": [{"finding": f.to_json(), "receipt": rc.to_json() if rc else None}
                         for f, rc in r.findings]}


def print_receipt(r: Outcome) -> None:
    if r.receipt is None:
        return
    cp = Checkpoint.parse(r.receipt.checkpoint.split("\n\n")[0] + "\n")
    out.print(f"  receipt: entry {r.receipt.index}, leaf {r.receipt.leaf_hash.hex()[:16]}..., "
              f"proved in checkpoint size {cp.size} root {cp.root.hex()[:16]}...")


def report(r: Outcome, as_json: bool, receipt_path: Path | None) -> None:
    if receipt_path is not None and r.receipt is not None:
        receipt_path.write_text(json.dumps(r.receipt.to_json(), indent=2) + "\n")
    if as_json:
        dump(outcome_json(r))
        return
    ev = r.entry.event
    what = {"notice.file": "Filed", "notice.amend": "Amended", "notice.cancel": "Cancelled",
            "notice.ack": "Acknowledged"}.get(ev.type, ev.type)
    nid = ev.body.get("notice")
    version = r.notice.version if r.notice else ev.body.get("version")
    out.print(f"{what} [bold]{nid}[/] v{version} as {ev.party}: entry {r.index}, received "
              f"{format_time(r.entry.received_at, micro=True)}")
    for f, _ in r.findings:
        out.print(f"  [bold yellow]{f.kind}[/] {f.id} (entry {f.entry}, to "
                  f"{', '.join(f.parties)}): {f.summary()}")
    if not r.findings and ev.type in ("notice.file", "notice.amend"):
        out.print("  no findings")
    print_receipt(r)
    if receipt_path is not None:
        out.print(f"  receipt written to {receipt_path}")


# -- picture ---------------------------------------------------------------------------------


def open_picture(dir: Path, at: datetime | None = None) -> Picture:
    deployment = Deployment.open(dir)
    store = deployment.store(readonly=True)
    try:
        key = NoteVerifier.parse(deployment.verifier_key).public_key.public_bytes_raw()
        if at is None:
            return load_picture(store, key)
        return rebuild_picture(store, key, before=at)
    finally:
        store.close()


def picture_json(p: Picture, at: datetime) -> dict[str, Any]:
    a = p.agreement
    return {
        "at": format_time(at, micro=True), "entries": p.size,
        "agreement": None if a is None else {"id": a.id, "version": a.version},
        "notices": [dict(n.to_json(), state=p.state(n, at)) for n in p.live_notices(at)],
        "zones": [] if a is None else [{"id": z.id, "name": z.name,
                                        "protects": sorted(z.protects), "action": z.action}
                                       for z in a.zones],
        "findings": [f.to_json() for f in p.open_findings(at)],
    }


def picture_geojson(p: Picture, at: datetime) -> dict[str, Any]:
    features = []
    for n in p.live_notices(at):
        for i, v in enumerate(n.volumes):
            features.append({"type": "Feature", "geometry": footprint_geojson(v.footprint),
                             "properties": {"notice": n.id, "party": n.party, "kind": n.kind,
                                            "version": n.version, "volume": i,
                                            "state": p.state(n, at),
                                            "lower_m": v.altitude.lower_m,
                                            "upper_m": v.altitude.upper_m,
                                            "reference": v.altitude.reference,
                                            "start": format_time(v.start),
                                            "end": format_time(v.end)}})
    if p.agreement is not None:
        for z in p.agreement.zones:
            for v in z.volumes:
                features.append({"type": "Feature", "geometry": footprint_geojson(v.footprint),
                                 "properties": {"zone": z.id, "name": z.name,
                                                "lower_m": v.altitude.lower_m,
                                                "upper_m": v.altitude.upper_m}})
    return {"type": "FeatureCollection", "features": features}


@app.command()
@friendly
def picture(dir: DirOpt = Path("."),
            at: Annotated[str | None, typer.Option(
                help="Show the picture as of this UTC time (RFC 3339, e.g. "
                     "2018-09-17T18:45:00Z), rebuilt from the log.")] = None,
            geojson: Annotated[bool, typer.Option(
                "--geojson", help="Print the volumes and zones as GeoJSON.")] = False,
            as_json: JsonOpt = False) -> None:
    """Live notices, zones and open findings, now or at any past time."""
    when = parse_time(at, "at") if at else SystemClock().now()
    p = open_picture(dir, when if at else None)
    if geojson:
        dump(picture_geojson(p, when))
        return
    if as_json:
        dump(picture_json(p, when))
        return
    print_picture(p, when)


def print_picture(p: Picture, at: datetime, console: Console = out) -> None:
    console.print(f"Picture at {format_time(at)} ({p.size} entries)")
    t = Table("notice", "party", "kind", "v", "state", "window (UTC)", "altitude", "acks")
    for n in p.live_notices(at):
        alt = ", ".join(f"{v.altitude.lower_m:.0f}-{v.altitude.upper_m:.0f} m "
                        f"{v.altitude.reference}" for v in n.volumes[:2])
        t.add_row(n.id, n.party, n.kind, str(n.version), p.state(n, at),
                  f"{format_time(n.start)[11:16]}-{format_time(n.end)[11:16]} "
                  f"{format_time(n.start)[:10]}", alt, ",".join(sorted(n.acks)))
    console.print(t)
    findings = p.open_findings(at)
    if findings:
        t = Table("finding", "kind", "to", "what", title="Open findings")
        for f in findings:
            t.add_row(f.id, f.kind, ",".join(f.parties), f.summary())
        console.print(t)
    else:
        console.print("No open findings.")


# -- the log ---------------------------------------------------------------------------------


@log_app.command("checkpoint")
@friendly
def log_checkpoint(dir: DirOpt = Path("."), as_json: JsonOpt = False) -> None:
    """Print the latest signed checkpoint (a C2SP signed note)."""
    store = Deployment.open(dir).store(readonly=True)
    cp = store.checkpoint()
    store.close()
    if cp is None:
        raise InvalidInput("the log is empty: no checkpoint yet")
    if as_json:
        dump({"size": cp[0], "checkpoint": cp[1]})
    else:
        sys.stdout.write(cp[1])


@log_app.command("entry")
@friendly
def log_entry(index: int, dir: DirOpt = Path("."), as_json: JsonOpt = False) -> None:
    """Print one entry exactly as stored (canonical JSON)."""
    store = Deployment.open(dir).store(readonly=True)
    data = store.entry(index)
    store.close()
    if as_json:
        dump(json.loads(data))
    else:
        sys.stdout.write(data.decode() + "\n")


@log_app.command("receipt")
@friendly
def log_receipt(index: int, dir: DirOpt = Path("."),
                size: Annotated[int | None, typer.Option(
                    help="Prove against the checkpoint of this size (default: latest).")] = None,
                ) -> None:
    """Print a receipt (index, leaf hash, inclusion proof, signed checkpoint) for an entry."""
    store = Deployment.open(dir).store(readonly=True)
    cp = store.checkpoint(size)
    if cp is None:
        raise InvalidInput(f"no checkpoint of size {size}", field="size")
    dump(make_receipt(store, index, cp).to_json())
    store.close()


@log_app.command("consistency")
@friendly
def log_consistency(size1: int, size2: int, dir: DirOpt = Path(".")) -> None:
    """Print the consistency proof between two sizes of the log (RFC 9162), as JSON."""
    import base64

    store = Deployment.open(dir).store(readonly=True)
    n = store.size()
    if not 0 < size1 <= size2 <= n:
        raise InvalidInput(f"sizes must satisfy 0 < size1 <= size2 <= {n}", field="size2")
    proof = consistency_proof(store, size1, size2)
    dump({"size1": size1, "size2": size2,
          "root1": base64.b64encode(root(store, size1)).decode(),
          "root2": base64.b64encode(root(store, size2)).decode(),
          "proof": [base64.b64encode(h).decode() for h in proof]})
    store.close()


# -- verification ----------------------------------------------------------------------------


@app.command()
@friendly
def verify(dir: DirOpt = Path("."),
           receipt: Annotated[Path | None, typer.Option(
               help="Check this receipt offline instead of the whole store.")] = None,
           checkpoint: Annotated[Path | None, typer.Option(
               help="With --receipt: a signed checkpoint to tie the receipt to.")] = None,
           consistency: Annotated[Path | None, typer.Option(
               help="With --checkpoint of a later size: the consistency proof JSON "
                    "(`accord log consistency`).")] = None,
           key: Annotated[str | None, typer.Option(
               help="With --receipt: the log's verifier key, or a file holding it "
                    "(default: DIR/log.pub).")] = None,
           as_json: JsonOpt = False) -> None:
    """Recheck everything from the store alone, or one receipt offline."""
    if receipt is not None:
        _verify_receipt(dir, receipt, checkpoint, consistency, key, as_json)
        return
    deployment = Deployment.open(dir)
    store = deployment.store(readonly=True)
    total = store.size()
    with Progress(TextColumn("verifying"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True,
                  disable=as_json or total < 5000) as bar:
        task = bar.add_task("entries", total=total)
        result = verify_store(store, deployment.verifier_key,
                              lambda i, _n: bar.update(task, completed=i))
    store.close()
    if as_json:
        dump({"ok": result.ok, "entries": result.entries, "checkpoints": result.checkpoints,
              "problems": [{"where": p.where, "what": p.what} for p in result.problems]})
    elif result.ok:
        out.print(f"[bold green]OK[/] {result.entries} entries, {result.nodes} tree nodes, "
                  f"{result.checkpoints} checkpoints, every signature, the tree, the checkpoints "
                  f"and the picture ({result.notices} notices, {result.findings} findings) "
                  f"verify.")
    else:
        err.print(f"[bold red]FAILED[/] {len(result.problems)} problem(s):")
        for p in result.problems:
            err.print(f"  {p}")
    if not result.ok:
        raise typer.Exit(1)


def _verify_receipt(dir: Path, receipt: Path, checkpoint: Path | None,
                    consistency: Path | None, key: str | None, as_json: bool) -> None:
    if key is None:
        vkey = (dir / "log.pub").read_text().strip() if (dir / "log.pub").exists() else None
        if vkey is None:
            raise InvalidInput("no log key: pass --key or a --dir holding log.pub", field="key")
    elif os.path.exists(key):
        vkey = Path(key).read_text().strip()
    else:
        vkey = key
    rj = load_json(receipt.read_text(), "receipt")
    note = checkpoint.read_text() if checkpoint else None
    proof = None
    if consistency is not None:
        proof = load_json(consistency.read_text(), "consistency").get("proof")
    cp = verify_receipt_offline(rj, vkey, note, proof)
    if as_json:
        dump({"ok": True, "index": rj["index"], "checkpoint_size": cp.size, "origin": cp.origin})
        return
    _, names = open_note(rj["checkpoint"], [NoteVerifier.parse(vkey)])
    out.print(f"[bold green]OK[/] entry {rj['index']} is in log {cp.origin}, proved against "
              f"the checkpoint of size {cp.size} signed by {', '.join(names)}.")


# -- demo ------------------------------------------------------------------------------------


@app.command()
def demo(dir: Annotated[Path | None, typer.Option(
             "--dir", "-d", help="Keep the demo deployments in this folder "
                                 "(default: a temporary folder, removed afterwards).")] = None,
         ) -> None:
    """Replay the Latakia scenario of 17 September 2018 (modelled on public reports)."""
    from accord.scenarios.latakia import run

    code = run(out, dir)
    raise typer.Exit(code)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()


