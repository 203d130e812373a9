"""Must show: an alert episode opened and resolved with exactly one e-mail (a real SMTP server
process) and one signed webhook (a real receiver process) each way, to the org concerned and
the hub operator; nothing per check in between; a silenced alert sends nothing."""
from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from standardwebhooks.webhooks import Webhook

from hub import db
from hub.alerts.models import alert_notifications
from hub.app import build_services
from hub.audit.models import audit_log
from hub.auth import Principal
from hub.delivery.models import subscriptions
from support.cloudevents_check import check_http

from .conftest import OPERATOR, only, ops

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


@pytest.fixture
def contacts(services, webhook_sink):
    """edinburgh's ops take alerts by e-mail and webhook; the hub operator by e-mail."""
    answer = services.alerts.set_contact(ops("edinburgh"), "edinburgh", "ops@edinburgh.example",
                                         f"http://127.0.0.1:{webhook_sink.port}/alerts/edinburgh")
    services.alerts.set_contact(ops(OPERATOR), OPERATOR, "noc@improvement-service.example", None)
    return answer["webhook_secret"]


def mails_to(smtp_server, address: str) -> list[dict]:
    return [m for m in smtp_server.received() if m["to"] == address]


def checked_events(webhook_sink, secret: str) -> list[dict]:
    """Every webhook received, its signature verified with the official Standard Webhooks library
    and its event read by the official CloudEvents SDK."""
    found = []
    for hit in webhook_sink.received():
        Webhook(secret).verify(hit["body"], hit["headers"])  # raises when the signature is wrong
        (event,) = check_http(hit["headers"], hit["body"].encode("utf-8"))
        found.append({"type": event.get_type(), "id": event.get_id(), "data": json.loads(hit["body"])["data"],
                      "webhook_id": hit["headers"]["webhook-id"]})
    return found


def test_an_episode_is_announced_once_when_it_opens_and_once_when_it_resolves(services, agents, clock, contacts,
                                                                               smtp_server, webhook_sink):
    agent = agents.enrol("edinburgh", "gazetteer-uniform")
    agents.beat("edinburgh", agent)
    assert services.alerts.run()["opened"] == 0  # reporting: nothing wrong

    clock.advance(minutes=5)  # three missed heartbeats and more: stale
    assert services.alerts.run() == {"opened": 1, "resolved": 0, "pending": 0, "sent": 3, "failed": 0}
    for _ in range(3):  # still stale at every later check: no further message
        clock.advance(minutes=1)
        assert services.alerts.run()["sent"] == 0

    (opened_mail,) = mails_to(smtp_server, "ops@edinburgh.example")
    assert opened_mail["subject"].startswith("[Causeway] Alert: Agent gazetteer-uniform of edinburgh has stopped")
    (alert,) = services.alerts.list_alerts(ops("edinburgh"))
    assert f"https://hub.causeway.example/console/alerts/{alert['id']}" in opened_mail["body"]
    assert len(mails_to(smtp_server, "noc@improvement-service.example")) == 1
    (opened_event,) = checked_events(webhook_sink, contacts)
    assert opened_event["type"] == "uk.causeway.alert.opened"
    assert opened_event["data"]["rule"] == "agent-stale" and opened_event["data"]["orgs"] == ["edinburgh"]

    agents.beat("edinburgh", agent)  # it reports again
    clock.advance(seconds=10)
    assert services.alerts.run() == {"opened": 0, "resolved": 1, "pending": 0, "sent": 3, "failed": 0}
    clock.advance(minutes=1)
    assert services.alerts.run()["sent"] == 0

    first, resolved_mail = mails_to(smtp_server, "ops@edinburgh.example")
    assert resolved_mail["subject"].startswith("[Causeway] Resolved: Agent gazetteer-uniform")
    assert len(mails_to(smtp_server, "noc@improvement-service.example")) == 2
    opened_again, resolved_event = checked_events(webhook_sink, contacts)
    assert resolved_event["type"] == "uk.causeway.alert.resolved"
    assert resolved_event["data"]["resolved_at"] is not None
    assert len({opened_again["webhook_id"], resolved_event["webhook_id"]}) == 2

    shown = services.alerts.get_alert(ops("edinburgh"), alert["id"])
    assert shown["state"] == "resolved"
    assert [h["event"] for h in shown["history"]] == ["opened", "resolved"]
    assert sorted((n["org"], n["channel"], n["phase"], n["status"]) for n in shown["notifications"]) == [
        ("edinburgh", "email", "opened", "sent"), ("edinburgh", "email", "resolved", "sent"),
        ("edinburgh", "webhook", "opened", "sent"), ("edinburgh", "webhook", "resolved", "sent")]


def test_a_silenced_alert_sends_nothing_neither_its_end_nor_a_new_start(services, agents, clock, contacts,
                                                                         smtp_server, webhook_sink):
    agent = agents.enrol("edinburgh", "planning-idox")
    agents.beat("edinburgh", agent)
    clock.advance(minutes=5)
    services.alerts.run()
    (alert,) = services.alerts.list_alerts(ops("edinburgh"))
    smtp_server.clear()
    webhook_sink.clear()

    silenced = services.alerts.silence(ops("edinburgh"), alert["id"], 24 * 60, "server moved to the new data centre")
    assert silenced["silence_reason"] == "server moved to the new data centre"
    assert silenced["history"][-1]["event"] == "silenced"

    agents.beat("edinburgh", agent)
    clock.advance(seconds=10)
    assert services.alerts.run()["resolved"] == 1  # it ends, and nobody is told
    clock.advance(minutes=5)
    assert services.alerts.run()["opened"] == 1  # stale again within the silence: a new episode, untold
    assert smtp_server.received() == [] and webhook_sink.received() == []
    with services.engine.connect() as conn:
        statuses = {row.status for row in conn.execute(alert_notifications.select())
                    if row.subject != f"episode:{alert['id']}:opened"}
    assert statuses == {"silenced"}
    with services.engine.connect() as conn:
        (entry,) = conn.execute(audit_log.select().where(audit_log.c.action == "alerts.silence")).all()
    assert json.loads(entry.detail)["reason"] == "server moved to the new data centre"


def test_a_condition_with_a_hold_opens_only_once_it_has_lasted(services, clock, contacts, smtp_server):
    services.settings.alerts = only("subscription-failing")
    subscriber = Principal(org="edinburgh", role="subscriber", credential_id="test")
    sub = services.delivery.subscribe({"dataset": "gazetteer-address", "purpose": "PublicSafety", "channel": "pull",
                                       "start": "beginning"}, subscriber)["id"]

    def failed_attempts(n):
        with db.write_transaction(services.engine) as conn:
            conn.execute(subscriptions.update().where(subscriptions.c.id == sub).values(attempts=n))

    failed_attempts(2)
    assert services.alerts.run()["pending"] == 1
    clock.advance(minutes=10)
    failed_attempts(0)  # it recovered within the hold: never an alert, nobody told
    assert services.alerts.run() == {"opened": 0, "resolved": 0, "pending": 0, "sent": 0, "failed": 0}
    failed_attempts(3)
    services.alerts.run()
    clock.advance(minutes=29)
    assert services.alerts.run()["opened"] == 0
    clock.advance(minutes=2)
    assert services.alerts.run()["opened"] == 1
    (alert,) = services.alerts.list_alerts(ops("edinburgh"), "open")
    assert alert["rule"] == "subscription-failing" and alert["key"] == sub
    assert "failing for over 30 minutes" in mails_to(smtp_server, "ops@edinburgh.example")[0]["subject"]


def test_a_failed_webhook_is_tried_again_three_times_in_all_and_the_email_still_goes_once(
        services, agents, clock, smtp_server, webhook_sink):
    services.alerts.set_contact(ops("edinburgh"), "edinburgh", "ops@edinburgh.example",
                                f"http://127.0.0.1:{webhook_sink.port}/alerts/edinburgh/fail")  # answers 500
    agent = agents.enrol("edinburgh", "caselink")
    agents.beat("edinburgh", agent)
    clock.advance(minutes=5)
    assert services.alerts.run() == {"opened": 1, "resolved": 0, "pending": 0, "sent": 1, "failed": 1}
    for _ in range(4):
        clock.advance(minutes=1)
        services.alerts.run()
    assert len(webhook_sink.received()) == 3
    assert len(mails_to(smtp_server, "ops@edinburgh.example")) == 1
    (alert,) = services.alerts.list_alerts(ops("edinburgh"))
    (hook,) = [n for n in services.alerts.get_alert(ops("edinburgh"), alert["id"])["notifications"]
               if n["channel"] == "webhook"]
    assert hook["status"] == "failed" and hook["attempts"] == 3


def test_two_hub_processes_running_the_job_at_once_open_one_episode_and_send_each_message_once(
        services, settings, agents, clock, contacts, smtp_server, webhook_sink):
    """Two sets of services on one database (as two `serve` processes have), evaluating and sending
    at the same moment from several threads."""
    other = build_services(settings, clock=clock)
    try:
        agent = agents.enrol("edinburgh", "gazetteer-uniform")
        agents.beat("edinburgh", agent)
        clock.advance(minutes=5)
        barrier = threading.Barrier(4)

        def run(hub):
            barrier.wait()
            return hub.alerts.run()

        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(run, [services, other, services, other]))
        assert sum(r["opened"] for r in results) == 1
        assert sum(r["sent"] for r in results) == 3
        assert len(services.alerts.list_alerts(ops("edinburgh"))) == 1
        assert len(mails_to(smtp_server, "ops@edinburgh.example")) == 1
        assert len(mails_to(smtp_server, "noc@improvement-service.example")) == 1
        assert len(webhook_sink.received()) == 1
    finally:
        other.engine.dispose()
