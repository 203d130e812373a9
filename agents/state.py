"""The agent's state directory: its credential, its encrypted private key, the
outbox database and the cached dataset schemas.

    <state>/credential.json   hub URL, agent id, org; the API key encrypted (owner only)
    <state>/agent-key.pem     Ed25519 private key, PKCS#8 encrypted with the passphrase (owner only)
    <state>/outbox.sqlite     records waiting to be sent, rejects, checkpoints, cursors, task stats
    <state>/schemas/          dataset schemas fetched from the hub
    <state>/connectors/<task>/  what a source remembers: keys and versions sent (sql, file snapshots)
    <state>/hub-config.json   a hub-managed agent's last good configuration version (it runs it while the hub is away)

Both secrets are encrypted with one passphrase, read from the environment
variable CAUSEWAY_AGENT_PASSPHRASE or from a file (CAUSEWAY_AGENT_PASSPHRASE_FILE,
or `passphrase_file` in agent.yaml), so a copied state directory is useless
without it. "Owner only" is the platform's means (agents.platform): mode 0600 on
POSIX, an access control list naming only the agent's account on Windows.
"""
from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path

from Crypto.Cipher import AES
from Crypto.Protocol.KDF import scrypt
from Crypto.Random import get_random_bytes

from causeway_common.signing import import_private_key

from . import platform
from .platform import NotPrivate

PASSPHRASE_ENV = "CAUSEWAY_AGENT_PASSPHRASE"
PASSPHRASE_FILE_ENV = "CAUSEWAY_AGENT_PASSPHRASE_FILE"
CREDENTIAL_FILE = "credential.json"
KEY_FILE = "agent-key.pem"
OUTBOX_FILE = "outbox.sqlite"
HUB_CONFIG_FILE = "hub-config.json"


class StateError(Exception):
    """A problem with the state directory or passphrase the operator can fix."""


def read_passphrase(passphrase_file: str | Path | None = None) -> str:
    """The passphrase from a file (argument, then $CAUSEWAY_AGENT_PASSPHRASE_FILE) or $CAUSEWAY_AGENT_PASSPHRASE."""
    path = passphrase_file or os.environ.get(PASSPHRASE_FILE_ENV)
    if path:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise StateError(f"cannot read the passphrase file {path}: {exc.strerror}") from None
        if not value:
            raise StateError(f"the passphrase file {path} is empty")
        return value
    value = os.environ.get(PASSPHRASE_ENV, "")
    if not value:
        raise StateError(
            f"no passphrase for the agent's key: set {PASSPHRASE_ENV}, or {PASSPHRASE_FILE_ENV} "
            "(or passphrase_file in agent.yaml) to a file that holds it")
    if len(value) < 12:
        raise StateError(f"the passphrase in {PASSPHRASE_ENV} is too short: use at least 12 characters")
    return value


# scrypt N=2^16, r=8: 64 MiB and about a second to try one passphrase. Well above RFC 7914's
# interactive setting, yet keeps the agent's start-up (when the key is opened) under its memory budget.
SCRYPT_N = 2**16


def _export_key(key, passphrase: str) -> bytes:
    """PKCS#8 PEM encrypted with scrypt + AES-256-GCM (as causeway_common.signing, with our scrypt cost)."""
    return key.export_key(format="PEM", passphrase=passphrase, protection="scryptAndAES256-GCM",
                          prot_params={"iteration_count": SCRYPT_N}).encode("ascii")


def _seal(secret: str, passphrase: str) -> dict:
    salt, nonce = get_random_bytes(16), get_random_bytes(12)
    key = scrypt(passphrase.encode("utf-8"), salt, 32, N=SCRYPT_N, r=8, p=1)
    ciphertext, tag = AES.new(key, AES.MODE_GCM, nonce=nonce).encrypt_and_digest(secret.encode("utf-8"))
    encode = lambda b: base64.b64encode(b).decode("ascii")  # noqa: E731
    return {"kdf": f"scrypt-n{SCRYPT_N}-r8-p1", "cipher": "aes-256-gcm", "salt": encode(salt), "nonce": encode(nonce),
            "ciphertext": encode(ciphertext), "tag": encode(tag)}


def _open(sealed: dict, passphrase: str) -> str:
    decode = base64.b64decode
    key = scrypt(passphrase.encode("utf-8"), decode(sealed["salt"]), 32, N=SCRYPT_N, r=8, p=1)
    cipher = AES.new(key, AES.MODE_GCM, nonce=decode(sealed["nonce"]))
    try:
        return cipher.decrypt_and_verify(decode(sealed["ciphertext"]), decode(sealed["tag"])).decode("utf-8")
    except ValueError:
        raise StateError("the passphrase does not open the agent's credential (wrong passphrase?)") from None


@dataclass
class Credential:
    hub_url: str
    agent_id: str
    org: str
    name: str
    api_key: str
    signing_key: object  # Crypto.PublicKey.ECC.EccKey

    def __repr__(self) -> str:  # never print the secrets
        return f"Credential(hub_url={self.hub_url!r}, agent_id={self.agent_id!r}, org={self.org!r})"


class StateDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def credential_path(self) -> Path:
        return self.path / CREDENTIAL_FILE

    @property
    def key_path(self) -> Path:
        return self.path / KEY_FILE

    @property
    def outbox_path(self) -> Path:
        return self.path / OUTBOX_FILE

    @property
    def schemas_path(self) -> Path:
        return self.path / "schemas"

    @property
    def hub_config_path(self) -> Path:
        return self.path / HUB_CONFIG_FILE

    def save_hub_config(self, version: int, source: str, applied_at: float) -> None:
        """Replace the last good hub configuration in one step: a crash leaves the old one or the new one."""
        temporary = self.hub_config_path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps({"version": version, "source": source, "applied_at": applied_at}),
                             encoding="utf-8")
        os.replace(temporary, self.hub_config_path)

    def load_hub_config(self) -> dict | None:
        """{version, source, applied_at} of the last good hub configuration, or None."""
        try:
            return json.loads(self.hub_config_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StateError(f"cannot read {self.hub_config_path}: {exc}") from None

    def create(self) -> None:
        try:
            platform.current.make_private_dir(self.path)
        except NotPrivate as exc:
            raise StateError(str(exc)) from None

    def is_enrolled(self) -> bool:
        return self.credential_path.exists() and self.key_path.exists()

    def save_credential(self, *, hub_url: str, agent_id: str, org: str, name: str, api_key: str,
                        signing_key, passphrase: str) -> None:
        self.create()
        document = {"hub_url": hub_url, "agent_id": agent_id, "org": org, "name": name,
                    "api_key": _seal(api_key, passphrase)}
        try:
            platform.current.write_private(self.key_path, _export_key(signing_key, passphrase))
            platform.current.write_private(self.credential_path, json.dumps(document, indent=2).encode("utf-8"))
        except NotPrivate as exc:
            raise StateError(str(exc)) from None

    def public_info(self) -> dict:
        """What can be shown without the passphrase: hub URL, agent id, org, name."""
        if not self.credential_path.exists():
            raise StateError(f"{self.path} holds no agent credential; enrol first (causeway-agent enrol --hub URL --token TOKEN --state {self.path})")
        document = json.loads(self.credential_path.read_text(encoding="utf-8"))
        return {k: document[k] for k in ("hub_url", "agent_id", "org", "name")}

    def load_credential(self, passphrase: str) -> Credential:
        info = self.public_info()
        for path in (self.credential_path, self.key_path):
            if not path.exists():
                raise StateError(f"{path} is missing; enrol the agent again")
            try:
                platform.current.check_private(path)
            except NotPrivate as exc:
                raise StateError(str(exc)) from None
        document = json.loads(self.credential_path.read_text(encoding="utf-8"))
        api_key = _open(document["api_key"], passphrase)
        try:
            signing_key = import_private_key(self.key_path.read_bytes(), passphrase)
        except (ValueError, IndexError, TypeError):
            raise StateError(f"the passphrase does not open {self.key_path} (wrong passphrase?)") from None
        return Credential(api_key=api_key, signing_key=signing_key, **info)
