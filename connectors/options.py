"""Reading a connector's options (a plain dict from the agent's YAML config)
with clear messages: every mistake names the connector, the option and what
was expected, and unknown options are refused so a typo is not silently ignored."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .base import ConnectorError

_MISSING = object()


class Options:
    def __init__(self, what: str, options: dict | None, base_dir: Path):
        if options is None:
            options = {}
        if not isinstance(options, dict):
            raise ConnectorError(f"{what}: options must be a mapping, not {type(options).__name__}")
        self.what = what
        self._options = options
        self._used: set[str] = set()
        self.base_dir = base_dir

    def has(self, name: str) -> bool:
        return self._options.get(name) is not None

    def _get(self, name, default):
        self._used.add(name)
        value = self._options.get(name, _MISSING)
        if value is _MISSING or value is None:
            if default is _MISSING:
                raise ConnectorError(f"{self.what}: option {name!r} is required")
            return default
        return value

    def fail(self, name: str, message: str) -> ConnectorError:
        return ConnectorError(f"{self.what}: option {name!r} {message}")

    def str(self, name: str, default=_MISSING):
        value = self._get(name, default)
        if value is not None and not isinstance(value, str):
            raise self.fail(name, f"must be text, not {value!r}")
        return value

    def int(self, name: str, default=_MISSING, minimum: int | None = None):
        value = self._get(name, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(name, f"must be a whole number, not {value!r}")
        if minimum is not None and value < minimum:
            raise self.fail(name, f"must be at least {minimum}, not {value}")
        return value

    def number(self, name: str, default=_MISSING, minimum: float | None = None):
        value = self._get(name, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(name, f"must be a number, not {value!r}")
        if minimum is not None and value < minimum:
            raise self.fail(name, f"must be at least {minimum}, not {value}")
        return value

    def bool(self, name: str, default=_MISSING):
        value = self._get(name, default)
        if not isinstance(value, bool):
            raise self.fail(name, f"must be true or false, not {value!r}")
        return value

    def choice(self, name: str, choices, default=_MISSING):
        value = self._get(name, default)
        if value not in choices:
            raise self.fail(name, f"must be one of {', '.join(map(repr, choices))}, not {value!r}")
        return value

    def str_list(self, name: str, default=_MISSING) -> list[str] | None:
        """A column name or a list of them."""
        value = self._get(name, default)
        if value is None:
            return None
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise self.fail(name, f"must be a name or a non-empty list of names, not {value!r}")
        return value

    def mapping(self, name: str, default=_MISSING) -> dict | None:
        value = self._get(name, default)
        if value is not None and not isinstance(value, dict):
            raise self.fail(name, f"must be a mapping, not {value!r}")
        return value

    def path(self, name: str, default=_MISSING) -> Path | None:
        """A path; relative paths are taken from the agent's base directory."""
        value = self.str(name, default)
        if value is None:
            return None
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def env_secret(self, name: str, default=_MISSING) -> str | None:
        """The value of the environment variable the option names (the secret itself never sits in config)."""
        variable = self.str(name, default)
        if variable is None:
            return None
        value = os.environ.get(variable)
        if not value:
            raise self.fail(name, f"names environment variable {variable!r}, which is not set")
        return value

    def finish(self) -> None:
        unknown = sorted(set(self._options) - self._used)
        if unknown:
            raise ConnectorError(
                f"{self.what}: unknown option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                f"known options: {', '.join(sorted(self._used))}"
            )


def content_version(data: dict) -> str:
    """A short hash of a row's content: changes exactly when the content changes.

    repr() of the items is deterministic for the values sources produce (text,
    numbers, dates, None, nested JSON) and several times faster than JSON."""
    return hashlib.blake2b(repr(tuple(data.items())).encode("utf-8"), digest_size=16).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
