"""Reminder delivery: refusals, failures and retries, and the hub's scheduler firing the job."""
import time

import pytest

from hub.delivery.destinations import DestinationRefused, check_url
from hub.delivery.webhook import WebhookSender
from hub.jobs import start_jobs
from hub.returns.reference import ReferenceError, set_contact
from hub.returns.scheduler import send_reminders

pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hook", "https://10.1.2.3/hook", "https://[::1]/hook",
                                 "https://169.254.169.254/latest/meta-data", "https://localhost/hook",
                                 "https://[::127.0.0.1]/hook", "https://[64:ff9b::7f00:1]/hook"])
def test_reminder_webhooks_follow_the_delivery_rules_for_private_and_loopback_addresses(url):
    with pytest.raises(DestinationRefused, match="allow-list"):
        check_url(url, ())
    outcome = WebhookSender().send(url, ["whsec_" + "A" * 32], "msg_1", b"{}", "application/json")
    assert outcome.kind == "failed" and "destination refused" in outcome.error


def test_odd_webhook_urls_are_refused_with_a_reason():
    with pytest.raises(DestinationRefused, match="absolute https"):
        check_url("ftp://example.org/x", ())
    with pytest.raises(DestinationRefused, match="credentials"):
        check_url("https://user:pw@example.org/x", ())
    check_url("http://127.0.0.1:9/hook", ("127.0.0.1/32",))  # allow-listed: fine


def test_a_contact_with_a_private_webhook_is_refused(services):
    with pytest.raises(ReferenceError, match="a private address"):
        set_contact(services.engine, "fife", None, "https://192.168.1.20/hooks")
    with pytest.raises(ReferenceError, match="6to4 address for 127.0.0.1"):
        set_contact(services.engine, "fife", None, "https://[2002:7f00:1::1]/hooks")
    with pytest.raises(ReferenceError, match="not an e-mail address"):
        set_contact(services.engine, "fife", "fife-at-example", None)
    with pytest.raises(ReferenceError, match="does not exist"):
        set_contact(services.engine, "atlantis", "a@b.example", None)


def test_a_failed_webhook_is_recorded_and_retried_a_limited_number_of_times(services, clock, smtp_server,
                                                                          webhook_receiver):
    for org in ("glasgow", "fife"):  # everyone else has no contact: not reminded
        set_contact(services.engine, org, None, f"http://127.0.0.1:{webhook_receiver.port}/{org}/fail",
                    allowed_networks=("127.0.0.1/32",))
    outcomes = services.reminders.send_due_reminders(clock.set("2026-04-23T08:30:00Z"))
    assert sorted((o["org"], o["status"], o["error"]) for o in outcomes) == [
        ("fife", "failed", "WebhookFailed: the endpoint answered 500"),
        ("glasgow", "failed", "WebhookFailed: the endpoint answered 500")]
    services.reminders.send_due_reminders(clock.set("2026-04-23T09:30:00Z"))
    services.reminders.send_due_reminders(clock.set("2026-04-23T10:30:00Z"))
    assert services.reminders.send_due_reminders(clock.set("2026-04-23T11:30:00Z")) == []  # gave up after 3
    assert len(webhook_receiver.received()) == 6
    assert {(r["org"], r["status"], r["attempts"]) for r in services.reminders.sent()} == {
        ("glasgow", "failed", 3), ("fife", "failed", 3)}
    assert smtp_server.received() == []


def test_no_reminder_for_periods_long_past(services, clock, smtp_server):
    set_contact(services.engine, "fife", "returns@fife.example.org", None)
    # 2025-Q4's last reminder (7 days after 30 January) fell due weeks before this moment.
    assert services.reminders.send_due_reminders(clock.set("2026-03-20T10:00:00Z")) == []
    assert smtp_server.received() == []


def test_the_hubs_scheduler_runs_the_reminder_job(services, clock, smtp_server):
    set_contact(services.engine, "orkney", "returns@orkney.example.org", None)
    clock.set("2026-04-29T08:30:00Z")
    scheduler = start_jobs({"returns-reminders": (lambda: send_reminders(services.reminders), 0.5)})
    try:
        mails = smtp_server.wait_for(1)
        time.sleep(1.2)  # two more runs: still one reminder
    finally:
        scheduler.shutdown(wait=True)
    mails = smtp_server.received()
    assert [(m["to"], m["subject"]) for m in mails] == [
        ("returns@orkney.example.org", "Reminder: School meals data return for 2026-Q1 is due on 30 April 2026")]
