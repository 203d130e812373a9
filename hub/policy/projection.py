"""Data minimisation: what of a payload a recipient receives under one agreement.

Only listed fields leave; pseudonymised fields become a keyed HMAC-SHA256 under
the agreement's own key (the same value gives the same pseudonym within one
agreement, so a recipient can link records about one person, and a different one
under any other agreement); generalised fields are coarsened.
"""
from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import Callable

from causeway_common.canonical import canonical_json

_YEAR = re.compile(r"^\d{4}")
_MONTH = re.compile(r"^\d{4}-\d{2}")
_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?) ?[0-9][A-Z]{2}$")


_MEMO: dict[tuple[bytes, str], str] = {}
_MEMO_LIMIT = 200_000


def pseudonym(key: bytes, value) -> str:
    """ps_ + the first 128 bits of HMAC-SHA256(key, value); text as UTF-8, anything else as canonical JSON."""
    if isinstance(value, str):
        # The same person recurs across records and feed reads: remember recent text pseudonyms
        # (bounded; the memo lives only in this process, like the keys it is made from).
        found = _MEMO.get((key, value))
        if found is None:
            if len(_MEMO) >= _MEMO_LIMIT:
                _MEMO.clear()
            found = _MEMO[(key, value)] = "ps_" + hmac.digest(key, value.encode("utf-8"), "sha256")[:16].hex()
        return found
    return "ps_" + hmac.digest(key, canonical_json(value), "sha256")[:16].hex()


def _year(value):
    if isinstance(value, str):
        match = _YEAR.match(value)
        return match.group(0) if match else None
    return None


def _month(value):
    if isinstance(value, str):
        match = _MONTH.match(value)
        return match.group(0) if match else None
    return None


def _district(value):
    if isinstance(value, str):
        match = _POSTCODE.match(value.strip().upper())
        return match.group(1) if match else None
    return None


# A generaliser returns the coarse value, or None when the value is not of the
# expected form (the field is then left out rather than sent as it was).
GENERALISERS: dict[str, Callable] = {"year": _year, "month": _month, "district": _district}


@dataclass(frozen=True, slots=True)
class Projection:
    plain: tuple[str, ...]
    pseudonymised: tuple[str, ...]
    generalised: tuple[tuple[str, Callable], ...]

    @property
    def delivered(self) -> frozenset:
        return frozenset(self.plain) | frozenset(self.pseudonymised) | frozenset(f for f, _ in self.generalised)

    def apply(self, payload: dict, key: bytes) -> dict:
        out = {field: payload[field] for field in self.plain if field in payload}
        for field in self.pseudonymised:
            value = payload.get(field)
            if value is not None:
                out[field] = pseudonym(key, value)
        for field, coarsen in self.generalised:
            value = payload.get(field)
            if value is not None:
                coarse = coarsen(value)
                if coarse is not None:
                    out[field] = coarse
        return out


def projection_of(spec: dict) -> Projection:
    """From an agreement's per-dataset settings (fields, pseudonymise, generalise)."""
    return Projection(
        plain=tuple(spec.get("fields", ())),
        pseudonymised=tuple(spec.get("pseudonymise", ())),
        generalised=tuple((field, GENERALISERS[method]) for field, method in spec.get("generalise", {}).items()),
    )
