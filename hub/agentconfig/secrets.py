"""Secrets never leave the council: a hub-managed configuration may name where a secret is
kept on the agent's server (an environment variable, a local file), never hold the secret.

`literal_secrets` finds what looks like a secret written into the configuration: an option
whose name says it is one (`password`, `token`, `secret`, ...) but is not a `*_env` or
`*_file` reference, a URL with a password in it, or a connection string with `PWD=`.
"""
from __future__ import annotations

import re

SECRET_WORDS = ("password", "passwd", "pwd", "secret", "token", "apikey", "api_key", "credential",
                "private_key", "connection_string", "hash_key")
REFERENCE_SUFFIXES = ("_env", "_file")
URL_WITH_PASSWORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@\s:]*:[^/@\s]+@")
CONNECTION_STRING_PASSWORD = re.compile(r"(?i)(^|[;\s&?])(pwd|password)\s*=\s*[^;\s&]")


def _where(path: tuple) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "top level"


def literal_secrets(document, path: tuple = ()) -> list[dict]:
    """Each place in `document` holding a secret's value: [{field, message}]."""
    found: list[dict] = []
    if isinstance(document, dict):
        for key, value in document.items():
            here = path + (key,)
            name = str(key).lower()
            if (any(word in name for word in SECRET_WORDS) and not name.endswith(REFERENCE_SUFFIXES)
                    and value not in (None, "", False)):
                found.append({"field": _where(here), "message": (
                    f"{_where(here)}: a hub-managed configuration names where a secret is kept, never the "
                    f"secret itself; use {key}_env (an environment variable on the agent's server) instead")})
                continue
            found += literal_secrets(value, here)
    elif isinstance(document, list):
        for index, item in enumerate(document):
            found += literal_secrets(item, path + (index,))
    elif isinstance(document, str):
        if URL_WITH_PASSWORD.match(document):
            found.append({"field": _where(path), "message": (
                f"{_where(path)}: the URL holds a password; write it without one and name the environment "
                "variable that holds the password (password_env)")})
        elif CONNECTION_STRING_PASSWORD.search(document):
            found.append({"field": _where(path), "message": (
                f"{_where(path)}: the connection string holds a password (PWD=...); leave it out and name the "
                "environment variable that holds it (password_env)")})
    return found
