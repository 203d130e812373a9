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
    return f"example {DATASET} returns for {period.name}: {accepted} published\n" + draft_example_return(services)


DRAFTED = "data-return.school-free-meals-by-school"
# Where each council's row set stands at the end of the demo.
SIGN_OFF = {"edinburgh": ["submit", "approve", "accept"], "glasgow": ["submit", "approve"], "fife": ["submit"],
            "dundee": [], "highland": ["submit", "approve", "send_back"]}


def draft_example_return(services) -> str:
    """A monthly return drafted as data by the Scottish Government and approved by the admin, with
    one row per school from five councils, each at another step of sign-off."""
    from hub.auth import Principal

    definitions = services.returns.definitions
    if definitions.versions_in_force(DRAFTED):
        return f"example {DRAFTED}: already in force"
    agency = Principal(org="scottish-government", role="governance", credential_id="demo")
    definitions.draft({
        "name": DRAFTED, "title": "School free meals by school", "frequency": "monthly",
        "due_days_after_period_end": 14, "expected_publishers": list(SIGN_OFF), "introduced": "2026-01-01",
        "guidance": "One row per school: the roll and the pupils taking free meals in P1-P5 and P6-S6.",
        "fields": {"type": "object", "additionalProperties": False,
                   "required": ["school", "pupils_on_roll", "fm_p1_p5", "fm_p6_s6"],
                   "properties": {"school": {"type": "string", "title": "School"},
                                  "pupils_on_roll": {"type": "integer", "minimum": 0, "title": "Pupils on roll"},
                                  "fm_p1_p5": {"type": "integer", "minimum": 0, "title": "Free meals P1-P5"},
                                  "fm_p6_s6": {"type": "integer", "minimum": 0, "title": "Free meals P6-S6"}}},
        "rules": [{"name": "Free meals within roll", "left": "fm_p1_p5 + fm_p6_s6", "operator": "<=",
                   "right": "pupils_on_roll", "importance": "high"}],
        "rates": [{"name": "free_meals_percent", "numerator": "fm_p1_p5", "denominator": "pupils_on_roll",
                   "per": 100}],
    }, agency)
    definitions.approve(DRAFTED, 1, Principal(org="scottish-government", role="admin", credential_id="demo"))
    declaration = services.returns.declaration(DRAFTED)
    # the period after the latest one due: begun, not yet due, so approved sets are on time
    period = services.returns.latest_due_period(declaration, services.clock()).next()
    for number, (org, steps) in enumerate(SIGN_OFF.items()):
        rows = [{"key": f"{org}-school-{n}", "values": {
            "school": f"{org.title()} school {n}", "pupils_on_roll": 300 + 40 * n,
            "fm_p1_p5": 60 + n * 5 + (400 if org == "highland" and n == 1 else 0), "fm_p6_s6": 30 + number}}
            for n in range(1, 4)]
        publisher = Principal(org=org, role="publisher", credential_id="demo")
        services.returns.submit_rows(DRAFTED, period.name, org, rows, publisher)
        for action in steps:
            who = {"submit": publisher, "approve": Principal(org=org, role="governance", credential_id="demo")}.get(
                action, agency)
            comment = "School 1's free meals are more than its roll" if action == "send_back" else None
            services.returns.sign_off(DRAFTED, period.name, org, action, comment, who)
    return f"example {DRAFTED} for {period.name}: {len(SIGN_OFF)} councils at every step of sign-off"
