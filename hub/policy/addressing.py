"""Addressed datasets: records meant for one organisation only.

A dataset schema version marks the payload field that names the one org a record is for
with `"x-causeway-addressee": true` (a referral's `receiving_org`, a referral status's
`referring_org`). The decision point hands such a record to that org and to no other,
whatever agreements cover the route; a record naming no addressee (a delete carries no
payload) goes to nobody.
"""
from __future__ import annotations

MARK = "x-causeway-addressee"


def addressee_field(schema: dict) -> str | None:
    """The property `schema` marks as the addressee (None: the dataset version is not addressed)."""
    return next((name for name, prop in schema.get("properties", {}).items()
                 if isinstance(prop, dict) and prop.get(MARK)), None)
