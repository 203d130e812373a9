"""The quarter the issue asks for: 32 councils, some on time, some late, one
resubmitting, one missing, one with an outlier; published through the API as
each council, with the hub clock placing every batch in time."""
from __future__ import annotations

import uuid

import yaml

from hub.returns.reference import load_population_csv, populations_for_year, set_contact
from support import ROOT

ORGS = yaml.safe_load((ROOT / "policies" / "orgs.yaml").read_text(encoding="utf-8"))
COUNCILS = sorted(o["slug"] for o in ORGS if o["kind"] == "council")

DATASET = "data-return.school-meals"
QUARTER = "2026-Q1"  # due 30 April 2026: late from 2026-04-30T23:00Z (midnight BST)
LATE = ["angus", "fife", "moray", "stirling"]
MISSING = "shetland"
RESUBMITTER = "dundee"
OUTLIER = "highland"
ON_TIME = [c for c in COUNCILS if c not in LATE + [MISSING, RESUBMITTER]]  # includes the outlier
WEBHOOK_ORGS = ["angus", "moray", "shetland", "edinburgh", "glasgow"]

FIRST_VERSION_AT = "2026-04-10T09:00:00Z"
ON_TIME_AT = "2026-04-20T10:00:00Z"
CORRECTION_AT = "2026-05-02T10:00:00Z"
LATE_AT = "2026-05-05T10:00:00Z"


def load_orgs(services) -> None:
    for org in ORGS:
        services.orgs.ensure_org(org["slug"], org["name"], org["kind"], actor="test")


def load_population(services) -> None:
    text = (ROOT / "policies" / "population.csv").read_text(encoding="utf-8")
    result = load_population_csv(services.engine, text, default_year=2023, actor="test")
    assert result.errors == [] and result.loaded == 32


def set_contacts(services, webhook_url: str) -> dict[str, str]:
    """E-mail for every council, a webhook for some; returns the webhook secrets."""
    secrets = {}
    for org in COUNCILS:
        secret = set_contact(services.engine, org, f"returns@{org}.example.org",
                             webhook_url + f"/{org}" if org in WEBHOOK_ORGS else None,
                             allowed_networks=("127.0.0.1/32",), actor="test")
        if secret:
            secrets[org] = secret
    return secrets


def school_meals(org: str, population: int, scale: float = 1.0, sum_error: int = 0) -> dict:
    jitter = ((COUNCILS.index(org) * 7) % 13 - 6) / 200  # -3% .. +3%, so no honest council stands out
    registered = round(population * 0.05 * (1 + jitter))
    primary, secondary = round(registered * 44 * scale), round(registered * 11 * scale)
    return {"return_id": f"{org}-{QUARTER}", "council": org, "period": QUARTER,
            "pupils_on_roll": round(population * 0.12), "free_meals_registered": registered,
            "free_meals_taken_primary": primary, "free_meals_taken_secondary": secondary,
            "total_free_meals_taken": primary + secondary + sum_error,
            "submitted_by": f"school.meals@{org}.example.org"}


def record(payload: dict) -> dict:
    return {"id": str(uuid.uuid4()), "dataset": DATASET, "schema_version": 1, "op": "upsert",
            "occurred_at": "2026-03-31T17:00:00Z", "payload": payload}


def publish(client, auth, org: str, payload: dict) -> None:
    response = client.post("/api/v1/records", json={"records": [record(payload)]}, headers=auth(org, "publisher"))
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["status"] == "accepted", response.json()


def build_quarter(services, client, auth, clock, remind_at=lambda moment: None, after_first_version=None) -> None:
    """Publish the quarter in time order; `remind_at(moment)` runs at each reminder moment in between."""
    with services.engine.connect() as conn:
        population = populations_for_year(conn, 2026)
    clock.set(FIRST_VERSION_AT)
    publish(client, auth, RESUBMITTER, school_meals(RESUBMITTER, population[RESUBMITTER], sum_error=500))
    if after_first_version:
        after_first_version()
    clock.set(ON_TIME_AT)
    for org in ON_TIME:
        publish(client, auth, org, school_meals(org, population[org], scale=4.0 if org == OUTLIER else 1.0))
    remind_at("2026-04-23T08:30:00Z")   # 7 days before: 09:00 BST on 23 April
    remind_at("2026-04-23T12:00:00Z")   # again the same day: nothing new
    remind_at("2026-04-29T08:30:00Z")   # 1 day before
    remind_at("2026-05-01T08:30:00Z")   # 1 day after
    clock.set(CORRECTION_AT)
    publish(client, auth, RESUBMITTER, school_meals(RESUBMITTER, population[RESUBMITTER]))
    clock.set(LATE_AT)
    for org in LATE:
        publish(client, auth, org, school_meals(org, population[org]))
    remind_at("2026-05-07T08:30:00Z")   # 7 days after: only the missing council
    clock.set("2026-05-08T12:00:00Z")
