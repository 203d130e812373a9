"""Must show: a quarter with 32 expected councils, some on time, some late, one
resubmitting, one missing, one with an outlier. The API grid, the flags and the
reminders (received by a real SMTP server and a real webhook receiver) are exactly right."""
import csv
import io
import json

import pytest
from standardwebhooks.webhooks import Webhook

from support.returns import (
    COUNCILS,
    DATASET,
    LATE,
    MISSING,
    OUTLIER,
    QUARTER,
    RESUBMITTER,
    WEBHOOK_ORGS,
    build_quarter,
    load_population,
    set_contacts,
)

pytestmark = pytest.mark.timeout(600)

REMINDED = sorted(LATE + [MISSING])  # nothing from them when the first three reminders fell due


def verify_signature(secret: str, headers: dict, body: str) -> bool:
    """With the official Standard Webhooks library (raises when the signature does not match)."""
    Webhook(secret).verify(body, headers)
    return True


@pytest.fixture
def quarter(services, client, auth, clock, webhook_receiver):
    load_population(services)
    secrets = set_contacts(services, f"http://127.0.0.1:{webhook_receiver.port}/hooks")
    reminder_runs = []

    def remind_at(moment):
        reminder_runs.append((moment, services.reminders.send_due_reminders(clock.set(moment))))

    first_version_view = {}

    def look_at_first_version():
        response = client.get(f"/api/v1/returns/{DATASET}?period={QUARTER}", headers=auth(RESUBMITTER, "publisher"))
        first_version_view.update(response.json())

    build_quarter(services, client, auth, clock, remind_at, after_first_version=look_at_first_version)
    return {"secrets": secrets, "runs": reminder_runs, "first_version_view": first_version_view}


def test_the_quarter_grid_flags_and_reminders_are_exactly_right(quarter, client, auth, key_for, smtp_server,
                                                                 webhook_receiver):
    # -- the API: one period, as seen by the requesting agency -----------------------------------
    response = client.get(f"/api/v1/returns/{DATASET}?period={QUARTER}", headers=auth("scottish-government", "subscriber"))
    assert response.status_code == 200, response.text
    status = response.json()
    assert status["due_date"] == "2026-04-30"
    assert status["deadline"] == "2026-04-30T23:00:00.000000Z"  # midnight BST
    rows = {row["org"]: row for row in status["publishers"]}
    assert sorted(rows) == COUNCILS and len(rows) == 32

    expected_status = {org: "submitted" for org in COUNCILS}
    expected_status.update({org: "late" for org in LATE}, **{MISSING: "missing"})
    assert {org: row["status"] for org, row in rows.items()} == expected_status
    assert status["totals"] == {"expected": 32, "submitted": 27, "late": 4, "missing": 1, "awaited": 0,
                                "received": 31, "resubmitted": 1, "flagged": 1}
    assert [org for org, row in rows.items() if row["resubmitted"]] == [RESUBMITTER]

    dundee = rows[RESUBMITTER]
    assert (dundee["submitted_at"], dundee["last_submitted_at"]) == ("2026-04-10T09:00:00.000000Z",
                                                                     "2026-05-02T10:00:00.000000Z")
    assert dundee["versions"] == 2 and dundee["record_count"] == 1
    credential_id = key_for(RESUBMITTER, "publisher").split("_")[1]
    assert dundee["submitted_by"] == f"key:{credential_id}"
    assert rows["angus"]["submitted_at"] == "2026-05-05T10:00:00.000000Z"
    assert rows[MISSING]["submitted_at"] is None and rows[MISSING]["record_count"] == 0

    # -- the flags: only the outlier, on meals taken per 1,000 population -----------------------
    flagged = {org: row["flags"] for org, row in rows.items() if row["flags"]}
    assert list(flagged) == [OUTLIER]
    [flag] = flagged[OUTLIER]
    assert (flag["check"], flag["field"]) == ("outlier_peers", "total_free_meals_taken")
    assert flag["mads"] > 3
    assert "median absolute deviations" in flag["message"] and "per 1,000 population" in flag["message"]

    # The resubmitter's first version did not add up; it saw that flag itself, and the correction cleared it.
    first = quarter["first_version_view"]
    assert [r["org"] for r in first["publishers"]] == [RESUBMITTER]
    [sum_flag] = first["publishers"][0]["flags"]
    assert sum_flag["check"] == "sum" and "add up to" in sum_flag["message"] and "difference 500" in sum_flag["message"]
    assert dundee["flags"] == []

    # -- the grid across periods ------------------------------------------------------------------
    grid = client.get(f"/api/v1/returns/{DATASET}/grid?from=2025-Q4&to={QUARTER}",
                      headers=auth("scottish-government", "subscriber")).json()
    assert [p["period"] for p in grid["periods"]] == ["2025-Q4", QUARTER]
    assert grid["periods"][0]["totals"]["missing"] == 32
    assert grid["periods"][1]["totals"] == status["totals"]
    assert {p["org"]: p["cells"][QUARTER]["status"] for p in grid["publishers"]} == expected_status

    # -- the reminders, by e-mail ------------------------------------------------------------------
    mails = smtp_server.received()
    due = "30 April 2026"
    expected_mails = sorted(
        [(f"returns@{org}.example.org", f"Reminder: School meals data return for {QUARTER} is due on {due}")
         for org in REMINDED] * 2
        + [(f"returns@{org}.example.org", f"Overdue: School meals data return for {QUARTER} was due on {due}")
           for org in REMINDED]
        + [(f"returns@{MISSING}.example.org", f"Overdue: School meals data return for {QUARTER} was due on {due}")])
    assert sorted((m["to"], m["subject"]) for m in mails) == expected_mails
    assert all(m["from"] == "returns@causeway.example" for m in mails)
    assert "The total must equal primary plus secondary" in mails[0]["body"]  # the guidance travels with it
    runs = dict(quarter["runs"])
    assert runs["2026-04-23T12:00:00Z"] == []  # a reminder is sent once

    # -- the reminders, by signed webhook -----------------------------------------------------------
    hooks = webhook_receiver.received()
    got = sorted((h["path"].rsplit("/", 1)[1], json.loads(h["body"])["data"]["offset_days"]) for h in hooks)
    reminded_by_webhook = [o for o in REMINDED if o in WEBHOOK_ORGS]
    assert got == sorted([(o, d) for o in reminded_by_webhook for d in (-7, -1, 1)] + [(MISSING, 7)])
    for hook in hooks:
        org = hook["path"].rsplit("/", 1)[1]
        assert verify_signature(quarter["secrets"][org], hook["headers"], hook["body"])
        event = json.loads(hook["body"])
        assert event["type"] == "return.reminder"
        assert event["data"]["dataset"] == DATASET and event["data"]["period"] == QUARTER
        assert event["data"]["org"] == org and event["data"]["due_date"] == "2026-04-30"


def test_a_publisher_sees_only_its_own_row_and_others_see_nothing(quarter, client, auth):
    own = client.get(f"/api/v1/returns/{DATASET}?period={QUARTER}", headers=auth(OUTLIER, "publisher")).json()
    assert [r["org"] for r in own["publishers"]] == [OUTLIER]
    assert own["publishers"][0]["flags"][0]["check"] == "outlier_peers"  # flags are visible to the publisher
    assert own["totals"]["expected"] == 1

    refused = client.get(f"/api/v1/returns/{DATASET}?period={QUARTER}", headers=auth("sds", "publisher"))
    assert refused.status_code == 404  # as for a return that does not exist
    assert refused.headers["content-type"] == "application/problem+json"

    other = client.get(f"/api/v1/returns/{DATASET}/{QUARTER}/glasgow", headers=auth(OUTLIER, "publisher"))
    assert other.status_code == 404

    requester = client.get(f"/api/v1/returns/{DATASET}?period={QUARTER}",
                           headers=auth("scottish-government", "ops")).json()
    assert len(requester["publishers"]) == 32
    assert client.get(f"/api/v1/returns/{DATASET}?period={QUARTER}",
                      headers=auth("improvement-service", "ops")).status_code == 404


def test_the_period_exports_as_csv(quarter, client, auth):
    response = client.get(f"/api/v1/returns/{DATASET}?period={QUARTER}&format=csv",
                          headers=auth("scottish-government", "subscriber"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert f'filename="{DATASET}-{QUARTER}.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 32
    by_org = {r["org"]: r for r in rows}
    assert by_org[MISSING]["status"] == "missing"
    assert by_org[RESUBMITTER]["resubmitted"] == "yes"
    assert by_org[OUTLIER]["flag_count"] == "1" and "median absolute deviations" in by_org[OUTLIER]["flags"]

    by_accept = client.get(f"/api/v1/returns/{DATASET}/grid?from={QUARTER}&to={QUARTER}",
                           headers={**auth("scottish-government", "subscriber"), "Accept": "text/csv"})
    assert by_accept.headers["content-type"].startswith("text/csv")
    assert len(list(csv.DictReader(io.StringIO(by_accept.text)))) == 32


def test_the_submission_drill_down_has_its_records_and_flags(quarter, client, auth):
    found = client.get(f"/api/v1/returns/{DATASET}/{QUARTER}/{OUTLIER}",
                       headers=auth("scottish-government", "subscriber")).json()
    assert found["status"] == "submitted" and found["record_count"] == 1
    assert found["records"][0]["key"] == f"{OUTLIER}-{QUARTER}"
    assert found["flags"][0]["field"] == "total_free_meals_taken"
