"""Example returns for `make run`: contacts for a few councils and school-meals
returns for the latest quarter already due, so the grid has something to show."""
from __future__ import annotations

import uuid

from hub.returns.reference import set_contact

DATASET = "data-return.school-meals"
EXAMPLE_CONTACTS = ["edinburgh", "glasgow", "fife", "highland", "orkney"]
EXAMPLE_PUBLISHERS = ["edinburgh", "glasgow", "fife", "dundee", "highland", "stirling", "orkney", "moray"]


def set_example_contacts(services) -> None:
    for org in EXAMPLE_CONTACTS:
        set_contact(services.engine, org, f"returns@{org}.example.org", None, actor="demo", clock=services.clock)


def example_return(org: str, period: str, population: int) -> dict:
    registered = population * 5 // 100  # about 50 per 1,000 people
    primary, secondary = registered * 44, registered * 11
    total = primary + secondary + (1000 if org == "moray" else 0)  # one that does not add up, to show a flag
    return {"return_id": f"{org}-{period}", "council": org, "period": period,
            "pupils_on_roll": population * 12 // 100, "free_meals_registered": registered,
            "free_meals_taken_primary": primary, "free_meals_taken_secondary": secondary,
            "total_free_meals_taken": total, "submitted_by": f"returns@{org}.example.org"}


def publish_example_returns(services) -> str:
    from hub.returns.reference import populations_for_year

    declaration = services.returns.declaration(DATASET)
    period = services.returns.latest_due_period(declaration, services.clock())
    with services.engine.connect() as conn:
        populations = populations_for_year(conn, period.last_day.year)
    accepted = 0
    for org in EXAMPLE_PUBLISHERS:
        key = services.orgs.issue_key(org, "publisher", label="demo returns", actor="demo")
        principal = services.orgs.authenticate(key)
        record = {
            # The same id at every start, so restarting the demo does not resubmit.
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"causeway-demo/{DATASET}/{org}/{period.name}")),
            "dataset": DATASET, "schema_version": 1, "op": "upsert",
            "occurred_at": f"{period.last_day.isoformat()}T17:00:00Z",
            "payload": example_return(org, period.name, populations.get(org, 100000)),
        }
        accepted += services.records.publish({"records": [record]}, principal).accepted
    return f"example {DATASET} returns for {period.name}: {accepted} published"
