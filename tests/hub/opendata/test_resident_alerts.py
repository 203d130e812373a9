"""Residents' e-mail alerts through a real SMTP server process: double opt-in, one message
for what is new in the chosen district, an unsubscribe link in every message that deletes
the address, and limits on how often anyone can ask."""
from __future__ import annotations

import re

import pytest

from hub.app import build_services, create_app
from hub.auth import Principal
from hub.config import Settings
from support.agreements import agreement_yaml
from support.factories import gazetteer_record
from support.sinks import SinkProcess

pytestmark = pytest.mark.e2e
OPERATOR = "sfrs"
OPEN = agreement_yaml("gazetteer-open", ["edinburgh"], ["public"], purposes=["ServiceProvision"],
                      datasets={"gazetteer-address": {"fields": ["uprn", "paon", "street", "town", "postcode"]}})
LINK = re.compile(r"https?://\S+/open/alerts/(confirm|unsubscribe)/\S+")


@pytest.fixture(scope="module")
def smtp(tmp_path_factory):
    sink = SinkProcess("smtp_sink.py", tmp_path_factory.mktemp("smtp"))
    yield sink
    sink.stop()


@pytest.fixture
def services(db_url, smtp):
    from conftest import TEST_ORGS

    smtp.clear()
    built = build_services(Settings(db_url=db_url, hub_operator=OPERATOR, smtp_host="127.0.0.1", smtp_port=smtp.port,
                                    public_url="https://hub.example"))
    for slug, name, kind in TEST_ORGS:
        built.orgs.add_org(slug, name, kind, actor="test")
    registry = built.policy.agreements
    registry.apply(OPEN, Principal(org="edinburgh", role="governance", credential_id="t"), mode="create")
    for org in ("edinburgh", OPERATOR):
        registry.transition("gazetteer-open", "approved", Principal(org=org, role="governance", credential_id="t"))
    registry.transition("gazetteer-open", "active", Principal(org="edinburgh", role="governance", credential_id="t"))
    yield built
    built.engine.dispose()


@pytest.fixture
def client(services):
    with create_app(services=services).test_client() as test_client:
        yield test_client


def publish(client, auth, uprn, postcode):
    record = gazetteer_record(uprn)
    record["payload"].update(postcode=postcode, street="Leith Walk")
    assert client.post("/api/v1/records", json={"records": [record]}, headers=auth("edinburgh", "publisher")).status_code == 200


def path_of(url):
    return url.split("https://hub.example", 1)[1]


def ask(client, email="resident@example.org", district="EH6", daily=False):
    form = {"email": email, "alert_district": district, **({"daily": "yes"} if daily else {})}
    return client.post("/open/gazetteer-address/alerts", data=form)


def test_double_opt_in_one_message_for_what_is_new_and_unsubscribe_deletes(services, client, auth, smtp):
    publish(client, auth, 8001, "EH6 6QQ")
    services.open_data.project()
    answer = ask(client)
    assert answer.status_code == 200 and "Check your e-mail" in answer.text
    (confirmation,) = smtp.wait_for(1)
    assert confirmation["to"] == "resident@example.org" and "Confirm your alert" in confirmation["subject"]
    links = {m.group(1): m.group(0) for m in LINK.finditer(confirmation["body"])}
    assert services.resident_alerts.send_due() == 0  # not confirmed: nothing is sent

    confirmed = client.get(path_of(links["confirm"]))
    assert confirmed.status_code == 200 and "Alert confirmed" in confirmed.text
    assert services.resident_alerts.send_due() == 0  # what was there before confirming is not news

    publish(client, auth, 8002, "EH6 5AA")
    publish(client, auth, 8003, "EH1 1YJ")  # another district
    services.open_data.project()
    assert services.resident_alerts.send_due() == 1
    assert services.resident_alerts.send_due() == 0  # told once
    news = smtp.wait_for(2)[1]
    assert news["subject"] == "1 new: Gazetteer address in EH6"
    assert "8002" in news["body"] and "8003" not in news["body"]
    unsubscribe = next(m.group(0) for m in LINK.finditer(news["body"]) if m.group(1) == "unsubscribe")
    assert news["list_unsubscribe"] == f"<{unsubscribe}>"

    page = client.get(path_of(unsubscribe))
    assert page.status_code == 200 and "Unsubscribe" in page.text  # a link checker's GET removes nothing
    assert services.resident_alerts.subscribers() == {"gazetteer-address": 1}
    assert client.post(path_of(unsubscribe)).status_code == 200
    assert services.resident_alerts.subscribers() == {}
    publish(client, auth, 8004, "EH6 7BB")
    services.open_data.project()
    assert services.resident_alerts.send_due() == 0
    assert client.post(path_of(unsubscribe)).status_code == 404  # gone, and the address with it


def test_asking_again_for_a_confirmed_alert_sends_nothing_and_says_the_same(services, client, smtp):
    ask(client)
    (confirmation,) = smtp.wait_for(1)
    confirm = next(m.group(0) for m in LINK.finditer(confirmation["body"]) if m.group(1) == "confirm")
    client.get(path_of(confirm))
    again = ask(client)
    assert again.status_code == 200 and "Check your e-mail" in again.text
    assert len(smtp.wait_for(2, timeout=1)) == 1


def test_tampered_links_and_bad_requests_are_refused_clearly(services, client, smtp):
    ask(client)
    (confirmation,) = smtp.wait_for(1)
    confirm = next(m.group(0) for m in LINK.finditer(confirmation["body"]) if m.group(1) == "confirm")
    link = path_of(confirm)
    tampered = link[:-1] + ("1" if link.endswith("0") else "0")  # its last digit changed (one in 16 ends in 0)
    assert client.get(tampered).status_code == 404
    assert client.get("/open/alerts/confirm/nothing").status_code == 404
    unsubscribe_with_confirm_mac = path_of(confirm).replace("/confirm/", "/unsubscribe/")
    assert client.post(unsubscribe_with_confirm_mac).status_code == 404  # a link works only for its purpose
    bad_email = ask(client, email="not an address")
    assert bad_email.status_code == 400 and "e-mail address" in bad_email.text
    bad_district = ask(client, email="a@example.org", district="<b>x</b>")
    assert bad_district.status_code == 400 and "&lt;b&gt;" in bad_district.text
    assert client.post("/open/referral/alerts", data={"email": "a@example.org"}).status_code == 404


def test_each_address_and_each_client_may_ask_only_so_often(services, client, smtp):
    for district in ("EH1", "EH2", "EH3", "EH4", "EH5"):
        assert ask(client, district=district).status_code == 200
    refused = ask(client, district="EH7")
    assert refused.status_code == 429 and "try again tomorrow" in refused.text
    services.resident_alerts.per_client_per_hour = 8  # this client has asked 6 times so far
    for n in range(2):
        assert ask(client, email=f"other{n}@example.org").status_code == 200
    assert ask(client, email="third@example.org").status_code == 429
