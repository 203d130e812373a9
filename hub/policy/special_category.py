"""Special-category data (UK GDPR Article 9) in agreements.

A dataset schema marks a field special category with `"x-causeway-special-category": true`
(for example a referral's `disability`). An agreement that passes such a field (as it is,
pseudonymised or generalised) must state the Article 9(2) condition it relies on in that
dataset's `article9_condition`; without one the hub neither approves nor activates it.
"""
from __future__ import annotations

from collections.abc import Callable

from hub.errors import Conflict

MARK = "x-causeway-special-category"


def special_fields(dataset) -> set[str]:
    """The fields any schema version of `dataset` marks special category."""
    return {name for schema in dataset.schemas.values()
            for name, prop in schema.get("properties", {}).items() if isinstance(prop, dict) and prop.get(MARK)}


def passed_fields(spec: dict) -> set[str]:
    return set(spec.get("fields", ())) | set(spec.get("pseudonymise", ())) | set(spec.get("generalise", {}))


def unconditioned(document: dict, dataset_of: Callable) -> list[str]:
    """`dataset.field` of each special-category field the agreement passes without an Article 9 condition."""
    found = []
    for name, spec in sorted(document["datasets"].items()):
        dataset = dataset_of(name)
        if dataset is None or spec.get("article9_condition"):
            continue
        found.extend(f"{name}.{field}" for field in sorted(passed_fields(spec) & special_fields(dataset)))
    return found


def require_conditions(document: dict, dataset_of: Callable, version: int, to: str) -> None:
    """Refuse (409) to move an agreement version to `to` while it passes special-category data without a condition."""
    missing = unconditioned(document, dataset_of)
    if missing:
        raise Conflict(
            f"version {version} of {document['id']} cannot become {to}: it passes special-category data "
            f"({', '.join(missing)}) without an Article 9 condition; add article9_condition (for example "
            "'9(2)(a)' explicit consent or '9(2)(g)' substantial public interest) to that dataset in a new version",
            slug="article9-condition-missing", fields=missing)
