"""Connexion checks the whole OpenAPI document against the OpenAPI schema every time an app is
built: about two thirds of `create_app`, and the in-process tests build an app per test. The
document does not change during a run, so each test process checks each document once (a
document that fails still fails, each time; hub processes the tests start check it as ever)."""
from __future__ import annotations

import hashlib
import json

from connexion.spec import Specification

_checked: set[tuple[type, str]] = set()


def check_each_document_once() -> None:
    check = Specification.__dict__["_validate_spec"].__func__

    def validate_once(cls, spec) -> None:
        key = (cls, hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest())
        if key not in _checked:
            check(cls, spec)
            _checked.add(key)

    Specification._validate_spec = classmethod(validate_once)  # type: ignore[method-assign]
