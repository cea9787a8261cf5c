"""`accord`: every operation from the terminal, with `--json` for scripts.

The CLI is an adapter: it reads files and keys, drives the writer or the store, and prints.
Every refusal is an `AccordError` and is printed the same way (or as RFC 9457 JSON with --json);
any other failure is one line too, never a traceback. Every file a user names is read through
`accord.files` (regular files only, size-capped); every text from another party is printed
through `accord.render` (terminal controls and bidi overrides shown as escapes); every receipt
is proved by the access layer before anything here prints it.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import click
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from accord import commands
from accord.access import Access, Local, Remote, log_key
from accord.errors import AccordError, DeploymentError, InvalidInput
from accord.files import KEY_MAX, RECEIPT_MAX, read_bytes, read_text
from accord.keys import PARTY_KEY, KeyFile
from accord.limits import parse_json
from accord.log.cosignature import Witnessed, WitnessPolicy, verify_witnessed
from accord.log.note import NoteVerifier
from accord.log.receipt import Proved, Receipt, prove_json, prove_witnessed
from accord.picture.view import Area
from accord.render import json_text, markup, printable
from accord.rules.agreement import Agreement, identifier
from accord.rules.notice import Finding, duration
from accord.service.deployment import Deployment
from accord.service.writer import Submission, load_picture
from accord.timefmt import SystemClock, format_time, parse_time
from accord.verify import verify_store

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
message_app = typer.Typer(help="The hotline: send and acknowledge messages.",
                          no_args_is_help=True)
app.add_typer(message_app, name="message")
tracks_app = typer.Typer(help="Feed position reports of your aircraft to a running service.",
                         no_args_is_help=True)
app.add_typer(tracks_app, name="tracks")
party_app = typer.Typer(help="Credentials for parties to use the HTTP API.",
                        no_args_is_help=True)
app.add_typer(party_app, name="party")
app.add_typer(agreement_app, name="agreement")
app.add_typer(notice_app, name="notice")
app.add_typer(log_app, name="log")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

DirOpt = Annotated[Path, typer.Option("--dir", "-d", envvar="ACCORD_DIR",
                                      help="The deployment folder (made by `accord init`), "
                                           "or for reads a party mirror (`accord mirror`).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
KeyOpt = Annotated[Path, typer.Option("--key", "-k", help="The party's key file.")]
AgreementOpt = Annotated[Path | None, typer.Option(
    "--agreement", help="The agreement you signed (the proposal file, or `accord agreement "
                        "show --json`): its witness keys and quorum are checked (default: the "
                        "agreement in force, as the deployment or service holds it).")]

F = TypeVar("F", bound=Callable[..., Any])


def diagnostics(exc: AccordError) -> str:
    """An error as Rich markup: title, field, detail, and what would be accepted, each shown
    with control characters escaped (a detail may quote what another party or server sent)."""
    where = " " + markup(f"[{exc.field}]") if exc.field else ""
    text = f"[bold red]error[/] {markup(exc.title)}{where}: {markup(exc.detail)}"
    if exc.accepted:
        text += f"\n  accepted: {markup(exc.accepted)}"
    return text


def friendly(fn: F) -> F:
    """Print an AccordError plainly (or as problem JSON with --json) and exit 2; an operating
    system error (a file that cannot be written, ...) the same way; anything else as one line
    and exit 70 (set ACCORD_DEBUG=1 for the traceback)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, click.exceptions.Exit, click.exceptions.Abort,
                click.ClickException):
            raise  # typer.Exit is not click's Exit: a command's own exit status, not an error
        except AccordError as exc:
            fail(exc, bool(kwargs.get("as_json")))
        except OSError as exc:
            name = f" {exc.filename}" if exc.filename else ""
            fail(DeploymentError(f"{exc.strerror or exc}:{name}"), bool(kwargs.get("as_json")))
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        except Exception as exc:
            if os.environ.get("ACCORD_DEBUG"):
                raise
            err.print(f"[bold red]internal error[/] {markup(type(exc).__name__)}: "
                      f"{markup(str(exc)[:300])} (ACCORD_DEBUG=1 shows where)")
            raise typer.Exit(70) from None

    return wrapper  # type: ignore[return-value]


def fail(exc: AccordError, as_json: bool) -> None:
    kept = _keep_refusal(exc)
    if as_json:
        print(json_text(exc.problem(), indent=2), file=sys.stdout)
    else:
        err.print(diagnostics(exc))
        if kept:
            err.print(kept)
    raise typer.Exit(2) from None


def _keep_refusal(exc: AccordError) -> str | None:
    """A refusal the service signed: check it with the log key and save it beside the other
    refusals (ACCORD_REFUSALS, default the current folder); the line that says where."""
    note = exc.extra.get("refusal")
    if not isinstance(note, str):
        return None
    from accord.log.refusal import verify_refusal

    verifier = Session.verifier()
    try:
        if verifier is not None:
            r = verify_refusal(note, verifier)
            stamp, tag = format_time(r.time).replace(":", ""), r.hash.hex()[:8]
        else:
            stamp, tag = format_time(datetime.now(UTC)).replace(":", ""), "unchecked"
    except AccordError as e:
        return f"[bold red]the service's refusal statement does not verify:[/] {markup(e.detail)}"
    folder = Path(os.environ.get("ACCORD_REFUSALS", "."))
    path = folder / f"refusal-{stamp}-{tag}.note"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(note)
    except OSError as e:
        return f"the operator's signed refusal could not be saved ({e.strerror}): {markup(note)}"
    checked = "" if verifier else " (not checked: no --log-key)"
    return (f"The operator's signed refusal is saved in {markup(str(path))}{checked}; "
            f"`accord verify --refusal {markup(str(path))}` checks it.")


def warn(text: str) -> None:
    err.print(f"[bold yellow]warning[/] {markup(text)}")


def read_key(path: Path) -> KeyFile:
    """A party's key file, with a warning when others can read it."""
    return KeyFile.read(path, PARTY_KEY, warn=warn)


def parse_log_key(value: str, what: str = "log_key") -> NoteVerifier:
    """The log's verifier key, given as the key itself or as a file holding it (log.pub)."""
    try:
        return NoteVerifier.parse(value.strip())
    except AccordError:
        pass
    if not os.path.lexists(value):
        raise InvalidInput(f"{printable(value)[:80]} is neither the log's verifier key nor a "
                           f"file", field=what,
                           accepted="the operator's log.pub (name+keyid+key), or its path")
    text = read_text(value, KEY_MAX, what).strip()
    try:
        return NoteVerifier.parse(text)
    except AccordError:
        raise InvalidInput(f"{printable(value)[:80]} does not hold a log verifier key",
                           field=what,
                           accepted="the operator's log.pub (name+keyid+key)") from None


class Session:
    """Where commands go: a running service (--server) or the deployment folder."""

    server: str | None = None
    token: str | None = None
    log_key: str | None = None

    @classmethod
    def verifier(cls) -> NoteVerifier | None:
        return parse_log_key(cls.log_key) if cls.log_key else None


@app.callback()
def main_options(
        server: Annotated[str | None, typer.Option(
            "--server", "-s", envvar="ACCORD_SERVER",
            help="Talk to a running `accord serve` at this URL instead of a local folder.")]
        = None,
        token: Annotated[str | None, typer.Option(
            "--token", envvar="ACCORD_TOKEN",
            help="With --server: your party's token (from `accord party token`).")] = None,
        log_key: Annotated[str | None, typer.Option(
            "--log-key", envvar="ACCORD_LOG_KEY",
            help="The log's public key (the operator's log.pub, or the key itself), taken "
                 "out of band. Every receipt is proved against it; with --server, writes and "
                 "receipts need it. Locally the deployment's own log.pub is used.")] = None,
) -> None:
    Session.server, Session.token, Session.log_key = server, token, log_key


@contextmanager
def access(dir: Path) -> Iterator[Access]:
    """The service if --server was given, else the deployment (or the party mirror) in
    `dir`."""
    from accord.mirror.access import MirrorAccess
    from accord.mirror.folder import is_mirror

    key = Session.verifier()
    a: Local | Remote | MirrorAccess
    if Session.server:
        a = Remote(Session.server, Session.token, key)
    elif is_mirror(dir):
        a = MirrorAccess(dir)
    else:
        a = Local(dir, key)
    try:
        yield a
    finally:
        a.close()


def server_client(what: str) -> Any:
    """The HTTP client for commands that only make sense against a running service."""
    if not Session.server:
        raise InvalidInput(f"{what} needs a running service", field="server",
                           accepted="--server URL --token TOKEN")
    from accord.client import Client

    return Client(Session.server, Session.token, log_key=Session.verifier())


def local_only(what: str) -> None:
    if Session.server:
        raise InvalidInput(f"{what} works on the deployment's own folder, not over --server",
                           field="server", accepted="run it where the deployment lives")


def dump(obj: Any) -> None:
    print(json_text(obj, indent=2))


def row(table: Table, *cells: object) -> None:
    """A table row of text that may come from another party: escaped, never interpreted."""
    table.add_row(*(markup(c) for c in cells))


# -- deployment and keys ---------------------------------------------------------------------


@app.command()
@friendly
def init(dir: Annotated[Path, typer.Argument(help="Folder to create the deployment in.")],
         origin: Annotated[str | None, typer.Option(
             help="The log's origin name, unique to this log (default: made from the folder).")]
         = None,
         database: Annotated[str | None, typer.Option(
             "--database", metavar="URL|env",
             help="Keep the store in this PostgreSQL database (postgresql://user@host/db, "
                  "empty, no password: libpq reads it from PGPASSFILE or a service file), or "
                  "'env' to read the URL from ACCORD_DATABASE_URL at every start. Default: "
                  "SQLite in the folder.")] = None,
         as_json: JsonOpt = False) -> None:
    """Create a deployment: the store (SQLite, or PostgreSQL with --database), the operator's
    log key and the log's origin."""
    if dir.exists() and not dir.is_dir():
        raise InvalidInput(f"{dir} exists and is not a folder", field="dir",
                           accepted="a new or empty folder")
    try:
        d = Deployment.init(dir, origin, database=database)
    except OSError as exc:
        raise DeploymentError(f"cannot create a deployment in {dir}: {exc.strerror}",
                              accepted="a folder you can write to") from None
    if as_json:
        dump({"dir": str(d.dir), "origin": d.origin, "log_key": d.verifier_key,
              "store": d.backend})
        return
    out.print(f"Created deployment [bold]{markup(d.dir)}[/] with log origin "
              f"[bold]{markup(d.origin)}[/]")
    out.print(f"Log verifier key (give it to every party):\n  {markup(d.verifier_key)}")


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
    out.print(f"Wrote {markup(path)} (keep it private). Public key for the agreement:")
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
            help="The deployment it is for (its log origin; for an amendment, the agreement "
                 "it replaces).")] = None,
        log: Annotated[str | None, typer.Option(
            "--log", help="The log origin it is for, when the deployment is not on this "
                          "machine (as `accord init` printed it).")] = None,
        as_json: JsonOpt = False) -> None:
    """Turn an agreement file into a proposal for every party to sign (for one log only)."""
    doc = commands.load_document(file)
    replaces = version = None
    if dir is not None and (dir / "accord.toml").exists():
        deployment = Deployment.open(dir)
        if log is not None and log != deployment.origin:
            raise InvalidInput(f"--log {log!r} is not the origin of {dir}", field="log",
                               accepted=repr(deployment.origin))
        log = deployment.origin
        store = deployment.store(readonly=True)
        state = store.state()
        if state.get("agreement_entry", -1) >= 0:
            current = load_picture(store, log_key(deployment)).agreement
            assert current is not None
            replaces, version = state["agreement_leaf"], current.version + 1
        store.close()
    if log is None:
        raise InvalidInput("a proposal names the log it is for", field="log",
                           accepted="-d DIR (the deployment) or --log ORIGIN")
    proposal = commands.propose_agreement(doc, SystemClock().now(), log, replaces, version)
    out_path.write_text(json.dumps(proposal, indent=2) + "\n")
    if as_json:
        dump(proposal)
        return
    body = proposal["event"]["body"]
    out.print(f"Wrote {markup(out_path)}: agreement [bold]{markup(body['id'])}[/] version "
              f"{proposal['event']['seq']}, to be signed by "
              + markup(", ".join(str(p["id"]) for p in body["parties"])))


@agreement_app.command("sign")
@friendly
def agreement_sign(proposal: Annotated[Path, typer.Argument(help="The proposal file.")],
                   key: KeyOpt, as_json: JsonOpt = False) -> None:
    """Add your party's signature to a proposal (in place)."""
    k = read_key(key)
    signed = commands.sign_proposal(commands.load_document(proposal), k)
    proposal.write_text(json.dumps(signed, indent=2) + "\n")
    if as_json:
        dump(signed)
        return
    parties = [p["id"] for p in signed["event"]["body"]["parties"]]
    missing = [p for p in parties if p not in signed["sigs"]]
    out.print(f"Signed as {markup(k.name)}. "
              + (f"Still to sign: {markup(', '.join(missing))}" if missing
                 else "Every party has signed: ready to adopt."))


@agreement_app.command("adopt")
@friendly
def agreement_adopt(proposal: Annotated[Path, typer.Argument(help="The signed proposal.")],
                    dir: DirOpt = Path("."), as_json: JsonOpt = False) -> None:
    """Append the agreement, signed by every party, to the log."""
    sub = commands.adoption(commands.load_document(proposal))
    with access(dir) as a:
        result, proved = a.submit(sub)
    if as_json:
        dump(result)
        return
    out.print(f"Agreement in force from entry {result['index']}.")
    print_receipt(proved)


@agreement_app.command("show")
@friendly
def agreement_show(dir: DirOpt = Path("."), as_json: JsonOpt = False) -> None:
    """Show the agreement in force."""
    with access(dir) as acc:
        shown = acc.agreement()
    if as_json:
        dump(shown["agreement"])
        return
    a = Agreement.from_json(shown["agreement"])
    out.print(f"[bold]{markup(a.title)}[/] ({markup(a.id)}, version {a.version}, entry "
              f"{shown['entry']}, signed by {markup(', '.join(sorted(shown['sigs'])))})")
    out.print(f"Separation: {a.separation.horizontal_m:.0f} m horizontal, "
              f"{a.separation.vertical_m:.0f} m vertical; conflicts: {a.conflict_action}; "
              f"hotline acknowledgement within {duration(a.hotline.ack_deadline.total_seconds())}")
    t = Table("party", "name", "escalation", title="Parties")
    for p in a.parties:
        row(t, p.id, p.name, p.escalation or "")
    out.print(t)
    t = Table("kind", "hazard", "lead time", "late", "acknowledgement", title="Activity kinds")
    for k in a.kinds:
        ack = (f"within {duration(k.ack_deadline.total_seconds())}"
               if k.ack_required and k.ack_deadline else "no")
        row(t, k.name, "yes" if k.hazard else "", duration(k.lead_time.total_seconds()),
                  k.late_action, ack)
    out.print(t)
    if a.zones:
        t = Table("zone", "name", "applies to", "protects", "action", title="Zones")
        for z in a.zones:
            r = z.rule
            who = ("parties " + ",".join(sorted(r.parties)) if r.parties else "anyone")
            what = ("kinds " + ",".join(sorted(r.kinds)) if r.kinds else
                    "hazard activity" if r.hazard_only else "any activity")
            row(t, z.id, z.name, f"{who}, {what}", ",".join(sorted(z.protects)), z.action)
        out.print(t)
    if a.witnesses:
        t = Table("witness", "key", "url", title=f"Witnesses (a checkpoint is witnessed when "
                                                  f"{a.witnesses.quorum} of "
                                                  f"{len(a.witnesses.witnesses)} cosign it)")
        for w in a.witnesses.witnesses:
            row(t, w.name, w.vkey, w.url or "")
        out.print(t)


# -- notices and the hotline -----------------------------------------------------------------


Build = Callable[[KeyFile, Access], Submission]


def writable(path: Path | None) -> None:
    """Refuse, before anything is sent, a receipt path the receipt could not be written to
    (the write would be in the log and its receipt lost)."""
    if path is None:
        return
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir() or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK) \
            or (path.exists() and not os.access(path, os.W_OK)):
        raise InvalidInput(f"cannot write the receipt to {path}", field="receipt",
                           accepted="a file path in a folder you can write to")


def _send(dir: Path, key: Path, build: Build) -> tuple[dict[str, Any], Proved]:
    k = read_key(key)
    with access(dir) as a:
        return a.submit(build(k, a))


def _signed(type: str, body: Callable[[KeyFile, Access], tuple[dict[str, Any], Any]]) -> Build:
    def build(k: KeyFile, a: Access) -> Submission:
        b, reveal = body(k, a)
        return commands.signed(k, type, a.context(k.name), a.clock.now(), b, reveal)
    return build


def _content(file: Path, notice_id: str | None, replaces: int | None) -> Build:
    """A `notice.file` (or, given `replaces`, a `notice.amend`) built from a notice document."""
    doc = commands.load_document(file)
    return _signed("notice.file" if replaces is None else "notice.amend",
                   lambda k, a: commands.notice_body(doc, k.name, replaces=replaces,
                                                     notice=notice_id))


def _ref(type: str, notice_id: str, version: int | None) -> Build:
    def body(k: KeyFile, a: Access) -> tuple[dict[str, Any], Any]:
        v = version if version is not None else (a.current_version(notice_id) or 1)
        return {"notice": notice_id, "version": v}, None
    return _signed(type, body)


ReceiptOpt = Annotated[Path | None, typer.Option(help="Also write the receipt to this file.")]
VersionOpt = Annotated[int | None, typer.Option(
    help="The version you mean (default: the current one).")]


@notice_app.command("file")
@friendly
def notice_file(file: Annotated[Path, typer.Argument(help="The notice document (JSON).")],
                key: KeyOpt, dir: DirOpt = Path("."), receipt: ReceiptOpt = None,
                as_json: JsonOpt = False) -> None:
    """File a notice: it is checked at once and every finding is logged beside it."""
    writable(receipt)
    report(_send(dir, key, _content(file, None, None)), as_json, receipt)


@notice_app.command("amend")
@friendly
def notice_amend(notice_id: Annotated[str, typer.Argument(help="The notice to amend.")],
                 file: Annotated[Path, typer.Argument(help="The new content (JSON).")],
                 replaces: Annotated[int, typer.Option(
                     help="The version you are replacing; refused if it is no longer current.")],
                 key: KeyOpt, dir: DirOpt = Path("."), receipt: ReceiptOpt = None,
                 as_json: JsonOpt = False) -> None:
    """Replace a notice's content; the new version is checked like a new filing."""
    writable(receipt)
    report(_send(dir, key, _content(file, notice_id, replaces)), as_json, receipt)


@notice_app.command("cancel")
@friendly
def notice_cancel(notice_id: str, key: KeyOpt, dir: DirOpt = Path("."),
                  version: VersionOpt = None, as_json: JsonOpt = False) -> None:
    """Cancel one of your party's notices."""
    report(_send(dir, key, _ref("notice.cancel", notice_id, version)), as_json, None)


@notice_app.command("ack")
@friendly
def notice_ack(notice_id: str, key: KeyOpt, dir: DirOpt = Path("."),
               version: VersionOpt = None, as_json: JsonOpt = False) -> None:
    """Acknowledge another party's notice (a signed statement that you received it)."""
    report(_send(dir, key, _ref("notice.ack", notice_id, version)), as_json, None)


@notice_app.command("check")
@friendly
def notice_check(file: Annotated[Path, typer.Argument(help="The notice document (JSON).")],
                 party: Annotated[str, typer.Option(help="The party that would file it.")],
                 dir: DirOpt = Path("."), as_json: JsonOpt = False) -> None:
    """Run the same check as filing, without filing anything."""
    doc = commands.load_document(file)
    with access(dir) as a:
        result = a.check(party, doc)
    if as_json:
        dump(result)
        return
    notice, findings = result["notice"], result["findings"]
    out.print(f"Checked {markup(notice['id'])} ({markup(notice['kind'])}, "
              f"{len(notice['volumes'])} volume(s)): "
              + ("no findings." if not findings else f"{len(findings)} finding(s)"))
    for f in findings:
        out.print(f"  [bold yellow]{markup(f['kind'])}[/] ({markup(f['action'])}) "
                  f"{markup(_summary(f))}")


@message_app.command("send")
@friendly
def message_send(text: Annotated[str, typer.Argument(help="The message.")], key: KeyOpt,
                 dir: DirOpt = Path("."),
                 to: Annotated[list[str] | None, typer.Option(
                     help="Recipient party (repeat; default: every other party).")] = None,
                 ack_minutes: Annotated[float | None, typer.Option(
                     help="Acknowledge within this many minutes (default: the agreement's).")]
                 = None,
                 urgent: Annotated[bool, typer.Option(help="Mark it urgent.")] = False,
                 about: Annotated[str | None, typer.Option(
                     help="A notice id this message is about.")] = None,
                 message_id: Annotated[str | None, typer.Option(
                     "--id", help="The message id (default: generated).")] = None,
                 as_json: JsonOpt = False) -> None:
    """Send a hotline message; the recipients must acknowledge it by its deadline."""
    def body(k: KeyFile, a: Access) -> tuple[dict[str, Any], Any]:
        b: dict[str, Any] = {"message": message_id or commands.new_notice_id(f"{k.name}:M"),
                             "text": text, "priority": "urgent" if urgent else "routine"}
        if to:
            b["to"] = to
        if ack_minutes is not None:
            b["ack_minutes"] = ack_minutes
        if about:
            b["ref"] = {"notice": about}
        return b, None
    report(_send(dir, key, _signed("message", body)), as_json, None)


@message_app.command("ack")
@friendly
def message_ack(message_id: str, key: KeyOpt, dir: DirOpt = Path("."),
                as_json: JsonOpt = False) -> None:
    """Acknowledge a hotline message sent to your party."""
    report(_send(dir, key, _signed("message.ack", lambda k, a: ({"message": message_id}, None))),
           as_json, None)


def _summary(f: dict[str, Any]) -> str:
    return Finding.from_body(f, f.get("entry", -1), SystemClock().now()).summary()


def print_receipt(proved: Proved) -> None:
    """What a receipt was proved to say (`Access.submit` proved it; nothing else prints one)."""
    cp = proved.checkpoint
    out.print(f"  receipt proved: entry {proved.index} received "
              f"{format_time(proved.received_at, micro=True)}, in checkpoint size {cp.size} "
              f"root {cp.root.hex()[:16]}... signed by {markup(cp.origin)}")


def report(written: tuple[dict[str, Any], Proved], as_json: bool,
           receipt_path: Path | None) -> None:
    r, proved = written
    if receipt_path is not None:
        receipt_path.write_text(json.dumps(r["receipt"], indent=2) + "\n")
    if as_json:
        dump(r)
        return
    ev = r.get("event") or {}
    what = {"notice.file": "Filed", "notice.amend": "Amended", "notice.cancel": "Cancelled",
            "notice.ack": "Acknowledged", "message": "Sent", "message.ack": "Acknowledged",
            }.get(ev.get("type", ""), ev.get("type", "Done"))
    body = ev.get("body", {})
    version = r["notice"]["version"] if r.get("notice") else body.get("version")
    subject = (f"[bold]{markup(body['notice'])}[/] v{version}" if "notice" in body
               else f"message [bold]{markup(body.get('message'))}[/]")
    out.print(f"{markup(what)} {subject} as {markup(ev.get('party'))}: entry {proved.index}, "
              f"received {format_time(proved.received_at, micro=True)}")
    for item in r["findings"]:
        f = item["finding"]
        out.print(f"  [bold yellow]{markup(f['kind'])}[/] {markup(f['finding'])} (entry "
                  f"{f['entry']}, to {markup(', '.join(f['parties']))}): "
                  f"{markup(_summary(f))}")
    if not r["findings"] and ev.get("type") in ("notice.file", "notice.amend"):
        out.print("  no findings")
    print_receipt(proved)
    if receipt_path is not None:
        out.print(f"  receipt written to {markup(receipt_path)}")


# -- picture, findings, the live stream --------------------------------------------------------


@app.command()
@friendly
def picture(dir: DirOpt = Path("."),
            at: Annotated[str | None, typer.Option(
                help="Show the picture as of this UTC time (RFC 3339, e.g. "
                     "2018-09-17T18:45:00Z): the nearest snapshot of the log and the "
                     "entries after it.")] = None,
            geojson: Annotated[bool, typer.Option(
                "--geojson", help="Print the volumes and zones as GeoJSON.")] = False,
            bbox: Annotated[str | None, typer.Option(
                help="Only notices within lon_min,lat_min,lon_max,lat_max.")] = None,
            start: Annotated[str | None, typer.Option(
                help="Only notices active after this UTC time.")] = None,
            end: Annotated[str | None, typer.Option(
                help="Only notices active before this UTC time.")] = None,
            as_json: JsonOpt = False) -> None:
    """Live notices, zones, open findings and hotline traffic, now or at any past time."""
    when = parse_time(at, "at") if at else None
    with access(dir) as a:
        p = a.picture(when, geojson, Area.parse(bbox, start, end))
    if geojson or as_json:
        dump(p)
        return
    print_picture(p)


def print_picture(p: dict[str, Any], console: Console = out) -> None:
    who = f" as {p['party']}" if p.get("party") else ""
    console.print(f"Picture at {markup(p['at'][:19])}Z{markup(who)} ({p['entries']} entries)")
    t = Table("notice", "party", "kind", "v", "state", "window (UTC)", "altitude", "acks")
    for n in p["notices"]:
        vols = n["volumes"]
        start, end = min(v["start"] for v in vols), max(v["end"] for v in vols)
        alt = ", ".join(f"{v['altitude']['lower']:.0f}-{v['altitude']['upper']:.0f} m "
                        f"{v['altitude']['reference']}" for v in vols[:2])
        row(t, n["id"], n["party"], n["kind"], str(n["version"]), n["state"],
                  f"{start[11:16]}-{end[11:16]} {start[:10]}", alt, ",".join(n["acks"]))
    console.print(t)
    if p["findings"]:
        t = Table("finding", "kind", "to", "what", title="Open findings")
        for f in p["findings"]:
            row(t, f["finding"], f["kind"], ",".join(f["parties"]), _summary(f))
        console.print(t)
    else:
        console.print("No open findings.")
    if p.get("messages"):
        t = Table("message", "from", "to", "text", "deadline", "acks", title="Hotline")
        for m in p["messages"]:
            row(t, m["id"], m["from"], ",".join(m["to"]), m["text"][:60],
                      m["deadline"][11:19], ",".join(m["acks"]))
        console.print(t)
    for e in p.get("escalations", []):
        console.print(f"[bold red]escalation[/] {markup(e['escalation'])}: {markup(e['text'])}")


@app.command()
@friendly
def findings(dir: DirOpt = Path("."),
             open_only: Annotated[bool, typer.Option(
                 "--open", help="Only findings still open.")] = False,
             as_json: JsonOpt = False) -> None:
    """Findings (addressed to your party, with --server), oldest first."""
    with access(dir) as a:
        items = a.findings(open_only)
    if as_json:
        dump(items)
        return
    t = Table("finding", "entry", "kind", "to", "what", title="Findings")
    for f in items:
        row(t, f["finding"], str(f["entry"]), f["kind"], ",".join(f["parties"]), _summary(f))
    out.print(t)


@tracks_app.command("feed")
@friendly
def tracks_feed(source: Annotated[str, typer.Argument(
                    help="A file, '-' for standard input, or tcp://HOST:PORT (e.g. a "
                         "receiver's SBS-1 port 30003).")],
                format: Annotated[str, typer.Option(
                    "--format", "-f", help="jsonl (the API's report rows) or sbs "
                                           "(BaseStation MSG lines).")] = "jsonl",
                batch: Annotated[int, typer.Option(help="Reports per request.")] = 500,
                as_json: JsonOpt = False) -> None:
    """Send a feed's reports to the service in batches, with running counts."""
    from accord.feeds.readers import Counts, SbsAssembler, jsonl_rows, lines_from

    client = server_client("feeding tracks")
    if format not in ("jsonl", "sbs"):
        raise InvalidInput(f"unknown format {format!r}", field="format", accepted="jsonl, sbs")
    counts = Counts()
    rows = (jsonl_rows(lines_from(source), counts) if format == "jsonl"
            else SbsAssembler().rows(lines_from(source), counts))
    totals = {"accepted": 0, "duplicates": 0, "out_of_order": 0, "rejected": 0}
    problems: list[dict[str, Any]] = []
    with client as c, Progress(
            TextColumn("{task.description}"), TimeElapsedColumn(), console=err,
            disable=as_json) as bar:
        task = bar.add_task("reading", total=None)
        pending: list[dict[str, Any]] = []

        def flush() -> None:
            if not pending:
                return
            got = c.tracks(pending)
            for k in totals:
                totals[k] += got[k]
            problems.extend(got["problems"][:max(0, 10 - len(problems))])
            pending.clear()
            bar.update(task, description=(
                f"{counts.lines:,} lines, {totals['accepted']:,} kept, "
                f"{totals['rejected'] + counts.bad:,} bad, {totals['duplicates']:,} duplicate, "
                f"{totals['out_of_order']:,} late"))

        for row in rows:
            pending.append(row)
            if len(pending) >= batch:
                flush()
        flush()
    summary = {"lines": counts.lines, "rows": counts.rows, "bad_lines": counts.bad,
               "waiting_for_velocity": counts.waiting, **totals, "problems": problems}
    if as_json:
        dump(summary)
        return
    out.print(f"{counts.lines:,} lines: {totals['accepted']:,} reports kept, "
              f"{totals['duplicates']:,} duplicates, {totals['out_of_order']:,} out of order, "
              f"{totals['rejected']:,} refused, {counts.bad:,} unreadable lines"
              + (f", {counts.waiting:,} positions before any velocity" if format == "sbs"
                 else ""))
    for p in problems:
        out.print(f"  row {markup(p['row'])}: {markup(p['detail'])} "
                  f"{markup('[' + str(p.get('field')) + ']')}")


@app.command()
@friendly
def alerts(open_only: Annotated[bool, typer.Option(
               "--open", help="Only alerts still open.")] = False,
           as_json: JsonOpt = False) -> None:
    """Tactical alerts that concern your party (needs --server and --token)."""
    with server_client("listing alerts") as c:
        items = c.alerts(open_only)
    if as_json:
        dump(items)
        return
    from accord.tactical.alerts import describe

    t = Table("alert", "state", "kind", "level", "to", "what", "raised", "updated")
    for a in items:
        what = describe(a["kind"], a["change"], a["details"])
        row(t, a["alert"], a["state"], a["kind"], str(a["level"]), ",".join(a["parties"]),
                  what, a["raised_at"][11:19], a["updated_at"][11:19])
    out.print(t)


@app.command()
@friendly
def watch(last_event_id: Annotated[int | None, typer.Option(
              "--from", help="Resume after this log index (as SSE Last-Event-ID).")] = None,
          as_json: JsonOpt = False) -> None:
    """Print your party's live stream from a running service (needs --server and --token)."""
    with server_client("watching the stream") as c:
        for index, kind, data in c.stream(last_event_id):
            if as_json:
                print(json_text(data), flush=True)
                continue
            ev = data.get("value", {}).get("event", {})
            body = ev.get("body", {})
            what = body.get("text") or body.get("notice") or body.get("kind") or ""
            if ev.get("type") == "finding":
                what = _summary(body)
            out.print(f"[dim]{index:>6}[/] {markup(data['value']['received_at'][11:19])} "
                      f"[bold]{markup(kind)}[/] {markup(ev.get('party', ''))}: {markup(what)}")


# -- the log ---------------------------------------------------------------------------------


def emit_exact(data: bytes, what: str) -> None:
    """Bytes exactly as they are, to standard output; on a terminal, any control or bidi
    character is shown escaped instead (with a note), so a stored text cannot drive it."""
    text = data.decode("utf-8", errors="replace")
    if sys.stdout.isatty() and printable(text.rstrip("\n").replace("\n", "")) != \
            text.rstrip("\n").replace("\n", ""):
        sys.stdout.write("\n".join(printable(line) for line in text.split("\n")))
        sys.stdout.flush()
        warn(f"{what} shown with control characters escaped; redirect it or use -o FILE "
             f"for the exact bytes")
        return
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


@log_app.command("checkpoint")
@friendly
def log_checkpoint(dir: DirOpt = Path("."), as_json: JsonOpt = False) -> None:
    """Print the latest signed checkpoint (a C2SP signed note)."""
    with access(dir) as a:
        cp = a.checkpoint()
    if as_json:
        dump({"size": cp["size"], "checkpoint": cp["checkpoint"]})
    else:
        emit_exact(cp["checkpoint"].encode("utf-8"), "the checkpoint")


@log_app.command("entry")
@friendly
def log_entry(index: int, dir: DirOpt = Path("."),
              out_path: Annotated[Path | None, typer.Option(
                  "--out", "-o", help="Write the entry's bytes to this file.")] = None,
              as_json: JsonOpt = False) -> None:
    """Write one entry exactly as stored (canonical JSON, no newline added): the bytes whose
    hash is the receipt's leaf hash."""
    with access(dir) as a:
        item = a.entry(index)
    if "entry" not in item:
        raise InvalidInput(f"entry {index} is not disclosed to your party (leaf hash "
                           f"{item['leaf_hash']})", field="index")
    data = item["entry"].encode("utf-8")
    if out_path is not None:
        out_path.write_bytes(data)
        if as_json:
            dump({"index": index, "file": str(out_path), "bytes": len(data)})
        else:
            err.print(f"Wrote entry {index} ({len(data):,} bytes) to {markup(out_path)}")
    elif as_json:
        dump(parse_json(data, field="entry", what="the entry"))
    else:
        emit_exact(data, f"entry {index}")


@log_app.command("entries")
@friendly
def log_entries(start: Annotated[int, typer.Argument(help="First index.")] = 0,
                end: Annotated[int | None, typer.Argument(help="Stop before this index.")]
                = None,
                dir: DirOpt = Path(".")) -> None:
    """Print entries [start, end) as JSON lines (with --server: as your party may read them)."""
    with access(dir) as a:
        for item in a.entries(start, end):
            print(json_text(item))


@log_app.command("receipt")
@friendly
def log_receipt(index: int, dir: DirOpt = Path("."),
                size: Annotated[int | None, typer.Option(
                    help="Prove against the checkpoint of this size (default: latest).")] = None,
                witnessed: Annotated[bool, typer.Option(
                    "--witnessed", help="Prove against the latest checkpoint the agreement's "
                                        "witnesses cosigned, and check their cosignatures.")]
                = False,
                since: Annotated[Path | None, typer.Option(
                    "--since", help="With --witnessed: a receipt you hold for this entry; the "
                                    "witnessed checkpoint must extend its checkpoint "
                                    "(consistency), or the log has shown you two histories.")]
                = None,
                agreement: AgreementOpt = None,
                as_json: JsonOpt = False) -> None:
    """Print a receipt (index, leaf hash, the entry, inclusion proof, signed checkpoint) for an
    entry, as JSON, once it is proved against the log's key. With --witnessed the checkpoint
    carries the witnesses' cosignatures, and the time bounds go to stderr."""
    if not witnessed:
        if since is not None:
            raise InvalidInput("--since goes with --witnessed", field="since")
        with access(dir) as a:
            dump(a.receipt(index, size))
        return
    if size is not None:
        raise InvalidInput("--size and --witnessed exclude each other: the witnessed "
                           "checkpoint fixes the size", field="size")
    verifier = _client_log_key(dir)
    with access(dir) as a:
        policy = _witness_policy(a, agreement)
        w = a.witnessed()
        rc = a.receipt(index, int(w["size"]))
        rc["checkpoint"] = w["checkpoint"]
        proved, wit = prove_witnessed(rc, verifier, policy, now=int(time.time()))
        if since is not None:
            old = parse_json(read_text(since, RECEIPT_MAX, "receipt"), field="since",
                             what="the receipt")
            held_index = Receipt.from_json(old).index
            if held_index != index:
                raise InvalidInput(f"the receipt given with --since is for entry {held_index}, "
                                   f"not {index}", field="since")
            held, _ = prove_json(old, verifier)
            proof = (a.consistency(held.checkpoint.size, wit.checkpoint.size)["proof"]
                     if held.checkpoint.size < wit.checkpoint.size else [])
            prove_json(old, verifier, w["checkpoint"], proof)
    dump(rc)
    _print_bounds(proved, wit, policy, err)


@log_app.command("witnessed")
@friendly
def log_witnessed(dir: DirOpt = Path("."), agreement: AgreementOpt = None,
                  as_json: JsonOpt = False) -> None:
    """Show the latest checkpoint the agreement's witnesses cosigned, checked against the
    witness keys and quorum of the agreement (yours with --agreement)."""
    verifier = _client_log_key(dir)
    with access(dir) as a:
        policy = _witness_policy(a, agreement)
        w = a.witnessed()
    wit = verify_witnessed(w["checkpoint"], verifier, policy, now=int(time.time()))
    if as_json:
        dump({"size": wit.checkpoint.size, "checkpoint": w["checkpoint"],
              "no_later_than": _utc(wit.no_later_than),
              "cosignatures": [{"witness": c.witness, "time": _utc(c.timestamp)}
                               for c in wit.cosignatures]})
        return
    out.print(f"[bold green]OK[/] checkpoint of size {wit.checkpoint.size} signed by "
              f"{markup(wit.checkpoint.origin)} and cosigned by {len(wit.cosignatures)} of the "
              f"agreement's {len(policy.witnesses)} witnesses (quorum {policy.quorum}):")
    for c in wit.cosignatures:
        out.print(f"  {markup(c.witness)} at {_utc(c.timestamp)}")


@log_app.command("consistency")
@friendly
def log_consistency(size1: int, size2: int, dir: DirOpt = Path("."),
                    as_json: JsonOpt = False) -> None:
    """Print the consistency proof between two sizes of the log (RFC 9162), as JSON."""
    with access(dir) as a:
        dump(a.consistency(size1, size2))


def _utc(t: int) -> str:
    return format_time(datetime.fromtimestamp(t, UTC))


def _client_log_key(dir: Path) -> NoteVerifier:
    """The log key a check uses: --log-key, else (locally) the deployment's own log.pub."""
    given = Session.verifier()
    if given is not None:
        return given
    if Session.server:
        raise InvalidInput("checking a witnessed checkpoint needs the log's key",
                           field="log_key", accepted="--log-key (the operator's log.pub, "
                                                      "taken out of band)")
    return NoteVerifier.parse(Deployment.open(dir).verifier_key)


def _witness_policy(a: Access | None, file: Path | None) -> WitnessPolicy:
    """The witnesses to check against: those of the agreement document the party holds
    (--agreement), else of the agreement in force (the deployment's, or the service's)."""
    if file is not None:
        doc = commands.load_document(file)
        if isinstance(doc, dict) and isinstance(doc.get("event"), dict):
            doc = doc["event"].get("body")  # a proposal file
        elif isinstance(doc, dict) and isinstance(doc.get("agreement"), dict):
            doc = doc["agreement"]  # `accord agreement show --json`
        where = str(file)
    elif a is not None:
        doc = a.agreement()["agreement"]
        where = "the agreement in force"
    else:
        raise InvalidInput("no witnesses to check against", field="agreement",
                           accepted="--agreement FILE: the agreement you signed")
    policy = Agreement.from_json(doc).witnesses
    if policy is None:
        raise InvalidInput(f"{where} names no witnesses", field="agreement",
                           accepted="an agreement with a [witnesses] table")
    return policy


def _print_bounds(proved: Proved, wit: Witnessed, policy: WitnessPolicy,
                  console: Console) -> None:
    """The three times a witnessed receipt gives, earliest claim first."""
    ev = proved.entry.event
    console.print(f"[bold green]OK[/] entry {proved.index} ({markup(ev.party)} "
                  f"{markup(ev.type)}, seq {ev.seq}) is in the checkpoint of size "
                  f"{wit.checkpoint.size}, cosigned by {len(wit.cosignatures)} of "
                  f"{len(policy.witnesses)} witnesses (quorum {policy.quorum}):")
    console.print(f"  issued at      {markup(ev.issued_at)}  (signed by {markup(ev.party)}, "
                  f"its own clock: not before)")
    console.print(f"  received at    {format_time(proved.received_at, micro=True)}  (the "
                  f"operator's clock)")
    for c in sorted(wit.cosignatures, key=lambda c: c.timestamp):
        console.print(f"  cosigned by    {markup(c.witness)} no later than {_utc(c.timestamp)}")
    console.print(f"  existed no later than {_utc(wit.no_later_than)} (the quorum's bound: "
                  f"{policy.quorum} witness(es) would have to lie together to move it)")


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
                    "(default: --log-key, else DIR/log.pub).")] = None,
           entry: Annotated[Path | None, typer.Option(
               help="With --receipt: the entry's bytes (`accord log entry N -o FILE`), for a "
                    "receipt that does not carry them.")] = None,
           bundle: Annotated[Path | None, typer.Option(
               help="Check an evidence bundle (`accord evidence`) offline with nothing else; "
                    "with --key, also that it is for the log key you hold.")] = None,
           fork: Annotated[Path | None, typer.Option(
               help="Check a proof that the log forked (a mirror's equivocation evidence): "
                    "two checkpoints signed by the log key that cannot both be true.")]
           = None,
           refusal: Annotated[Path | None, typer.Option(
               help="Check a signed refusal the service gave (saved by the CLI as "
                    "refusal-*.note): which event, whose, when and why it was refused.")]
           = None,
           event: Annotated[Path | None, typer.Option(
               help="With --refusal: the event you signed (JSON: the event, or {event, sig}); "
                    "the refusal must be for it.")] = None,
           equivocation: Annotated[tuple[Path, Path] | None, typer.Option(
               "--equivocation", metavar="A B",
               help="Check a proof of equivocation: two checkpoint files signed by the log "
                    "key that cannot both be true (same size, different roots; or, with "
                    "--consistency from the larger log, different first entries).")] = None,
           witnessed: Annotated[bool, typer.Option(
               "--witnessed", help="With --receipt: the checkpoint must be cosigned by the "
                                   "agreement's witnesses (--agreement); prints the time "
                                   "bounds.")] = False,
           agreement: AgreementOpt = None,
           as_json: JsonOpt = False) -> None:
    """Recheck everything from the store alone, or one receipt offline: what entry, whose, and
    when the log received it."""
    if fork is not None:
        _verify_fork(fork, key, as_json)
        return
    if equivocation is not None:
        _verify_equivocation(dir, equivocation, consistency, key, as_json)
        return
    if refusal is not None:
        _verify_refusal(dir, refusal, key, event, as_json)
        return
    if bundle is not None:
        _verify_bundle(bundle, key, as_json)
        return
    if receipt is not None:
        policy = (_witness_policy(None, agreement) if witnessed and agreement
                  else _witness_policy_local(dir) if witnessed else None)
        _verify_receipt(dir, receipt, checkpoint, consistency, key, entry, as_json, policy)
        return
    local_only("full verification")
    deployment = Deployment.open(dir)
    store = deployment.store(readonly=True)
    total = store.size()
    with Progress(TextColumn("verifying"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True,
                  disable=as_json or total < 5000) as bar:
        task = bar.add_task("entries", total=total)
        result = verify_store(store, deployment.verifier_key,
                              lambda i, _n: bar.update(task, completed=i),
                              origin=deployment.origin)
    store.close()
    if as_json:
        dump({"ok": result.ok, "entries": result.entries, "checkpoints": result.checkpoints,
              "checks": result.checks, "snapshots": result.snapshots,
              "problems": [{"where": p.where, "what": p.what} for p in result.problems]})
    elif result.ok:
        out.print(f"[bold green]OK[/] {result.entries} entries, {result.nodes} tree nodes, "
                  f"{result.checkpoints} checkpoints, every signature, the tree, the checkpoints "
                  f"and the picture ({result.notices} notices, {result.findings} findings) "
                  f"and {result.snapshots} snapshots of it verify; the strategic check of "
                  f"{result.checks} filings and amendments, run "
                  f"again, gives the findings the log holds.")
    else:
        err.print(f"[bold red]FAILED[/] {len(result.problems)} problem(s):")
        for p in result.problems:
            err.print(f"  {markup(p)}")
    if not result.ok:
        raise typer.Exit(1)


def _verify_bundle(path: Path, key: str | None, as_json: bool) -> None:
    from accord.evidence.bundle import MAX_BUNDLE, verify_bundle

    given = key or Session.log_key
    v = verify_bundle(read_bytes(path, MAX_BUNDLE, "bundle"),
                      parse_log_key(given, "key") if given else None)
    w = v.witnessed
    if as_json:
        dump({"ok": True, "notice": v.notice, "party": v.party, "origin": v.origin,
              "checkpoint_size": v.checkpoint.size, "entries": len(v.entries),
              "withheld": v.withheld, "witnessed": w is not None,
              "no_later_than": None if w is None else w.no_later_than,
              "bounds": [{"size": b.checkpoint.size, "no_later_than": b.no_later_than}
                         for b in v.bounds]})
        return
    out.print(f"[bold green]OK[/] {len(v.entries)} entries about notice {markup(v.notice)} "
              f"(as {markup(v.party)} reads log {markup(v.origin)}) are in its checkpoint of "
              f"size {v.checkpoint.size}, signed by whom they say"
              + (f"; witnessed by {', '.join(markup(c.witness) for c in w.cosignatures)}"
                 if w else f"; not witnessed ({markup(v.witness_problem or '')})") + ".")
    for p in v.entries:
        ev = p.entry.event
        if ev.type in ("notice.file", "notice.amend") and ev.body.get("notice") == v.notice:
            line = (f"  entry {p.index} {markup(ev.type)} by {markup(ev.party)}: issued "
                    f"{markup(ev.issued_at)}, received by the operator "
                    f"{format_time(p.entry.received_at, micro=True)}")
            b = v.bound_of(p.index)
            if b is not None:
                line += f", in the log no later than {format_time_posix(b.no_later_than)}"
                line += "".join(f" (cosigned by {markup(c.witness)} at "
                                f"{format_time_posix(c.timestamp)})" for c in b.cosignatures)
            out.print(line)


def format_time_posix(seconds: int) -> str:
    from datetime import UTC, datetime

    return format_time(datetime.fromtimestamp(seconds, UTC))


def _verify_refusal(dir: Path, path: Path, key: str | None, event: Path | None,
                    as_json: bool) -> None:
    from accord.log.refusal import verify_refusal

    given = key or Session.log_key or (str(dir / "log.pub") if (dir / "log.pub").exists()
                                       else None)
    if given is None:
        raise InvalidInput("no log key: pass --key (the log's log.pub)", field="key")
    ev = None
    if event is not None:
        doc = parse_json(read_text(event, RECEIPT_MAX, "event"), field="event",
                         what="the event")
        ev = doc.get("event", doc) if isinstance(doc, dict) else doc
    r = verify_refusal(read_text(path, RECEIPT_MAX, "refusal"), parse_log_key(given, "key"),
                       event=ev)
    if as_json:
        dump({"ok": True, **r.to_json()})
        return
    what = "event" if r.hash_of == "event" else "request body"
    out.print(f"[bold green]OK[/] log {markup(r.origin)} refused {markup(r.party)}'s {what} "
              f"{r.hash.hex()[:16]}... at {format_time(r.time, micro=True)} with {r.status} "
              f"{markup(r.slug)}: {markup(r.reason)}"
              + (" (and it is the event given)" if ev is not None else ""))


def _verify_equivocation(dir: Path, files: tuple[Path, Path], consistency: Path | None,
                         key: str | None, as_json: bool) -> None:
    """Two signed checkpoints (and, for different sizes, the larger log's consistency proof
    from the smaller size) that show the log key signed two histories."""
    from accord.log.note import Checkpoint, split_note
    from accord.mirror.fork import Fork

    given = key or Session.log_key or (str(dir / "log.pub") if (dir / "log.pub").exists()
                                       else None)
    if given is None:
        raise InvalidInput("no log key: pass --key (the log's log.pub)", field="key")
    verifier = parse_log_key(given, "key")
    notes = [read_text(f, RECEIPT_MAX, "checkpoint") for f in files]
    sizes = []
    for f, n in zip(files, notes, strict=True):
        try:
            sizes.append(Checkpoint.parse(split_note(n)[0]).size)
        except AccordError as e:
            raise InvalidInput(f"{f} is not a signed checkpoint: {e.detail}",
                               field="equivocation") from None
    small, large = (notes[0], notes[1]) if sizes[0] <= sizes[1] else (notes[1], notes[0])
    root1: bytes | None = None
    proof: tuple[bytes, ...] = ()
    if min(sizes) != max(sizes):
        if consistency is None:
            raise InvalidInput(
                f"checkpoints of sizes {min(sizes)} and {max(sizes)}: pass the larger log's "
                f"consistency proof between them", field="consistency",
                accepted=f"`accord log consistency {min(sizes)} {max(sizes)} --json` from "
                         f"the service that signed the larger")
        cj = parse_json(read_text(consistency, RECEIPT_MAX, "consistency"),
                        field="consistency", what="the consistency file")
        if not isinstance(cj, dict) or (cj.get("size1"), cj.get("size2")) != (min(sizes),
                                                                              max(sizes)):
            raise InvalidInput(f"the consistency file must be between sizes {min(sizes)} and "
                               f"{max(sizes)}", field="consistency",
                               accepted="the output of `accord log consistency N1 N2 --json`")
        parsed = Fork.from_json({"format": "accord-fork/v1", "log_key": verifier.name,
                                 "checkpoints": [small, large], "root1": cj.get("root1"),
                                 "consistency": cj.get("proof")})
        root1, proof = parsed.root1, parsed.proof
    a, b = Fork("", small, large, root1, proof).check(verifier)
    if as_json:
        dump({"ok": True, "origin": a.origin, "sizes": [a.size, b.size],
              "roots": [base64.b64encode(a.root).decode(), base64.b64encode(b.root).decode()]})
        return
    how = ("the same size with different roots" if a.size == b.size else
           f"the larger log's first {a.size} entries are not the smaller's")
    out.print(f"[bold red]EQUIVOCATION PROVED[/] log {markup(a.origin)} signed checkpoints of "
              f"size {a.size} and {b.size} that cannot both be true ({how}): it has shown two "
              f"histories.")


def _verify_fork(path: Path, key: str | None, as_json: bool) -> None:
    from accord.mirror.fork import Fork

    proof = Fork.from_json(parse_json(read_text(path, RECEIPT_MAX, "fork"), field="fork",
                                      what="the proof of a fork"))
    given = key or Session.log_key
    a, b = proof.check(parse_log_key(given, "key") if given else None)
    if as_json:
        dump({"ok": True, "origin": a.origin, "sizes": [a.size, b.size]})
        return
    how = ("the same size with different roots" if a.size == b.size else
           f"the first {a.size} entries of the larger differ from the smaller")
    out.print(f"[bold green]OK[/] log {markup(a.origin)} forked: checkpoints of size {a.size} "
              f"and {b.size}, both signed by its key, cannot both be true ({how}).")
def _witness_policy_local(dir: Path) -> WitnessPolicy:
    if Session.server or not (dir / "log.pub").exists():
        raise InvalidInput("--witnessed needs the witnesses to check against",
                           field="agreement", accepted="--agreement FILE: the agreement you "
                                                       "signed (proposal or agreement JSON)")
    with access(dir) as a:
        return _witness_policy(a, None)


def _verify_receipt(dir: Path, receipt: Path, checkpoint: Path | None,
                    consistency: Path | None, key: str | None, entry: Path | None,
                    as_json: bool, policy: WitnessPolicy | None = None) -> None:
    key = key or Session.log_key
    if key is None:
        if not (dir / "log.pub").exists():
            raise InvalidInput("no log key: pass --key (the log's public key, or the "
                               "operator's log.pub) or a --dir holding log.pub", field="key")
        key = str(dir / "log.pub")
    verifier = parse_log_key(key, "key")
    rj = parse_json(read_text(receipt, RECEIPT_MAX, "receipt"), field="receipt",
                    what="the receipt")
    note = read_text(checkpoint, RECEIPT_MAX, "checkpoint") if checkpoint else None
    proof = None
    if consistency is not None:
        cj = parse_json(read_text(consistency, RECEIPT_MAX, "consistency"),
                        field="consistency", what="the consistency file")
        proof = cj.get("proof") if isinstance(cj, dict) else None
        if not isinstance(proof, list):
            raise InvalidInput("the consistency file has no proof list", field="consistency",
                               accepted="the output of `accord log consistency`")
    data = read_bytes(entry, RECEIPT_MAX, "entry") if entry is not None else None
    if policy is not None:
        proved, wit = prove_witnessed(rj, verifier, policy, note, proof, data,
                                      now=int(time.time()))
        if as_json:
            ev = proved.entry.event
            dump({"ok": True, "index": proved.index, "party": ev.party, "type": ev.type,
                  "seq": ev.seq, "issued_at": ev.issued_at,
                  "received_at": format_time(proved.received_at, micro=True),
                  "origin": wit.checkpoint.origin, "checkpoint_size": wit.checkpoint.size,
                  "no_later_than": _utc(wit.no_later_than),
                  "cosignatures": [{"witness": c.witness, "time": _utc(c.timestamp)}
                                   for c in wit.cosignatures]})
        else:
            _print_bounds(proved, wit, policy, out)
        return
    proved, cp = prove_json(rj, verifier, note, proof, data)
    ev = proved.entry.event
    received = format_time(proved.received_at, micro=True)
    if as_json:
        dump({"ok": True, "index": proved.index, "party": ev.party, "type": ev.type,
              "seq": ev.seq, "received_at": received, "origin": cp.origin,
              "receipt_checkpoint_size": proved.checkpoint.size, "checkpoint_size": cp.size})
        return
    tied = (f", and the checkpoint of size {cp.size} extends it" if cp is not proved.checkpoint
            and cp.size != proved.checkpoint.size else "")
    out.print(f"[bold green]OK[/] entry {proved.index} ({markup(ev.party)} {markup(ev.type)}, "
              f"seq {ev.seq}) was received by log {markup(cp.origin)} at {received}: proved "
              f"in the checkpoint of size {proved.checkpoint.size} signed with the log key"
              f"{tied}.")


# -- backups ---------------------------------------------------------------------------------


def _report_json(report: Any) -> dict[str, Any]:
    return {"ok": report.ok, "entries": report.entries, "checkpoints": report.checkpoints,
            "problems": [{"where": p.where, "what": p.what} for p in report.problems]}


def _print_report(report: Any, what: str) -> None:
    if report.ok:
        out.print(f"[bold green]OK[/] {what}: {report.entries} entries, {report.checkpoints} "
                  f"checkpoints, everything verifies (`accord verify` in full).")
    else:
        err.print(f"[bold red]FAILED[/] {what}: {len(report.problems)} problem(s):")
        for p in report.problems:
            err.print(f"  {markup(p)}")


@app.command()
@friendly
def backup(out_file: Annotated[Path, typer.Argument(
               metavar="OUT", help="The backup file to write (must not exist).")],
           dir: DirOpt = Path("."), as_json: JsonOpt = False) -> None:
    """Back up the deployment's store while it runs (SQLite's online backup; pg_dump for
    PostgreSQL), then verify the copy in full. Exits 1 if the copy does not verify."""
    from accord.service.backup import backup as take

    local_only("a backup")
    result = take(Deployment.open(dir), out_file)
    if as_json:
        dump({"out": str(result.out), "size": result.size, "verify": _report_json(result.report)})
    else:
        out.print(f"Backed up {result.size} entries to [bold]{markup(result.out)}[/]")
        _print_report(result.report, "the backup")
    if not result.report.ok:
        raise typer.Exit(1)


@app.command()
@friendly
def restore(backup_file: Annotated[Path | None, typer.Argument(
                metavar="[BACKUP]", help="A file made by `accord backup`.")] = None,
            dir: DirOpt = Path("."),
            confirm: Annotated[Path | None, typer.Option(
                "--confirm", metavar="CHECKPOINT",
                help="After a restore: the newest checkpoint note the parties hold (from "
                     "their mirrors, `accord log checkpoint`). If the restored log holds it, "
                     "the service may start again.")] = None,
            accept_loss: Annotated[bool, typer.Option(
                "--accept-loss",
                help="With --confirm: serve the restored log even though the parties hold "
                     "entries it lost (their mirrors will report the rollback).")] = False,
            as_json: JsonOpt = False) -> None:
    """Put a backup in place of the deployment's store (stop the service first), verify it in
    full, and say what it lacks against the newest checkpoint the deployment signed. The
    restored store is not served until `accord restore --confirm CHECKPOINT`."""
    from accord.service import backup as bk

    local_only("a restore")
    deployment = Deployment.open(dir)
    if (backup_file is None) == (confirm is None):
        raise InvalidInput("give either a BACKUP to restore or --confirm CHECKPOINT",
                           field="backup", accepted="accord restore BACKUP, then "
                                                    "accord restore --confirm CHECKPOINT")
    if backup_file is not None:
        result = bk.restore(deployment, backup_file)
        if as_json:
            dump({"size": result.size, "verify": _report_json(result.report),
                  "lost": ([result.behind.size, result.behind.signed]
                           if result.behind else None)})
        else:
            out.print(f"Restored {result.size} entries from [bold]{markup(backup_file)}[/]")
            _print_report(result.report, "the restored store")
            if result.behind is not None:
                err.print(f"[bold red]BEHIND[/] {markup(result.behind.describe())}")
            out.print(f"Not served until confirmed: accord restore --dir {markup(dir)} "
                      f"--confirm CHECKPOINT (the parties' newest)")
        if not result.report.ok:
            raise typer.Exit(1)
        return
    assert confirm is not None
    status, gap = bk.confirm(deployment, read_text(confirm, RECEIPT_MAX, "checkpoint"),
                             accept_loss=accept_loss)
    if as_json:
        dump({"status": status, "lost": [gap.size, gap.signed] if gap else None,
              "served": gap is None or accept_loss})
    elif gap is None:
        out.print("[bold green]OK[/] the restored log holds the parties' newest checkpoint; "
                  "the service may start.")
    elif accept_loss:
        err.print(f"[bold yellow]ACCEPTED LOSS[/] {markup(gap.describe())}; the service may "
                  "start, and the parties' mirrors will report the rollback.")
    else:
        err.print(f"[bold red]BEHIND[/] {markup(gap.describe())}. Restore a newer backup, "
                  "or serve it anyway with --accept-loss.")
    if gap is not None and not accept_loss:
        raise typer.Exit(1)


# -- the service -----------------------------------------------------------------------------


def _check_port(port: int) -> None:
    if not 0 <= port <= 65535:
        raise InvalidInput(f"{port} is not a TCP port", field="port",
                           accepted="0 to 65535 (0 picks a free one)")


def _listen(host: str, port: int, backlog: int) -> Any:
    """A socket listening on host:port (IPv6 if the host has a colon); one line if it cannot."""
    import socket

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except (OSError, OverflowError) as exc:
        sock.close()
        raise DeploymentError(f"cannot listen on {host}:{port}: "
                              f"{getattr(exc, 'strerror', None) or exc}",
                              accepted="a free port, e.g. --port 0") from None
    sock.listen(backlog)
    return sock


@app.command()
@friendly
def serve(dir: Annotated[Path, typer.Argument(help="The deployment folder.")] = Path("."),
          host: Annotated[str | None, typer.Option(
              help="Address to listen on (default from accord.toml, else 127.0.0.1).")] = None,
          port: Annotated[int | None, typer.Option(
              help="Port (default from accord.toml, else 8470; 0 picks a free one).")] = None,
          log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
          advertise: Annotated[str | None, typer.Option(
              envvar="ACCORD_ADVERTISE",
              help="With a PostgreSQL store: the URL other `accord serve` processes of this "
                   "deployment send writes to while this one writes (default: "
                   "http://HOST:PORT as bound).")] = None,
          ) -> None:
    """Run the HTTP service for a deployment until interrupted (Ctrl-C or SIGTERM).

    On a PostgreSQL store several processes (on one machine or several) may serve the same
    deployment: one writes, the others serve reads and streams and pass writes on to it;
    when it stops, another takes over within seconds."""
    import uvicorn

    from accord.api import logs
    from accord.api.app import create_app
    from accord.api.edge import edge_for, protocol
    from accord.service.runtime import Service, ServiceConfig

    config = ServiceConfig.load(dir)
    host = host or config.host
    port = config.port if port is None else port
    _check_port(port)
    if advertise is not None and not advertise.startswith(("http://", "https://")):
        raise InvalidInput(f"{advertise!r} is not an http(s) URL", field="advertise",
                           accepted="e.g. http://10.0.0.5:8470")
    logs.configure(log_level)
    # The deployment first, with its writer lock: a second `accord serve` of the same folder
    # refuses here, before it binds a port or says it is serving.
    service = Service(dir, config=config)
    try:
        sock = _listen(host, port, 1024)
        bound_host, bound_port = sock.getsockname()[:2]
        deployment = service.deployment
        where = f"[{bound_host}]" if ":" in bound_host else bound_host
        url = (advertise or f"http://{where}:{bound_port}").rstrip("/")
        print(f"Accord serving {deployment.dir} (log {deployment.origin}) on "
              f"http://{where}:{bound_port}", flush=True)
        service.announce(url)
        app_ = create_app(service=service)

        class Server(uvicorn.Server):
            def handle_exit(self, sig: int, frame: Any) -> None:
                app_.state.draining.set()  # live streams end, so the graceful stop is quick
                super().handle_exit(sig, frame)

            @contextmanager
            def capture_signals(self) -> Iterator[None]:
                with super().capture_signals():
                    yield
                    # SIGTERM/SIGINT asked for a graceful stop and it is done: exit 0, not -15.
                    self._captured_signals.clear()

        # Header and body deadlines and connection caps (accord.api.edge): uvicorn has none.
        server = Server(uvicorn.Config(app_, log_config=None, access_log=False,
                                       lifespan="on", timeout_graceful_shutdown=10,
                                       http=protocol(edge_for(config)),
                                       timeout_keep_alive=config.idle_timeout_s))  # type: ignore[arg-type]
        server.run(sockets=[sock])
    finally:
        service.close()


@party_app.command("token")
@friendly
def party_token(party: Annotated[str, typer.Argument(help="The party the token acts for.")],
                dir: DirOpt = Path("."),
                label: Annotated[str, typer.Option(help="A name for this token, to revoke it "
                                                        "by later.")] = "default",
                as_json: JsonOpt = False) -> None:
    """Issue a bearer token for a party (stored hashed; shown only now)."""
    from accord.service.runtime import check_party, issue_token

    deployment = Deployment.open(dir)
    store = deployment.store()
    try:
        check_party(load_picture(store, log_key(deployment)), party)
        token = issue_token(store, party, label, SystemClock())
    finally:
        store.close()
    if as_json:
        dump({"party": party, "label": label, "token": token})
        return
    out.print(f"Token for {markup(party)} ({markup(label)}); keep it secret, it is not shown "
              f"again:")
    print(token)


@party_app.command("revoke")
@friendly
def party_revoke(party: str, dir: DirOpt = Path("."),
                 label: Annotated[str | None, typer.Option(
                     help="Only the token with this label (default: all of the party's).")]
                 = None) -> None:
    """Revoke a party's tokens."""
    store = Deployment.open(dir).store()
    with store.transaction():
        n = store.revoke_tokens(party, label)
    store.close()
    out.print(f"Revoked {n} token(s) of {markup(party)}.")


# -- witness ---------------------------------------------------------------------------------


witness_app = typer.Typer(
    help="Run a witness: a service of its own that cosigns a log's checkpoints after checking "
         "that each is consistent with the last (c2sp.org/tlog-witness). Any party, or a "
         "neutral third, can run one.", no_args_is_help=True)
app.add_typer(witness_app, name="witness")
WitnessDir = Annotated[Path, typer.Argument(help="The witness's folder.")]
LogKeysOpt = Annotated[list[str] | None, typer.Option(
    "--log-key", help="A log to witness: its verifier key (the deployment's log.pub), or a "
                      "file holding it. Repeat for several logs.")]


def _log_keys(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for v in values or []:
        out.append(read_text(Path(v), KEY_MAX, "log key").strip() if "+" not in v else v)
    return out


@witness_app.command("init")
@friendly
def witness_init(dir: WitnessDir,
                 name: Annotated[str, typer.Option(
                     help="The witness's name, a schema-less URL (e.g. witness.ru.example/w1): "
                          "it goes into the agreement with the key.")],
                 log_key: LogKeysOpt = None) -> None:
    """Make a witness folder: a new key, and the logs it witnesses. Prints the verifier key
    to put in the agreement."""
    from accord.witness.folder import WitnessFolder

    w = WitnessFolder.init(dir, name, _log_keys(log_key))
    out.print(f"Witness {markup(name)} in {markup(str(dir))}; witnesses "
              f"{markup(', '.join(sorted(w.log_keys)) or 'no log yet (add with --log-key)')}.")
    out.print("Its verifier key, for the agreement's witnesses:", style="dim")
    print(w.verifier_key)


@witness_app.command("key")
@friendly
def witness_key(dir: WitnessDir) -> None:
    """Print the witness's verifier key (for the agreement's `witnesses.list`)."""
    from accord.witness.folder import WitnessFolder

    print(WitnessFolder.open(dir).verifier_key)


@witness_app.command("add-log")
@friendly
def witness_add_log(dir: WitnessDir,
                    log_key: Annotated[list[str], typer.Argument(
                        help="The log's verifier key, or a file holding it.")]) -> None:
    """Add logs for the witness to cosign (takes effect at the next `accord witness serve`)."""
    from accord.witness.folder import WitnessFolder

    w = WitnessFolder.open(dir).add_logs(_log_keys(log_key))
    out.print(f"Witnessing {markup(', '.join(sorted(w.log_keys)))}.")


@witness_app.command("evidence")
@friendly
def witness_evidence(dir: WitnessDir) -> None:
    """Print, as JSON, for each log: the latest checkpoint this witness cosigned and the
    validly signed checkpoints it refused as inconsistent with it (the last 100): each such
    pair is half of a proof of equivocation (`accord verify --equivocation`)."""
    from accord.witness.folder import WitnessFolder

    folder = WitnessFolder.open(dir)
    state = folder.state()
    try:
        shown = []
        for origin in sorted(folder.log_keys):
            held = state.latest(origin)
            shown.append({"log": origin, "log_key": folder.log_keys[origin],
                          "cosigned": None if held is None else held[1],
                          "refused": state.evidence(origin)})
    finally:
        state.close()
    dump(shown)


@witness_app.command("serve")
@friendly
def witness_serve(dir: WitnessDir,
                  host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
                  port: Annotated[int, typer.Option(help="Port (0 picks a free one).")] = 8480,
                  log_level: Annotated[str, typer.Option(
                      help="debug, info, warning, error.")] = "info") -> None:
    """Run the witness until interrupted: POST /add-checkpoint and GET
    /<sha256(origin)>/checkpoint. It answers a cosignature only after its state is on disk."""
    import uvicorn

    from accord.api import logs
    from accord.api.edge import Edge, protocol
    from accord.witness.folder import WitnessFolder
    from accord.witness.server import create_app as witness_app_for

    _check_port(port)
    folder = WitnessFolder.open(dir)
    logs.configure(log_level)
    state = folder.state()
    sock = _listen(host, port, 256)
    bound_host, bound_port = sock.getsockname()[:2]
    print(f"Witness {folder.signer.name} serving on http://{bound_host}:{bound_port} "
          f"(logs: {', '.join(sorted(folder.log_keys)) or 'none'})", flush=True)
    edge = Edge(header_timeout_s=10.0, body_timeout_s=10.0, max_connections=512,
                max_per_client=128)
    server = uvicorn.Server(uvicorn.Config(
        witness_app_for(state), log_config=None, access_log=False, lifespan="off",
        http=protocol(edge), timeout_keep_alive=30))
    try:
        server.run(sockets=[sock])
    finally:
        state.close()


# -- demo ------------------------------------------------------------------------------------


@app.command()
@friendly
def demo(dir: Annotated[Path | None, typer.Option(
             "--dir", "-d", help="Keep the demo deployments in this folder "
                                 "(default: a temporary folder, removed afterwards).")] = None,
         serve: Annotated[bool, typer.Option(
             "--serve", help="Run it over the network: a live service, the two parties as "
                             "separate HTTP clients, the hotline and the escalation.")] = False,
         console: Annotated[bool, typer.Option(
             "--console", help="Serve it live for the web console: prints a URL, token and "
                               "key file for IL and for RU, plays the scenario on a running "
                               "clock and serves until Ctrl-C.")] = False,
         port: Annotated[int, typer.Option(
             help="With --console: the port on 127.0.0.1 (0 picks a free one).")] = 8470,
         speed: Annotated[float, typer.Option(
             help="With --console: how many times faster than real time the scenario "
                  "clock runs.")] = 5.0,
         open_browser: Annotated[bool, typer.Option(
             "--open", help="With --console: open both consoles in the web browser.")] = False,
         ) -> None:
    """Replay the Latakia scenario of 17 September 2018 (modelled on public reports)."""
    if console:
        if not 0 <= port <= 65535:
            raise InvalidInput(f"{port} is not a TCP port", field="port",
                               accepted="0 to 65535 (0 picks a free one)")
        if not 0.1 <= speed <= 100:
            raise InvalidInput(f"{speed:g} is not a usable speed", field="speed",
                               accepted="0.1 to 100 (times real time)")
        from accord.scenarios.console import run as run_console

        raise typer.Exit(run_console(out, dir, port=port, speed=speed,
                                     open_browser=open_browser))
    if serve:
        from accord.scenarios.served import run as run_served

        raise typer.Exit(run_served(out, dir))
    from accord.scenarios.latakia import run

    raise typer.Exit(run(out, dir))


# -- party mirrors ---------------------------------------------------------------------------


@app.command()
@friendly
def mirror(dir: Annotated[Path, typer.Argument(help="The mirror folder (made on the first "
                                                    "run).")],
           server: Annotated[str | None, typer.Option(
               "--server", "-s", help="The service to mirror (default: the global --server, "
                                      "else the one the folder was made from).")] = None,
           token: Annotated[str | None, typer.Option(
               "--token", help="Your party's token (default: the global --token or "
                               "ACCORD_TOKEN); never written to the folder.")] = None,
           log_key: Annotated[str | None, typer.Option(
               "--log-key", help="The log's public key (log.pub or the key), taken out of "
                                 "band; needed on the first run, checked on later ones.")]
           = None,
           once: Annotated[bool, typer.Option(
               "--once", help="One round, then exit: 0 verified, 1 alarm, 2 error.")] = False,
           interval: Annotated[float, typer.Option(
               help="Seconds between rounds when nothing is new.")] = 1.0,
           stall: Annotated[float, typer.Option(
               help="Alarm when the checkpoint has not moved for this many seconds while "
                    "the server answers (0: never; a quiet log does not move either).")] = 0.0,
           gossip: Annotated[bool, typer.Option(
               help="Hand each verified checkpoint to the agreement's witnesses, keep their "
                    "cosignatures (and the service's witnessed checkpoint), and alarm when a "
                    "witness holds another history.")] = True,
           receipt: Annotated[list[Path] | None, typer.Option(
               "--receipt", help="A receipt the operator gave you (repeat for more): alarm if "
                                 "it does not verify or is of another history than the "
                                 "mirror's.")] = None,
           ) -> None:
    """Keep your party's own verified copy of the log: pull new entries, check every signature
    you may read, rebuild the tree, hold each checkpoint to the last one kept, and raise an
    alarm on a fork, a rollback, anything that does not verify, or a stall. `accord picture
    -d DIR` then shows your picture from the copy, with the operator down."""
    import time as _time

    from accord.client import Client
    from accord.mirror.folder import MirrorFolder, follow, is_mirror
    from accord.mirror.http import HttpSource
    from accord.mirror.replica import Alarm, Round

    if interval <= 0 or interval > 3600 or stall < 0:
        raise InvalidInput("--interval must be in (0, 3600] seconds and --stall >= 0",
                           field="interval")
    known = MirrorFolder.open(dir) if is_mirror(dir) else None
    url = server or Session.server or (known.server if known else None)
    if not url:
        raise InvalidInput("which service? pass --server URL", field="server",
                           accepted="--server URL --token TOKEN")
    key = parse_log_key(log_key) if log_key else Session.verifier()
    clock = SystemClock()
    with Client(url, token or Session.token) as c:
        party = str(c.me()["party"])
        folder = MirrorFolder.prepare(dir, party, key, url, clock)
        replica = folder.replica(clock)
        seen: set[str] = set()

        def on_round(r: Round) -> None:
            if r.new or once:
                out.print(f"{markup(party)} mirror of {markup(folder.verifier.name)}: size "
                          f"{r.size} (+{r.new}), verified")

        def on_error(exc: Exception) -> None:
            text = exc.detail if isinstance(exc, AccordError) else str(exc)
            warn(f"{text} (retrying)")

        from accord.mirror.gossip import Gossip

        gossiper = Gossip(replica, served=HttpSource(c).witnessed) if gossip else None
        pending = {str(f): parse_json(read_text(f, RECEIPT_MAX, "receipt"), field="receipt",
                                      what="the receipt") for f in receipt or []}

        def after() -> None:
            if gossiper is not None:
                gossiper.round()
            for name, rc in list(pending.items()):
                if replica.check_receipt(rc):
                    del pending[name]
                    out.print(f"receipt {markup(name)} (entry {rc.get('index')}) is in "
                              f"{markup(party)}'s copy of the log")

        try:
            while True:
                try:
                    follow(replica, HttpSource(c), interval_s=interval, stall_s=stall,
                           once=once, on_round=on_round, on_error=on_error, after=after)
                    for name in pending:
                        warn(f"receipt {name} is of a checkpoint the mirror does not hold "
                             "yet: it is checked on a later run")
                    return
                except Alarm as alarm:
                    if alarm.message not in seen:
                        seen.add(alarm.message)
                        path = folder.record(replica, alarm)
                        err.print(f"[bold red]ALARM[/] {markup(alarm.kind)}: "
                                  f"{markup(alarm.message)} (evidence: {markup(str(path))})")
                    if once:
                        raise typer.Exit(1) from None
                    _time.sleep(interval)
        finally:
            if gossiper is not None:
                gossiper.close()
            replica.store.close()


# -- evidence bundles ------------------------------------------------------------------------


@app.command()
@friendly
def evidence(notice_id: Annotated[str, typer.Argument(help="The notice.")],
             out_path: Annotated[Path | None, typer.Option(
                 "--out", "-o", help="The bundle to write (default NOTICE.evidence.json); "
                                     "its report goes beside it as .html.")] = None,
             dir: DirOpt = Path("."),
             utc_offset: Annotated[str, typer.Option(
                 help="Local times in the report at this UTC offset, e.g. +03:00.")]
             = "+00:00",
             as_json: JsonOpt = False) -> None:
    """Gather every entry about a notice that you may read, with inclusion proofs to one
    checkpoint, the log key and an HTML report, into one file `accord verify --bundle` checks
    offline. From your mirror (-d MIRROR), the service (--server, as your party), or the
    deployment's own folder (as the operator, who reads everything)."""
    from accord.evidence.bundle import make_bundle, verify_bundle
    from accord.mirror.folder import MirrorFolder, is_mirror

    if Session.server:
        bundle = _evidence_remote(notice_id, utc_offset)
    elif is_mirror(dir):
        folder = MirrorFolder.open(dir)
        replica = folder.replica()
        try:
            if replica.held is None:
                raise InvalidInput("the mirror holds no checkpoint yet", field="dir",
                                   accepted="run `accord mirror` first")
            bundle = make_bundle(notice_id, folder.party, folder.verifier.verifier_key,
                                 replica.evidence_checkpoint(), replica.store.leaves(),
                                 replica.store, utc_offset, replica.witnessed_notes())
        finally:
            replica.store.close()
    else:
        deployment = Deployment.open(dir)
        store = deployment.store(readonly=True)
        try:
            cp = store.checkpoint()
            if cp is None:
                raise InvalidInput("the log is empty", field="dir")
            rows = ((i, b"", d, None) for i, d in store.entries(0, cp[0]))
            bundle = make_bundle(notice_id, "operator", deployment.verifier_key, cp[1], rows,
                                 store, utc_offset)
        finally:
            store.close()
    verified = verify_bundle(bundle)
    path = out_path or Path(f"{notice_id.replace('/', '_')}.evidence.json")
    writable(path)
    path.write_bytes(bundle)
    html = path.with_suffix(".html")
    import json as _json

    html.write_text(_json.loads(bundle)["report"])
    if as_json:
        dump({"bundle": str(path), "report": str(html), "entries": len(verified.entries),
              "withheld": len(verified.withheld), "checkpoint_size": verified.checkpoint.size,
              "witnessed": verified.witnessed is not None})
        return
    out.print(f"[bold green]wrote[/] {markup(str(path))} ({len(verified.entries)} entries "
              f"proved to the checkpoint of size {verified.checkpoint.size}"
              f"{', witnessed' if verified.witnessed else ', not witnessed'}) and the report "
              f"{markup(str(html))}")


def _evidence_remote(notice_id: str, utc_offset: str) -> bytes:
    """A bundle as the token's party reads the service: a replica in memory, verified like a
    mirror, then proved from it."""
    from accord.client import Client
    from accord.evidence.bundle import make_bundle
    from accord.mirror.http import HttpSource
    from accord.mirror.replica import Replica
    from accord.store.mirror import MirrorStore

    key = Session.verifier()
    if key is None:
        raise InvalidInput("a bundle from the service needs the log's key", field="log_key",
                           accepted="--log-key log.pub (taken out of band)")
    assert Session.server is not None
    with Client(Session.server, Session.token) as c:
        party = str(c.me()["party"])
        store = MirrorStore(":memory:")
        store.set_meta("log_key", key.verifier_key)
        replica = Replica(store, key, party, SystemClock())
        replica.sync(HttpSource(c))
        assert replica.held is not None
        return make_bundle(notice_id, party, key.verifier_key, replica.held[0], store.leaves(),
                           store, utc_offset)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
