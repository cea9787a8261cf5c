"""A mirror folder and the follow loop: what `accord mirror DIR` keeps and runs.

    DIR/mirror.toml   the party, the log's origin, the server it was made from
    DIR/log.pub       the log's verifier key, given out of band on the first run
    DIR/mirror.db     the replica (`store.mirror`)
    DIR/alarms/       one JSON file per alarm, with its evidence (a fork proof for an
                      equivocation: `accord verify --fork FILE` checks it)

The token is never written to the folder: it is given on each run (`--token` or
ACCORD_TOKEN).
"""

from __future__ import annotations

import json
import logging
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from accord.errors import DeploymentError, InvalidInput
from accord.log.note import NoteVerifier
from accord.mirror.replica import Alarm, Incomplete, Replica, Round, Source, Watch
from accord.store.mirror import MirrorStore
from accord.timefmt import Clock, SystemClock, format_time

CONFIG = "mirror.toml"
DATABASE = "mirror.db"
LOG_PUB = "log.pub"
ALARMS = "alarms"
log = logging.getLogger("accord.mirror")


def is_mirror(dir: Path) -> bool:
    return (Path(dir) / CONFIG).is_file()


def _quote(text: str) -> str:
    return json.dumps(text)  # a TOML basic string is a JSON string for what we write


@dataclass
class MirrorFolder:
    dir: Path
    party: str
    verifier: NoteVerifier
    server: str | None

    @staticmethod
    def open(dir: Path) -> MirrorFolder:
        dir = Path(dir)
        try:
            config = tomllib.loads((dir / CONFIG).read_text())
            vkey = (dir / LOG_PUB).read_text().strip()
        except FileNotFoundError as exc:
            raise DeploymentError(f"{dir} is not a party mirror (no {Path(exc.filename).name})",
                                  accepted="a folder made by `accord mirror`") from None
        except tomllib.TOMLDecodeError as exc:
            raise DeploymentError(f"{dir / CONFIG}: {exc}") from None
        party, server = config.get("party"), config.get("server")
        if not isinstance(party, str):
            raise DeploymentError(f"{dir / CONFIG} names no party")
        return MirrorFolder(dir, party, NoteVerifier.parse(vkey),
                            server if isinstance(server, str) else None)

    @staticmethod
    def prepare(dir: Path, party: str, log_key: NoteVerifier | None,
                server: str | None, clock: Clock) -> MirrorFolder:
        """Open the mirror in `dir`, or make it on the first run (which needs the log key).
        A mirror keeps one party's copy of one log: another key or party is refused."""
        dir = Path(dir)
        if is_mirror(dir):
            folder = MirrorFolder.open(dir)
            if log_key is not None and log_key != folder.verifier:
                raise InvalidInput(f"{dir} mirrors log {folder.verifier.name} (key "
                                   f"{folder.verifier.key_id.hex()}), not the log key given",
                                   field="log_key", accepted="the key the mirror was made with")
            if party != folder.party:
                raise InvalidInput(f"{dir} holds {folder.party}'s copy; the token is "
                                   f"{party}'s", field="token",
                                   accepted=f"a token of {folder.party}, or another folder")
            return folder
        if log_key is None:
            raise InvalidInput("the first run of a mirror needs the log's key, taken out of "
                               "band", field="log_key",
                               accepted="--log-key log.pub (the operator's verifier key)")
        if dir.exists() and any(dir.iterdir()):
            raise DeploymentError(f"{dir} is not empty and not a mirror",
                                  accepted="a new or empty folder")
        dir.mkdir(parents=True, exist_ok=True)
        vkey = log_key.verifier_key
        (dir / LOG_PUB).write_text(vkey + "\n")
        store = MirrorStore(dir / DATABASE, create=True)
        with store.transaction():
            store.set_meta("log_key", vkey)
            store.set_meta("party", party)
        store.close()
        lines = [f"party = {_quote(party)}", f"origin = {_quote(log_key.name)}",
                 f"created = {_quote(format_time(clock.now()))}"]
        if server:
            lines.append(f"server = {_quote(server)}")
        (dir / CONFIG).write_text("# Accord party mirror\n" + "\n".join(lines) + "\n")
        return MirrorFolder(dir, party, log_key, server)

    def store(self) -> MirrorStore:
        return MirrorStore(self.dir / DATABASE)

    def replica(self, clock: Clock | None = None) -> Replica:
        return Replica(self.store(), self.verifier, self.party, clock or SystemClock())

    def record(self, replica: Replica, alarm: Alarm) -> Path:
        """Keep an alarm: a row in the store, a file with its evidence, a log line."""
        at = format_time(replica.clock.now(), micro=True)
        with replica.store.transaction():
            replica.store.add_alarm(at, alarm.kind, alarm.message, alarm.evidence)
        folder = self.dir / ALARMS
        folder.mkdir(exist_ok=True)
        stamp = at.replace(":", "").replace("-", "").replace(".", "")
        path = folder / f"{stamp}-{alarm.kind}.json"
        if alarm.kind == "equivocation" and alarm.evidence is not None:
            doc = alarm.evidence  # a fork proof, on its own: anyone checks it
        else:
            doc = {"kind": alarm.kind, "at": at, "message": alarm.message,
                   "party": self.party, "evidence": alarm.evidence}
        path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        if alarm.kind == "equivocation" and alarm.evidence is not None:
            self._equivocation_files(folder / f"{stamp}-equivocation", alarm.evidence)
        log.error("ALARM %s: %s", alarm.kind, alarm.message,
                  extra={"alarm": alarm.kind, "evidence_file": str(path)})
        return path


    @staticmethod
    def _equivocation_files(base: Path, proof: dict[str, object]) -> None:
        """The same proof as the files `accord verify --equivocation A B [--consistency C]`
        takes: the two signed checkpoints, and for different sizes the consistency file."""
        notes = proof["checkpoints"]
        assert isinstance(notes, list) and len(notes) == 2
        small, large = str(notes[0]), str(notes[1])
        Path(f"{base}.a.checkpoint").write_text(small)
        Path(f"{base}.b.checkpoint").write_text(large)
        if "root1" in proof:
            from accord.log.note import Checkpoint, split_note

            sizes = [Checkpoint.parse(split_note(n)[0]).size for n in (small, large)]
            Path(f"{base}.consistency.json").write_text(json.dumps(
                {"size1": sizes[0], "size2": sizes[1], "root1": proof["root1"],
                 "proof": proof["consistency"]}, indent=2) + "\n")


def follow(replica: Replica, source: Source, *, interval_s: float, stall_s: float,
           once: bool, on_round: Callable[[Round], None] | None = None,
           on_error: Callable[[Exception], None] | None = None,
           stop: Callable[[], bool] = lambda: False,
           after: Callable[[], object] | None = None) -> Round:
    """Sync until `stop()` (or once), calling `after` (gossip) after each good round. Alarms
    propagate; an unreachable or incomplete source is reported to `on_error` and retried
    after `interval_s` (in `once` mode it propagates)."""
    watch = Watch(stall_s, time.monotonic)
    last = Round(replica.size)
    while True:
        try:
            last = replica.sync(source)
        except Alarm:
            raise
        except (Incomplete, DeploymentError) as exc:
            if once:
                raise
            if on_error is not None:
                on_error(exc)
        else:
            if on_round is not None:
                on_round(last)
            if after is not None:
                after()
            watch.saw(last)
        if once or stop():
            return last
        if last.new == 0:
            time.sleep(interval_s)
