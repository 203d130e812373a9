"""Alerts through the HTTP API with hostile or mistaken callers: another org's ops neither see
nor silence an alert (the same 404 as for one that does not exist), the hub operator reads
every org's but silences only its own, other roles are refused, and bad silence or contact
input gets a 400 naming the field, changing nothing."""
from __future__ import annotations

import pytest

from hub import db
from hub.alerts import episodes
from hub.alerts.registry import Condition

from .conftest import OPERATOR, ops


@pytest.fixture
def alert_id(services, clock):
    with db.write_transaction(services.engine) as conn:
        episodes.apply(conn, [Condition("agent-stale", "agent-1", ("edinburgh",), "Agent uniform has stopped")],
                       {"agent-stale"}, clock(), lambda orgs: [])
    (found,) = services.alerts.list_alerts(ops("edinburgh"))
    return found["id"]


def test_another_orgs_ops_neither_see_nor_silence_the_alert(client, auth, alert_id):
    glasgow = auth("glasgow", "ops")
    assert client.get("/api/v1/alerts", headers=glasgow).json() == {"alerts": []}
    missing = client.get(f"/api/v1/alerts/{alert_id}", headers=glasgow)
    assert missing.status_code == 404
    assert client.get("/api/v1/alerts/999999", headers=glasgow).json()["detail"] == missing.json()["detail"] \
        .replace(str(alert_id), "999999")
    refused = client.post(f"/api/v1/alerts/{alert_id}/silence", headers=glasgow,
                          json={"minutes": 60, "reason": "not ours"})
    assert refused.status_code == 404
    shown = client.get(f"/api/v1/alerts/{alert_id}", headers=auth("edinburgh", "ops")).json()
    assert shown["silenced_until"] is None and [h["event"] for h in shown["history"]] == ["opened"]


def test_roles_other_than_ops_are_refused(client, auth, alert_id):
    for role in ("publisher", "subscriber", "governance"):
        headers = auth("edinburgh", role)
        assert client.get("/api/v1/alerts", headers=headers).status_code == 403
        assert client.get(f"/api/v1/alerts/{alert_id}", headers=headers).status_code == 403
        assert client.post(f"/api/v1/alerts/{alert_id}/silence", headers=headers,
                           json={"minutes": 60, "reason": "x"}).status_code == 403


def test_the_hub_operator_reads_every_orgs_alerts_but_silences_none_but_its_own(client, auth, alert_id):
    operator = auth(OPERATOR, "ops")
    (listed,) = client.get("/api/v1/alerts", headers=operator).json()["alerts"]
    assert listed["id"] == alert_id and listed["orgs"] == ["edinburgh"]
    refused = client.post(f"/api/v1/alerts/{alert_id}/silence", headers=operator, json={"minutes": 60, "reason": "x"})
    assert refused.status_code == 403
    assert "edinburgh" in refused.json()["detail"]


BAD_SILENCES = [
    ({"minutes": 0, "reason": "maintenance"}, "minutes"),
    ({"minutes": -5, "reason": "maintenance"}, "minutes"),
    ({"minutes": 200000, "reason": "maintenance"}, "minutes"),
    ({"minutes": "60", "reason": "maintenance"}, "minutes"),
    ({"minutes": 1.5, "reason": "maintenance"}, "minutes"),
    ({"minutes": 60, "reason": ""}, "reason"),
    ({"minutes": 60, "reason": "   \n "}, "reason"),
    ({"minutes": 60, "reason": "x" * 501}, "reason"),
    ({"minutes": 60, "reason": 7}, "reason"),
    ({"minutes": 60}, "reason"),
    ({"reason": "maintenance"}, "minutes"),
    ({"minutes": 60, "reason": "maintenance", "until": "forever"}, "until"),
]


def test_bad_silence_input_gets_a_400_naming_the_field_and_silences_nothing(client, auth, alert_id):
    headers = auth("edinburgh", "ops")
    for body, named in BAD_SILENCES:
        answer = client.post(f"/api/v1/alerts/{alert_id}/silence", headers=headers, json=body)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert named in answer.json()["detail"], (body, answer.text)
    assert client.get(f"/api/v1/alerts/{alert_id}", headers=headers).json()["silenced_until"] is None


def test_bad_alert_ids_get_a_400(client, auth):
    for path in ("/api/v1/alerts/0", "/api/v1/alerts/99999999999999"):
        assert client.get(path, headers=auth("edinburgh", "ops")).status_code == 400, path


BAD_CONTACTS = [
    ({"email": "not an address"}, "email"),
    ({}, "email"),
    ({"webhook_url": "http://10.0.0.5/alerts"}, "webhook_url"),
    ({"webhook_url": "https://user:pw@alerts.example/hook"}, "webhook_url"),
    ({"webhook_url": "ftp://alerts.example/"}, "webhook_url"),
    ({"webhook_url": "http://127.0.0.1:9/hook", "quality_report": True}, "quality_report"),
]


def test_bad_contact_input_gets_a_400_naming_the_field(client, auth):
    headers = auth("edinburgh", "ops")
    for body, named in BAD_CONTACTS:
        answer = client.put("/api/v1/orgs/edinburgh/alert-contact", headers=headers, json=body)
        assert answer.status_code == 400, (body, answer.text)
        assert named in answer.json()["detail"], (body, answer.text)
    assert client.get("/api/v1/orgs/edinburgh/alert-contact", headers=headers).status_code == 404  # nothing kept


def test_a_contacts_webhook_secret_is_shown_once_and_kept_while_the_url_stays(client, auth):
    headers = auth("edinburgh", "ops")
    first = client.put("/api/v1/orgs/edinburgh/alert-contact", headers=headers,
                       json={"email": "ops@edinburgh.example", "webhook_url": "http://127.0.0.1:9/hook"}).json()
    assert first["webhook_secret"].startswith("whsec_")
    again = client.put("/api/v1/orgs/edinburgh/alert-contact", headers=headers,
                       json={"email": "ops@edinburgh.example", "webhook_url": "http://127.0.0.1:9/hook",
                             "quality_report": True}).json()
    assert "webhook_secret" not in again and again["quality_report"] is True
    shown = client.get("/api/v1/orgs/edinburgh/alert-contact", headers=headers).json()
    assert "webhook_secret" not in shown
    assert client.get("/api/v1/orgs/edinburgh/alert-contact", headers=auth("glasgow", "ops")).status_code == 403
