"""Example returns for `make run`: contacts for a few councils and school-meals
returns for the latest quarter already due from all but four councils, so the grid has late
councils to show and benchmarks have enough councils for family-group figures."""
from __future__ import annotations

import uuid

from hub.returns.reference import set_contact

DATASET = "data-return.school-meals"
EXAMPLE_CONTACTS = ["edinburgh", "glasgow", "fife", "highland", "orkney"]
NOT_YET_SENT = ("clackmannanshire", "inverclyde", "midlothian", "west-lothian")


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
    councils = [org["slug"] for org in services.orgs.list_orgs() if org["kind"] == "council"]
    for org in (slug for slug in councils if slug not in NOT_YET_SENT):
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
# Where each council's row set stands for the period after the latest one due (begun, not yet due),
# so each return has a council in every state: accepted, approved, submitted, draft (no step),
# sent back, and not started (None). Councils with nothing for the latest period due are late.
SIGN_OFF = {"edinburgh": ["submit", "approve", "accept"], "glasgow": ["submit", "approve"], "fife": ["submit"],
            "dundee": [], "highland": ["submit", "approve", "send_back"], "stirling": None}
LATE_BUT_APPROVED = ("edinburgh", "glasgow")  # approved after the deadline of the latest period due
SCHOOL = {"school": {"type": "string", "title": "School"},
          "pupils_on_roll": {"type": "integer", "minimum": 0, "title": "Pupils on roll"},
          "fm_p1_p5": {"type": "integer", "minimum": 0, "title": "Free meals P1-P5"},
          "fm_p6_s6": {"type": "integer", "minimum": 0, "title": "Free meals P6-S6"}}
EXAMPLES = [
    {"name": DRAFTED, "title": "School free meals by school", "frequency": "monthly",
     "due_days_after_period_end": 14,
     "guidance": "One row per school: the roll and the pupils taking free meals in P1-P5 and P6-S6.",
     "fields": {"type": "object", "additionalProperties": False,
                "required": ["school", "pupils_on_roll", "fm_p1_p5", "fm_p6_s6"], "properties": SCHOOL},
     "rules": [{"name": "Free meals within roll", "left": "fm_p1_p5 + fm_p6_s6", "operator": "<=",
                "right": "pupils_on_roll", "importance": "high"}],
     "rates": [{"name": "free_meals_percent", "numerator": "fm_p1_p5", "denominator": "pupils_on_roll",
                "per": 100}]},
    {"name": "data-return.homelessness-applications", "title": "Homelessness applications by office",
     "frequency": "quarterly", "due_days_after_period_end": 30,
     "guidance": "One row per housing options office: applications made and assessed as homeless.",
     "fields": {"type": "object", "additionalProperties": False, "required": ["office", "applications", "assessed"],
                "properties": {"office": {"type": "string", "title": "Office"},
                               "applications": {"type": "integer", "minimum": 0, "title": "Applications"},
                               "assessed": {"type": "integer", "minimum": 0, "title": "Assessed as homeless"}}},
     "rules": [{"name": "Assessed within applications", "left": "assessed", "operator": "<=",
                "right": "applications", "importance": "high"}]},
    {"name": "data-return.care-home-occupancy", "title": "Care home occupancy (weekly)", "frequency": "weekly",
     "due_days_after_period_end": 3,
     "guidance": "One row per care home the council runs: beds and beds occupied on the Sunday.",
     "fields": {"type": "object", "additionalProperties": False, "required": ["home", "beds", "occupied"],
                "properties": {"home": {"type": "string", "title": "Care home"},
                               "beds": {"type": "integer", "minimum": 0, "title": "Beds"},
                               "occupied": {"type": "integer", "minimum": 0, "title": "Beds occupied"}}},
     "rules": [{"name": "Occupied within beds", "left": "occupied", "operator": "<=", "right": "beds",
                "importance": "high"}]},
]


def _rows(name: str, org: str, number: int) -> list[dict]:
    if name == DRAFTED:
        return [{"key": f"{org}-school-{n}", "values": {
            "school": f"{org.title()} school {n}", "pupils_on_roll": 300 + 40 * n,
            "fm_p1_p5": 60 + n * 5 + (400 if org == "highland" and n == 1 else 0), "fm_p6_s6": 30 + number}}
            for n in range(1, 4)]
    if "homelessness" in name:
        return [{"key": f"{org}-office-{n}", "values": {"office": f"{org.title()} office {n}",
                                                        "applications": 120 + 10 * n + number,
                                                        "assessed": 90 + n + (200 if org == "highland" else 0)}}
                for n in range(1, 3)]
    return [{"key": f"{org}-home-{n}", "values": {"home": f"{org.title()} care home {n}", "beds": 40 + n,
                                                  "occupied": 35 + n + (20 if org == "highland" else 0)}}
            for n in range(1, 3)]


def draft_example_return(services) -> str:
    """Three returns drafted as data by the Scottish Government and approved by the admin (monthly,
    quarterly and weekly), each with councils at every step of sign-off and some late. Safe to run
    at every start: a council that already has rows for the period is left as it is."""
    return "\n".join(_example(services, spec) for spec in EXAMPLES)


def _example(services, spec: dict) -> str:
    from hub.auth import Principal

    from .submissions import read_submissions

    name, definitions = spec["name"], services.returns.definitions
    agency = Principal(org="scottish-government", role="governance", credential_id="demo")
    if not definitions.versions_in_force(name):
        definitions.draft({**spec, "expected_publishers": list(SIGN_OFF), "introduced": "2026-01-01"}, agency)
        definitions.approve(name, 1, Principal(org="scottish-government", role="admin", credential_id="demo"))
    declaration = services.returns.declaration(name)
    latest = services.returns.latest_due_period(declaration, services.clock())
    with services.engine.connect() as conn:
        sent = set(read_submissions(conn, declaration))
    # the period after the latest one due: begun, not yet due, so approved sets are on time
    plan = [(latest.next(), org, steps) for org, steps in SIGN_OFF.items() if steps is not None]
    plan += [(latest, org, ["submit", "approve"]) for org in LATE_BUT_APPROVED]
    for period, org, steps in plan:
        if (org, period.name) in sent:
            continue
        publisher = Principal(org=org, role="publisher", credential_id="demo")
        services.returns.submit_rows(name, period.name, org, _rows(name, org, list(SIGN_OFF).index(org)), publisher)
        for action in steps:
            who = {"submit": publisher, "approve": Principal(org=org, role="governance", credential_id="demo")}.get(
                action, agency)
            comment = "The first row's figures are more than its total" if action == "send_back" else None
            services.returns.sign_off(name, period.name, org, action, comment, who)
    return (f"example {name} ({declaration.frequency}) for {latest.next().name}: councils at every step of "
            f"sign-off; {latest.name} late from all but {', '.join(LATE_BUT_APPROVED)} (approved late)")
