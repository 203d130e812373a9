"""Subscriptions, agents and the overview's health sections, in-process (SQLite and PostgreSQL):
who sees which subscription (each org its own; the hub operator every org's, as metadata),
who may retry and replay (on the server), what each status looks like, escaping, and
agents going from up to stale."""
from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from causeway_common.signing import generate_key, public_key_b64
from hub import db
from hub.audit.models import audit_log
from hub.auth import Principal
from hub.config import Settings
from hub.delivery.models import dead_letters, subscriptions
from support.console import add_staff, csrf_from, sign_in
from support.factories import gazetteer_record

OPERATOR = "improvement-service"


@pytest.fixture
def settings(db_url):
    return Settings(db_url=db_url, hub_operator=OPERATOR)


@pytest.fixture
def staff(services):
    add_staff(services, "gina", "edinburgh", "governance")
    add_staff(services, "sian", "sds", "governance")
    add_staff(services, "omar", "glasgow", "ops")
    add_staff(services, "sam", "sds", "ops")
    add_staff(services, "ada", "fife", "admin")
    services.orgs.add_org(OPERATOR, "Improvement Service", "agency", actor="test")
    add_staff(services, "ivy", OPERATOR, "ops")


def _subscribe(services, org: str, dataset: str = "gazetteer-address", purpose: str = "ServiceProvision") -> str:
    principal = Principal(org=org, role="subscriber", credential_id="test")
    return services.delivery.subscribe({"dataset": dataset, "purpose": purpose, "channel": "pull",
                                        "start": "beginning"}, principal)["id"]


def _dead_letter(services, sub_id: str, seq: int, record_id: str, error: str = "refused by the receiver") -> int:
    now = db.utcnow()
    with db.write_transaction(services.engine) as conn:
        return conn.execute(dead_letters.insert().values(
            subscription_id=sub_id, seq=seq, record_id=record_id, webhook_id=f"msg_{seq}", state="dead",
            status_code=400, error=error, attempts=1, created_at=now, updated_at=now)).inserted_primary_key[0]


@pytest.fixture
def deliveries(client, services, staff, auth):
    """An sds subscription with one dead letter, and a failing glasgow one."""
    published = client.post("/api/v1/records", json={"records": [gazetteer_record(7001), gazetteer_record(7002)]},
                            headers=auth("edinburgh", "publisher")).json()
    first = published["results"][0]
    sds = _subscribe(services, "sds")
    letter = _dead_letter(services, sds, first["seq"], first["id"], error="<b>bad</b> postcode <script>x()</script>")
    glasgow = _subscribe(services, "glasgow", purpose="PublicSafety")
    with db.write_transaction(services.engine) as conn:
        conn.execute(subscriptions.update().where(subscriptions.c.id == glasgow).values(
            status="active", attempts=3, last_error="HTTP 503 from the receiver", last_error_at=db.utcnow(),
            next_attempt_at=db.utcnow() + timedelta(minutes=30)))
    return {"sds": sds, "glasgow": glasgow, "letter": letter, "record": first}


def _letter_state(services, letter_id: int) -> str:
    with services.engine.connect() as conn:
        return conn.execute(select(dead_letters.c.state).where(dead_letters.c.id == letter_id)).scalar_one()


def assert_every_action_refused(client, services, deliveries, token: str, status: int) -> None:
    """Retrying sds's dead letters (one, all) and replaying it are refused with `status`; nothing moves."""
    sub = deliveries["sds"]
    for path in (f"/console/subscriptions/{sub}/dead-letters/{deliveries['letter']}/retry",
                 f"/console/subscriptions/{sub}/dead-letters/retry"):
        assert client.post(path, data={"csrf_token": token}).status_code == status, path
    assert client.post(f"/console/subscriptions/{sub}/replay",
                       data={"csrf_token": token, "from": "seq", "from_seq": "1"}).status_code == status
    assert _letter_state(services, deliveries["letter"]) == "dead"


def test_governance_sees_only_its_own_orgs_subscriptions_and_cannot_retry(client, services, deliveries):
    sign_in(client, "sian")
    listing = client.get("/console/subscriptions")
    assert listing.status_code == 200
    assert deliveries["sds"] in listing.text and deliveries["glasgow"] not in listing.text
    detail = client.get(f"/console/subscriptions/{deliveries['sds']}")
    assert detail.status_code == 200
    assert deliveries["record"]["id"] in detail.text  # the dead letter is shown
    assert ">Retry<" not in detail.text and "Replay from" not in detail.text
    assert_every_action_refused(client, services, deliveries, csrf_from(detail.text), 403)
    # another org's subscription is not there at all
    assert client.get(f"/console/subscriptions/{deliveries['glasgow']}").status_code == 404


def test_ops_sees_its_own_orgs_subscriptions_only(client, services, deliveries):
    sign_in(client, "omar")
    listing = client.get("/console/subscriptions").text
    assert deliveries["glasgow"] in listing and deliveries["sds"] not in listing
    assert 'class="badge bad">failing<' in listing
    assert "HTTP 503 from the receiver" in listing
    assert client.get(f"/console/subscriptions/{deliveries['sds']}").status_code == 404
    token = csrf_from(client.get(f"/console/subscriptions/{deliveries['glasgow']}").text)
    assert_every_action_refused(client, services, deliveries, token, 404)


def test_the_hub_operator_sees_every_org_as_metadata_and_acts_on_none(client, services, deliveries):
    sign_in(client, "ivy")
    listing = client.get("/console/subscriptions").text
    assert deliveries["sds"] in listing and deliveries["glasgow"] in listing
    assert 'class="badge bad">failing<' in listing
    assert "HTTP 503 from the receiver" not in listing  # error text stays with its org
    detail = client.get(f"/console/subscriptions/{deliveries['sds']}")
    assert detail.status_code == 200 and 'id="metadata-only"' in detail.text
    assert deliveries["record"]["id"] not in detail.text and "postcode" not in detail.text
    assert ">Retry<" not in detail.text and "Replay from" not in detail.text
    assert_every_action_refused(client, services, deliveries, csrf_from(detail.text), 403)
    assert 'id="subscriptions-troubled">2<' in client.get("/console/").text


def test_ops_retries_its_own_orgs_dead_letter(client, services, deliveries):
    sign_in(client, "sam")
    detail = client.get(f"/console/subscriptions/{deliveries['sds']}")
    token = csrf_from(detail.text)
    path = f"/console/subscriptions/{deliveries['sds']}/dead-letters/{deliveries['letter']}/retry"
    assert client.post(path, data={}).status_code == 403  # no CSRF token: nothing done
    assert _letter_state(services, deliveries["letter"]) == "dead"
    done = client.post(path, data={"csrf_token": token}, follow_redirects=True)
    assert done.status_code == 200 and "queued to be sent again" in done.text
    assert _letter_state(services, deliveries["letter"]) == "retrying"
    with services.engine.connect() as conn:
        entry = conn.execute(select(audit_log).where(audit_log.c.action == "subscription.retry-dead-letters")).first()
    assert entry.actor == "sds/ops/key:console:sam" and entry.target == deliveries["sds"]


def test_replay_from_a_time_moves_the_position_back(client, services, deliveries):
    sign_in(client, "omar")
    sub = deliveries["glasgow"]
    with db.write_transaction(services.engine) as conn:
        conn.execute(subscriptions.update().where(subscriptions.c.id == sub).values(cursor=2))
    token = csrf_from(client.get(f"/console/subscriptions/{sub}").text)
    bad = client.post(f"/console/subscriptions/{sub}/replay",
                      data={"csrf_token": token, "from": "time", "from_time": "yesterday"})
    assert bad.status_code == 400 and "is not a date and time" in bad.text
    since = (db.utcnow().astimezone(ZoneInfo("Europe/London")) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")  # UK time
    done = client.post(f"/console/subscriptions/{sub}/replay",
                       data={"csrf_token": token, "from": "time", "from_time": since}, follow_redirects=True)
    assert "Delivery starts again from" in done.text
    assert services.delivery.get(sub, Principal("glasgow", "subscriber", "t"))["cursor"] == 0


def test_dead_letter_reasons_and_errors_are_escaped(client, deliveries):
    sign_in(client, "ada")
    html = client.get(f"/console/subscriptions/{deliveries['sds']}").text
    assert "&lt;script&gt;x()&lt;/script&gt;" in html and "<script>x()" not in html
    assert "7001" in html  # the record's key


def test_the_overview_counts_subscriptions_needing_attention(client, deliveries):
    sign_in(client, "ada")
    html = client.get("/console/").text
    assert 'id="subscriptions-troubled">2<' in html  # the failing one, and the one with a dead letter
    assert "failing" in html and "1 dead letter" in html
    client.cookies.clear()
    sign_in(client, "omar")  # glasgow's own: the failing one
    assert 'id="subscriptions-troubled">1<' in client.get("/console/").text
    client.cookies.clear()
    sign_in(client, "gina")  # edinburgh holds no subscriptions
    assert 'id="subscriptions-troubled">0<' in client.get("/console/").text


def _enrol(services, org="edinburgh", name="caselink-agent"):
    token, _ = services.orgs.create_enrolment(org, 3600, actor="test")
    answer = services.orgs.enrol_agent(token, public_key_b64(generate_key()), name, "0.3.1")
    return answer["agent_id"], {"Authorization": f"Bearer {answer['api_key']}"}


def _beat(client, agent_id, headers, published=5, rejected=1, error=None):
    body = {"version": "0.3.1", "host": "srv-caselink", "uptime_seconds": 60, "interval_seconds": 30,
            "outbox_depth": 2, "rejects": rejected,
            "tasks": [{"name": "planning-applications", "direction": "publish", "status": "error" if error else "ok",
                       "rows_read": published + rejected, "published": published, "rejected": rejected,
                       "outbox_depth": 2, "last_error": error}]}
    response = client.post(f"/api/v1/agents/{agent_id}/heartbeats", json=body, headers=headers)
    assert response.status_code == 202, response.text


def test_agents_show_up_then_stale_with_their_tasks_and_history(client, services, staff):
    agent_id, headers = _enrol(services)
    other_id, _ = _enrol(services, org="glasgow", name="glasgow-agent")
    _beat(client, agent_id, headers, published=5)
    _beat(client, agent_id, headers, published=9, error="<i>table</i> locked")
    sign_in(client, "gina")
    listing = client.get("/console/agents").text
    assert agent_id in listing and other_id not in listing
    assert 'id="agents-up">1<' in listing and 'class="badge good">up<' in listing
    detail = client.get(f"/console/agents/{agent_id}").text
    assert "planning-applications" in detail and "&lt;i&gt;table&lt;/i&gt; locked" in detail
    assert "<polyline" in detail  # the history chart
    assert "<td>4</td>" in detail  # 4 published between the two heartbeats, in the chart's table
    assert 'id="agents-up">1<' in client.get("/console/").text

    later = db.utcnow() + timedelta(seconds=95)
    services.health.clock = lambda: later
    assert 'id="agent-status">stale<' in client.get(f"/console/agents/{agent_id}").text
    overview = client.get("/console/").text
    assert 'id="agents-stale">1<' in overview and "caselink-agent" in overview
    assert client.get(f"/console/agents/{other_id}").status_code == 404

    client.cookies.clear()
    sign_in(client, "ivy")  # the hub operator: every org's agents, without their error text
    listing = client.get("/console/agents").text
    assert agent_id in listing and other_id in listing
    detail = client.get(f"/console/agents/{agent_id}").text
    assert "planning-applications" in detail and "locked" not in detail


def test_every_new_page_sends_the_strict_content_security_policy(client, deliveries):
    sign_in(client, "ada")
    for path in ("/console/subscriptions", f"/console/subscriptions/{deliveries['sds']}", "/console/agents"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert "<script>" not in response.text


def test_the_hub_operator_sees_every_orgs_reject_counts_but_not_their_error_messages(client, services, staff, auth):
    bad = gazetteer_record(9101)
    bad["payload"]["postcode"] = "not a postcode"
    answer = client.post("/api/v1/records", json={"records": [bad]}, headers=auth("edinburgh", "publisher"))
    assert answer.json()["rejected"] == 1
    sign_in(client, "gina")  # edinburgh's own: counts, fields and the rules broken, with the record's key
    own = client.get("/console/quality").text
    assert "/payload/postcode" in own and "Postcode is not written the way the dataset expects" in own
    assert "UPRN 9101" in own
    client.cookies.clear()
    sign_in(client, "ivy")
    operator = client.get("/console/quality").text
    assert "/payload/postcode" in operator and "edinburgh" in operator
    assert "not a postcode" not in operator and "UPRN 9101" not in operator and "Postcode is not written" not in operator
    client.cookies.clear()
    sign_in(client, "omar")  # another org's ops: nothing of edinburgh's
    other = client.get("/console/quality").text
    assert "/payload/postcode" not in other and "not a postcode" not in other


def test_the_hub_operator_sees_every_councils_coverage_and_a_council_its_own_row(client, services, staff, auth):
    client.post("/api/v1/records", json={"records": [gazetteer_record(9201)]}, headers=auth("edinburgh", "publisher"))
    sign_in(client, "ivy")  # the hub operator's ops
    page = client.get("/console/coverage").text
    assert {'data-org="edinburgh"', 'data-org="glasgow"', 'data-org="fife"'} <= set(re.findall(r'data-org="[a-z-]+"', page))
    assert "gazetteer-address: 1 of 3 live" in page
    client.cookies.clear()
    sign_in(client, "omar")  # glasgow ops: glasgow's row only
    page = client.get("/console/coverage").text
    assert re.findall(r'data-org="[a-z-]+"', page) == ['data-org="glasgow"']
    csv_text = client.get("/console/coverage.csv").text
    assert csv_text.count("\r\n") == 1 + 3  # header and glasgow's three datasets with a cadence
    assert "edinburgh" not in csv_text


def test_dead_letters_are_grouped_by_reason_and_paged_and_replies_stay_with_their_org(client, services, staff, auth):
    from hub.delivery.models import delivery_attempts

    published = client.post("/api/v1/records", json={"records": [gazetteer_record(7300 + i) for i in range(30)]},
                            headers=auth("edinburgh", "publisher")).json()["results"]
    sub = _subscribe(services, "sds")
    for i, record in enumerate(published):
        _dead_letter(services, sub, record["seq"], record["id"],
                     error="the endpoint refused the event with 400" if i < 27 else "postcode unknown")
    with db.write_transaction(services.engine) as conn:
        conn.execute(delivery_attempts.insert().values(
            subscription_id=sub, at=db.utcnow(), outcome="refused", status_code=400, latency_ms=41, events=1,
            error="the endpoint refused the event with 400", reply_headers='{"x-request-id": "req-77"}',
            reply_excerpt="the receiver's own words"))
    sign_in(client, "sam")  # sds ops
    first = client.get(f"/console/subscriptions/{sub}").text
    reasons = re.findall(r'<th scope="row"><a href="[^"]*reason=([^"]+)">', first)
    assert len(reasons) == 2  # one row per reason, the commonest first
    assert "27</td>" in first and "3</td>" in first
    assert first.count('aria-label="Retry event') == 25  # a page of 25
    assert "req-77" in first and "the receiver&#39;s own words" in first and "41 ms" in first
    following = re.search(r'href="([^"]+)" rel="next">Next dead letters', first).group(1).replace("&amp;", "&")
    assert client.get(following).text.count('aria-label="Retry event') == 5
    one_reason = client.get(f"/console/subscriptions/{sub}?reason=" + reasons[1].replace("&amp;", "&")).text
    assert one_reason.count('aria-label="Retry event') == 3 and "Show every reason" in one_reason

    client.post("/console/sign-out", data={"csrf_token": csrf_from(one_reason)})
    sign_in(client, "ivy")  # the hub operator's ops: health metadata only
    seen = client.get(f"/console/subscriptions/{sub}").text
    assert "41 ms" in seen and "refused" in seen
    assert "req-77" not in seen and "own words" not in seen and "Retry event" not in seen
