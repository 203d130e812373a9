"""The demo's derived return: planning applications received and decided per quarter, by type,
computed from the `planning-application` records four councils publish, each council's set at
another step of sign-off (one with a figure edited by hand, so the console shows both kinds)."""
from __future__ import annotations

import uuid
from datetime import timedelta

from hub.auth import Principal

NAME = "data-return.planning-applications-quarterly"
COUNCILS = ["edinburgh", "glasgow", "fife", "highland"]
GRANTED = ["granted", "granted-subject-to-conditions", "granted-subject-to-legal-agreement"]
DECIDED = [{"field": "decision", "present": True}]
SPEC = {
    "name": NAME, "title": "Planning applications received and decided, by type", "frequency": "quarterly",
    "due_days_after_period_end": 30, "expected_publishers": COUNCILS, "introduced": "2026-01-01",
    "requesting_org": "scottish-government",
    "guidance": "Computed by the hub from the planning-application records each council already publishes: "
                "applications received in the quarter (returned ones left out), decided in the quarter, granted, "
                "withdrawn, and the median days from validation to decision. Check the figures and the records "
                "behind them, correct the records at source (or a figure by hand), then submit and approve.",
    "fields": {"type": "object", "additionalProperties": False,
               "required": ["application_type", "received", "decided", "granted", "withdrawn"],
               "properties": {
                   "application_type": {"type": "string", "title": "Application type"},
                   "received": {"type": "integer", "minimum": 0, "title": "Received"},
                   "decided": {"type": "integer", "minimum": 0, "title": "Decided"},
                   "granted": {"type": "integer", "minimum": 0, "title": "Granted"},
                   "withdrawn": {"type": "integer", "minimum": 0, "title": "Withdrawn"},
                   "median_days_to_decision": {"type": "number", "minimum": 0,
                                               "title": "Median days, validation to decision"}}},
    "rules": [{"name": "Granted within decided", "left": "granted", "operator": "<=", "right": "decided",
               "importance": "high"}],
    "rates": [{"name": "granted_percent", "numerator": "granted", "denominator": "decided", "per": 100}],
    "derived_from": {
        "dataset": "planning-application", "period_field": "received_date",
        "where": [{"field": "status", "not_in": ["returned"]}],
        "group_by": [{"field": "application_type", "as": "application_type"}],
        "measures": [
            {"as": "received", "count": True},
            {"as": "decided", "count": True, "period_field": "decision_date", "where": DECIDED},
            {"as": "granted", "count": True, "period_field": "decision_date",
             "where": [{"field": "decision", "in": GRANTED}]},
            {"as": "withdrawn", "count": True, "where": [{"field": "status", "in": ["withdrawn"]}]},
            {"as": "median_days_to_decision", "period_field": "decision_date", "where": DECIDED,
             "median_days": {"from": "validated_date", "to": "decision_date"}},
        ]},
}
TYPES = ["householder", "full", "listed-building-consent", "householder", "full", "advertisement-consent",
         "householder", "planning-permission-in-principle"]


def example_applications(org: str, number: int, first_day) -> list[dict]:
    """A council's applications received in the quarter starting `first_day`: most decided within it,
    one withdrawn, one returned as invalid (which no figure counts)."""
    found = []
    for n, kind in enumerate(TYPES[: 5 + number]):
        received = first_day + timedelta(days=3 + 7 * n)
        validated = received + timedelta(days=4)
        payload = {"reference": f"26/{number}{n:03d}/{kind[:3].upper()}", "council": org,
                   "site_address": f"{10 + n} High Street, {org.title()}", "description": f"Example {kind} application",
                   "application_type": kind, "received_date": received.isoformat(),
                   "validated_date": validated.isoformat(), "status": "under-consideration"}
        if n % 3 != 2:
            payload.update(status="decided", decision_date=(validated + timedelta(days=20 + 9 * n)).isoformat(),
                           decision="refused" if n == 4 else "granted-subject-to-conditions")
        elif n == 2:
            payload["status"] = "withdrawn"
        found.append(payload)
    found.append({"reference": f"26/{number}999/FUL", "council": org, "site_address": "Land at the Mains",
                  "description": "Incomplete application", "application_type": "full",
                  "received_date": (first_day + timedelta(days=5)).isoformat(), "status": "returned"})
    return found


def publish_derived_example(services) -> str:
    returns, derived = services.returns, services.derived_returns
    agency = Principal(org="scottish-government", role="governance", credential_id="demo")
    if not returns.definitions.versions_in_force(NAME):
        returns.definitions.draft(SPEC, agency)
        returns.definitions.approve(NAME, 1, Principal(org="scottish-government", role="admin", credential_id="demo"))
    declaration = returns.declaration(NAME)
    period = returns.latest_due_period(declaration, services.clock())
    for number, org in enumerate(COUNCILS, start=1):
        key = services.orgs.issue_key(org, "publisher", label="demo planning", actor="demo")
        batch = [{"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"causeway-demo/planning/{payload['reference']}/{org}")),
                  "dataset": "planning-application", "schema_version": 1, "op": "upsert",
                  "occurred_at": f"{payload['received_date']}T12:00:00Z", "payload": payload}
                 for payload in example_applications(org, number, period.first_day)]
        services.records.publish({"records": batch}, services.orgs.authenticate(key))
    derived.run()
    steps = {"glasgow": ["submit", "approve", "accept"], "fife": ["submit", "approve"], "highland": ["submit"]}
    for org, actions in steps.items():
        found = returns.submission(NAME, period.name, org, Principal(org=org, role="governance", credential_id="demo"))
        if (found.get("sign_off") or {}).get("state") != "draft":
            continue
        for action in actions:
            who = agency if action == "accept" else Principal(org=org, role="governance", credential_id="demo")
            returns.sign_off(NAME, period.name, org, action, None, who)
    edinburgh = Principal(org="edinburgh", role="publisher", credential_id="demo")
    found = returns.submission(NAME, period.name, "edinburgh", edinburgh)
    if found["records"] and (found.get("sign_off") or {}).get("state") == "draft" and found["versions"] == 1:
        rows = [{"key": r["key"], "values": dict(r["payload"])} for r in found["records"]]
        rows[0]["values"]["received"] += 1  # one figure corrected by hand: the console shows it apart
        returns.submit_rows(NAME, period.name, "edinburgh", rows, edinburgh)
    return (f"example {NAME} for {period.name}: derived from the planning-application records of "
            f"{', '.join(COUNCILS)} (glasgow accepted, fife approved, highland submitted, edinburgh a draft "
            "with one figure edited by hand)")
