"""Closing dates of job vacancies honoured, against a real hub process: once its closing day
is over (UK time), a vacancy is withdrawn with a delete that reaches every recipient; an open
one stays; running the job again adds nothing."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests

from hub.referrals.vacancies import withdraw_expired_vacancies
from support import ROOT
from support.agreements import activate_agreement
from support.factories import example_payload

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

NOW = datetime(2026, 3, 24, 0, 30, tzinfo=timezone.utc)  # 00:30 UK time on 24 March


def vacancy(vacancy_id: str, closing: str) -> dict:
    payload = {**example_payload("job-vacancy"), "vacancy_id": vacancy_id, "closing_date": closing}
    return {"id": str(uuid.uuid4()), "dataset": "job-vacancy", "schema_version": 1, "key": vacancy_id,
            "op": "upsert", "occurred_at": "2026-03-02T09:00:00Z", "payload": payload}


def test_a_vacancy_past_its_closing_date_is_withdrawn_for_every_recipient(services, hub, auth):
    activate_agreement(services, (ROOT / "policies" / "job-vacancies-sds.yaml").read_text(encoding="utf-8"),
                       ["sds", "edinburgh", "glasgow", "fife"])
    published = requests.post(f"{hub.url}/api/v1/records", headers=auth("sds", "publisher"), timeout=10, json={
        "records": [vacancy("sds-closed-1", "2026-03-23"), vacancy("sds-open-1", "2026-03-24")]})
    assert published.json()["accepted"] == 2, published.text

    assert withdraw_expired_vacancies(services.engine, services.records, lambda: NOW) == 1
    assert withdraw_expired_vacancies(services.engine, services.records, lambda: NOW) == 0  # nothing twice
    for org in ("edinburgh", "glasgow", "fife"):
        events = requests.get(f"{hub.url}/api/v1/feeds/job-vacancy", headers=auth(org, "subscriber"), timeout=10,
                              params={"purpose": "ServiceProvision"}).json()["events"]
        deleted = [e for e in events if e["type"].endswith("delete")]
        assert [e["subject"] for e in deleted] == ["sds-closed-1"], events  # a delete carries only the key
    # a day on, the other closes too
    assert withdraw_expired_vacancies(services.engine, services.records, lambda: NOW + timedelta(days=1)) == 1
