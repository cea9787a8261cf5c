"""A witness's folder: its key, the logs it witnesses, its state.

    DIR/witness.key   the witness's Ed25519 key (0600); its name is the witness's key name
    DIR/witness.toml  logs = ["<log verifier key>", ...]: the logs it cosigns for
    DIR/witness.db    the latest cosigned checkpoint of each log (`state.py`)
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from accord.errors import DeploymentError, InvalidInput
from accord.files import KEY_MAX, read_text
from accord.keys import WITNESS_KEY, KeyFile
from accord.log.note import CosignatureSigner, NoteVerifier, valid_name
from accord.timefmt import Clock, SystemClock
from accord.witness.state import WitnessState

KEY_FILE = "witness.key"
CONFIG_FILE = "witness.toml"
DB_FILE = "witness.db"


def parse_log_keys(vkeys: Sequence[str]) -> dict[str, str]:
    """Log verifier keys by origin (the key name is the log's origin); one key per log."""
    out: dict[str, str] = {}
    for i, vkey in enumerate(vkeys):
        try:
            v = NoteVerifier.parse(vkey.strip())
        except InvalidInput as e:
            raise InvalidInput(f"log key {i + 1}: {e.detail}", field="log_key",
                               accepted="the log's verifier key (DIR/log.pub of a "
                                        "deployment): name+keyid+base64 key") from None
        if v.name in out and out[v.name] != vkey.strip():
            raise InvalidInput(f"two keys for the log {v.name}", field="log_key")
        out[v.name] = vkey.strip()
    return out


@dataclass(frozen=True)
class WitnessFolder:
    dir: Path
    signer: CosignatureSigner
    log_keys: dict[str, str]
    """The logs' verifier keys by origin."""

    @property
    def logs(self) -> dict[str, NoteVerifier]:
        return {o: NoteVerifier.parse(k) for o, k in self.log_keys.items()}

    @property
    def verifier_key(self) -> str:
        return self.signer.verifier_key

    @staticmethod
    def init(dir: Path, name: str, log_keys: Sequence[str]) -> WitnessFolder:
        if not valid_name(name):
            raise InvalidInput(f"{name!r} is not a witness name", field="name",
                               accepted="a schema-less URL such as witness.il.example/w1 "
                                        "(no spaces, no '+')")
        logs = parse_log_keys(log_keys)
        if (dir / KEY_FILE).exists():
            raise InvalidInput(f"{dir / KEY_FILE} already exists: this folder is a witness",
                               field="dir", accepted="a new folder")
        dir.mkdir(parents=True, exist_ok=True)
        KeyFile.generate(WITNESS_KEY, name).write(dir / KEY_FILE)
        WitnessFolder._write_logs(dir, list(logs.values()))
        return WitnessFolder.open(dir)

    @staticmethod
    def _write_logs(dir: Path, vkeys: Sequence[str]) -> None:
        tmp = dir / (CONFIG_FILE + ".tmp")
        body = "# the logs this witness cosigns for: their verifier keys (the log's log.pub)\n"
        body += "logs = [\n" + "".join(f'  "{k}",\n' for k in vkeys) + "]\n"
        with open(tmp, "w") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dir / CONFIG_FILE)

    def add_logs(self, log_keys: Sequence[str]) -> WitnessFolder:
        logs = dict(self.log_keys)
        for name, v in parse_log_keys(log_keys).items():
            if name in logs and logs[name] != v:
                raise InvalidInput(f"this witness already has another key for the log {name}",
                                   field="log_key")
            logs[name] = v
        self._write_logs(self.dir, list(logs.values()))
        return WitnessFolder(self.dir, self.signer, logs)

    @staticmethod
    def open(dir: Path) -> WitnessFolder:
        if not (dir / KEY_FILE).is_file():
            raise DeploymentError(f"{dir} is not a witness folder (no {KEY_FILE})",
                                  accepted="a folder made by `accord witness init`")
        key = KeyFile.read(dir / KEY_FILE, WITNESS_KEY)
        try:
            cfg = tomllib.loads(read_text(dir / CONFIG_FILE, KEY_MAX, "witness.toml"))
        except FileNotFoundError:
            cfg = {}
        except tomllib.TOMLDecodeError as e:
            raise DeploymentError(f"{dir / CONFIG_FILE}: {e}") from None
        raw = cfg.get("logs", [])
        if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
            raise DeploymentError(f"{dir / CONFIG_FILE}: logs must be a list of verifier keys")
        return WitnessFolder(dir, CosignatureSigner(key.name, key.private_key),
                             parse_log_keys(raw))

    def state(self, clock: Clock | None = None) -> WitnessState:
        return WitnessState(self.dir / DB_FILE, self.signer, self.logs, clock or SystemClock())

