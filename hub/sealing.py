"""Secrets at rest, sealed with AES-256-GCM under the hub's secrets key.

Every secret the hub keeps — subscriptions' webhook secrets, agreements'
pseudonymisation keys, reminder contacts' webhook secrets, the console's cookie
key — is stored as `v2:<key id>:<base64 nonce+tag+ciphertext>`, so the key that
sealed a value is known and rotation can proceed value by value.

Where the key comes from, first found:
  CAUSEWAY_SECRETS_KEY       base64 of 32 bytes (one key; rotate by moving it to a file)
  CAUSEWAY_SECRETS_KEY_FILE  a key file; for SQLite, by default `<database file>.secrets-key`
A key file holds one base64 key per line, the current one first; the ones after it
only open values sealed before a rotation. `causeway-hub init` creates it (mode 0600).
The key id is derived from the key (8 hex digits of its SHA-256), never stored apart.

Older values open too: `v1:` (sealed under CAUSEWAY_SECRETS_KEY before key ids),
`plain:` and bare values (unsealed); `causeway-hub init`, `serve` and `secrets rotate`
seal them. The hub creates the key file the first time it must seal something, if
init has not; `serve` refuses to start when stored secrets are sealed under a key it
does not hold (a lost or wrong key file), rather than seal new ones under another.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import os
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

from Crypto.Cipher import AES
from Crypto.Random import get_random_bytes
from sqlalchemy.engine import Engine, make_url

T = TypeVar("T")
KEY_BYTES = 32
SEALED_PREFIXES = ("v1:", "v2:")
_NONCE, _TAG = 12, 16


class SecretsKeyError(Exception):
    """The hub has no key, or not the key a secret was sealed under; the message says what to do."""


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def new_key() -> bytes:
    return get_random_bytes(KEY_BYTES)


def decode_key(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise SecretsKeyError(f"{where}: a secrets key is base64 of exactly {KEY_BYTES} bytes")
    return key


def default_key_file(db_url: str) -> Path | None:
    """Next to a SQLite database; other databases have no default (set CAUSEWAY_SECRETS_KEY_FILE)."""
    url = make_url(db_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).expanduser().resolve().with_name(Path(url.database).name + ".secrets-key")


@dataclass(frozen=True)
class KeySource:
    """Where a hub's keys live: an environment key, or a key file (which may not exist yet)."""
    env_key: str | None
    key_file: Path | None

    @classmethod
    def resolve(cls, db_url: str, env_key: str | None = None, key_file: str | Path | None = None) -> "KeySource":
        env_key = env_key if env_key is not None else os.environ.get("CAUSEWAY_SECRETS_KEY") or None
        key_file = key_file or os.environ.get("CAUSEWAY_SECRETS_KEY_FILE") or default_key_file(db_url)
        return cls(env_key, Path(key_file) if key_file else None)

    def describe(self) -> str:
        if self.env_key:
            return "CAUSEWAY_SECRETS_KEY"
        return f"the key file {self.key_file}" if self.key_file else "no secrets key"

    def read(self) -> list[bytes]:
        if self.env_key:
            return [decode_key(self.env_key, "CAUSEWAY_SECRETS_KEY")]
        if self.key_file is None:
            raise SecretsKeyError("no secrets key is configured for this database: set CAUSEWAY_SECRETS_KEY_FILE "
                                  "(causeway-hub init then creates the file) or CAUSEWAY_SECRETS_KEY")
        try:
            text = self.key_file.read_text(encoding="ascii")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretsKeyError(f"cannot read the key file {self.key_file}: {exc}") from None
        lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
        return [decode_key(line, f"{self.key_file} line {n}") for n, line in enumerate(lines, start=1)]

    def write(self, keys: list[bytes]) -> None:
        """Write the key file whole (temp file + rename), readable by its owner only."""
        os.replace(self._written(keys), self.key_file)

    def _written(self, keys: list[bytes]) -> Path:
        if self.env_key or self.key_file is None:
            raise SecretsKeyError("the secrets key comes from CAUSEWAY_SECRETS_KEY, which the hub cannot change: "
                                  "to rotate, write that key to a file (mode 0600), point CAUSEWAY_SECRETS_KEY_FILE "
                                  "at it and unset CAUSEWAY_SECRETS_KEY")
        self.key_file.parent.mkdir(parents=True, exist_ok=True)
        temp = self.key_file.with_name(f".{self.key_file.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        body = "# Causeway secrets key(s): the first seals, the others only open. Keep it safe and backed up.\n"
        body += "".join(base64.b64encode(k).decode("ascii") + "\n" for k in keys)
        handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(handle, "w", encoding="ascii") as out:
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o600)
        return temp

    def create(self) -> bool:
        """Make the key file with one new key unless it exists (or the key comes from the environment)."""
        if self.env_key or self.read():
            return False
        temp = self._written([new_key()])
        try:
            os.link(temp, self.key_file)  # appears whole, and only if no other process made it first
        except FileExistsError:
            return False
        finally:
            temp.unlink()
        return True


class Sealer:
    """Seals and opens secrets under a KeySource; picks up a rotated key file by itself."""

    def __init__(self, source: KeySource):
        self.source = source
        self._lock = threading.Lock()
        self._stamp = None
        self._keys: list[bytes] = []
        # Opened values by their sealed text: the delivery worker opens a subscription's secret
        # for every page it signs, and a sealed value never changes meaning.
        self._opened: dict[str, str] = {}
        self._reload()

    def _file_stamp(self):
        if self.source.env_key or self.source.key_file is None:
            return None
        try:
            stat = self.source.key_file.stat()
        except FileNotFoundError:
            return None
        return (stat.st_mtime_ns, stat.st_size, stat.st_ino)

    def _reload(self) -> None:
        with self._lock:
            stamp = self._file_stamp()
            if self._keys and stamp == self._stamp:
                return
            self._keys = self.source.read() if (self.source.env_key or self.source.key_file) else []
            self._stamp = stamp

    @property
    def key_ids(self) -> list[str]:
        self._reload()
        return [key_id(k) for k in self._keys]

    def has_key(self) -> bool:
        return bool(self.key_ids)

    def ensure_key(self) -> bool:
        """Create the key file when there is no key yet; True when one was created."""
        self._reload()
        if self._keys:
            return False
        created = self.source.create()  # raises when no key file is configured
        self._stamp = object()
        self._reload()
        return created

    def rotate_key(self, reseal: Callable[[], T]) -> T:
        """A new current key. It is written first beside every old key, so every value still opens
        while `reseal()` re-seals them under it; then the file keeps the new key and the previous
        one only (opening only), so hub processes still running on it keep working until they reload."""
        old_keys = list(self._keys) if self.has_key() else []
        if self.source.key_file is None and not self.source.env_key:
            self.source.read()  # raises: no key is configured
        if self.source.env_key:
            self.source.write([])  # raises: an environment key cannot be rotated here
        fresh = new_key()
        self.source.write([fresh] + old_keys)
        self._stamp = object()
        done = reseal()
        self.source.write([fresh] + old_keys[:1])
        self._stamp = object()
        return done

    def seal(self, secret: str) -> str:
        self._reload()  # a rotation by another process changes the current key
        if not self._keys:
            self.ensure_key()
        key = self._keys[0]
        nonce = get_random_bytes(_NONCE)
        sealed, tag = AES.new(key, AES.MODE_GCM, nonce=nonce).encrypt_and_digest(secret.encode("utf-8"))
        return f"v2:{key_id(key)}:" + base64.b64encode(nonce + tag + sealed).decode("ascii")

    def open(self, stored: str) -> str:
        if not stored.startswith(SEALED_PREFIXES):  # unsealed: "plain:..." or a bare value from before sealing
            return stored.removeprefix("plain:")
        if stored.startswith("v2:"):
            opened = self._opened.get(stored)
            if opened is None:
                kid, _, body = stored[3:].partition(":")
                opened = self._decrypt(self._key(kid), body, f"a secret sealed under key {kid}")
                if len(self._opened) >= 4096:
                    self._opened.clear()
                self._opened[stored] = opened
            return opened
        if stored.startswith("v1:"):
            self._reload()
            for key in self._keys:
                try:
                    return _decrypt(key, stored[3:])
                except ValueError:
                    continue
            raise SecretsKeyError(f"a secret sealed before key ids (v1) does not open with {self.source.describe()} "
                                  f"(key ids {', '.join(self.key_ids) or 'none'}): set the key that sealed it")

    def _key(self, kid: str) -> bytes:
        for attempt in (0, 1):
            if attempt:
                self._stamp = object()  # force a reload: the file may have been rotated meanwhile
                self._reload()
            for key in self._keys:
                if key_id(key) == kid:
                    return key
        raise SecretsKeyError(f"a secret is sealed under key {kid}, which {self.source.describe()} does not hold "
                              f"(it holds {', '.join(self.key_ids) or 'no key'}): restore the key that sealed it")

    @staticmethod
    def _decrypt(key: bytes, body: str, what: str) -> str:
        try:
            return _decrypt(key, body)
        except ValueError:
            raise SecretsKeyError(f"{what} fails its integrity check: the stored value was altered") from None

    def state_of(self, stored: str) -> str:
        """'plain', 'current' (sealed under the current key), 'old' (an older key held) or 'unknown'."""
        if not stored.startswith(SEALED_PREFIXES):
            return "plain"
        ids = self.key_ids
        if stored.startswith("v2:"):
            kid = stored[3:].split(":", 1)[0]
            return "current" if ids and kid == ids[0] else "old" if kid in ids else "unknown"
        try:
            self.open(stored)
            return "old"
        except SecretsKeyError:
            return "unknown"


def _decrypt(key: bytes, body: str) -> str:
    raw = base64.b64decode(body)
    cipher = AES.new(key, AES.MODE_GCM, nonce=raw[:_NONCE])
    return cipher.decrypt_and_verify(raw[_NONCE + _TAG:], raw[_NONCE:_NONCE + _TAG]).decode("utf-8")


# -- which sealer an engine's secrets use --------------------------------------
_by_engine: "weakref.WeakKeyDictionary[Engine, Sealer]" = weakref.WeakKeyDictionary()
_by_source: dict[KeySource, Sealer] = {}


def sealer_for(db_url: str, env_key: str | None = None, key_file: str | Path | None = None) -> Sealer:
    source = KeySource.resolve(db_url, env_key, key_file)
    if source not in _by_source:
        _by_source[source] = Sealer(source)
    return _by_source[source]


def use(engine: Engine, sealer: Sealer) -> Sealer:
    """Make `sealer` the one every service on this engine seals with (build_services does this)."""
    _by_engine[engine] = sealer
    return sealer


def for_engine(engine: Engine) -> Sealer:
    """The sealer of an engine: the one set with use(), else the environment's for its database."""
    found = _by_engine.get(engine)
    if found is None:
        found = use(engine, sealer_for(engine.url.render_as_string(hide_password=False)))
    return found
