"""Which fields of a council's return an agreement lets a recipient see: a benchmark names a council
to an agreement's recipient only for measures made of fields the agreement passes as they are
(not pseudonymised or generalised), as the agreement would deliver its records."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime


def plain_fields_shared(active_agreements: Callable[[], list], recipient: str, dataset: str,
                        at: datetime) -> dict[str, set[str]]:
    """provider -> the fields of `dataset` an active agreement in force at `at` passes to `recipient` plainly."""
    moment = at.timestamp()
    found: dict[str, set[str]] = {}
    for agreement in active_agreements():
        terms = agreement.datasets.get(dataset)
        if terms is None or recipient not in agreement.recipients or not agreement.starts <= moment < agreement.ends:
            continue
        for provider in agreement.providers:
            found.setdefault(provider, set()).update(terms.projection.plain)
    return found
