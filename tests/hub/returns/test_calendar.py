"""The returns calendar per council and per agency, through the API and the console, and the
secret `.ics` feed, against a hand-made set of row sets at every step of sign-off with the hub
clock placed in time. One app per module (SQLite and PostgreSQL); tests run in order on it."""
from __future__ import annotations

import logging
import threading
import uuid
from datetime import date, datetime, timezone

import pytest
import requests
import uvicorn
from icalendar import Calendar
from sqlalchemy import select

from hub.app import build_services, create_app
from hub.audit.models import audit_log
from hub.auth import Principal
from hub.config import Settings
from hub.returns.models import return_calendar_feeds
from hub.returns.reference import set_contact
from support.clock import FakeClock
from support.console import add_staff, csrf_from, sign_in
from support.servers import free_port, wait_for_port
from support.waiting import wait_until

pytestmark = pytest.mark.timeout(300)

ORGS = [("edinburgh", "The City of Edinburgh Council", "council"), ("glasgow", "Glasgow City Council", "council"),
        ("fife", "Fife Council", "council"), ("dundee", "Dundee City Council", "council"),
        ("highland", "The Highland Council", "council"), ("stirling", "Stirling Council", "council"),
        ("sds", "Skills Development Scotland", "agency")]
COUNCILS = [slug for slug, _, kind in ORGS if kind == "council"]
AGENCY, NAME = "sds", "data-return.calendar-test"
ENDED, CURRENT = "2026-Q3", "2026-Q4"  # due 30 October 2026 and 30 January 2027
WINDOW = {"from": "2026-10-01", "to": "2027-02-28"}
SPEC = {"name": NAME, "title": "Calendar test return", "frequency": "quarterly", "due_days_after_period_end": 30,
        "expected_publishers": COUNCILS, "introduced": "2026-01-01", "guidance": "One row per office.",
        "fields": {"type": "object", "additionalProperties": False, "required": ["office", "count"],
                   "properties": {"office": {"type": "string"}, "count": {"type": "integer", "minimum": 0}}}}
# (period, council, steps, when): what each council did
PLAN = [(ENDED, "edinburgh", ["submit", "approve", "accept"], "2026-10-20T10:00:00Z"),   # accepted on time
        (ENDED, "glasgow", ["submit", "approve"], "2026-11-05T10:00:00Z"),              # approved late
        (ENDED, "fife", ["submit"], "2026-10-25T10:00:00Z"),                            # never approved
        (ENDED, "highland", ["submit", "approve", "send_back"], "2026-10-21T10:00:00Z"),  # sent back
        (ENDED, "stirling", [], "2026-10-22T10:00:00Z"),                                # a draft
        (CURRENT, "edinburgh", [], "2026-11-10T10:00:00Z")]                             # draft, not yet due
NOW = "2026-11-20T12:00:00Z"


@pytest.fixture(scope="module")
def world(module_db_url, smtp_server):
    clock = FakeClock(datetime(2026, 10, 1, 9, 0, tzinfo=timezone.utc))
    settings = Settings(db_url=module_db_url, public_url="https://causeway.example.scot", smtp_host="127.0.0.1",
                        smtp_port=smtp_server.port, smtp_from="returns@causeway.example")
    services = build_services(settings, clock=clock)
    for slug, name, kind in ORGS:
        services.orgs.add_org(slug, name, kind, actor="test")
    agency = Principal(org=AGENCY, role="governance", credential_id="test")
    services.returns.definitions.draft(SPEC, agency)
    services.returns.definitions.approve(NAME, 1, Principal(org=AGENCY, role="admin", credential_id="test"))
    for period, org, steps, when in PLAN:
        clock.set(when)
        publisher = Principal(org=org, role="publisher", credential_id="test")
        services.returns.submit_rows(NAME, period, org, [{"key": "office-1", "values": {"office": "A", "count": 3}}],
                                     publisher)
        for action in steps:
            who = {"submit": publisher, "approve": Principal(org=org, role="governance", credential_id="test")}
            services.returns.sign_off(NAME, period, org, action, "The count looks low" if action == "send_back"
                                      else None, who.get(action, agency))
    clock.set(NOW)
    keys = {}

    def key(org, role):
        if (org, role) not in keys:
            keys[org, role] = services.orgs.issue_key(org, role, actor="test")
        return {"Authorization": f"Bearer {keys[org, role]}"}

    with create_app(services=services).test_client() as client:
        yield services, client, key, clock
    services.engine.dispose()


def mine(entries):
    return {(e["period"], e["org"]): (e["state"], e["status"], e["late"]) for e in entries if e["dataset"] == NAME}


def test_a_councils_calendar_shows_every_return_it_must_submit_and_where_it_stands(world):
    services, client, key, _ = world
    answer = client.get("/api/v1/return-calendar/edinburgh", params=WINDOW, headers=key("edinburgh", "ops"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert mine(body["submits"]) == {(ENDED, "edinburgh"): ("accepted", "accepted", False),
                                     (CURRENT, "edinburgh"): ("draft", "due", False)}
    entry = next(e for e in body["submits"] if e["dataset"] == NAME and e["period"] == ENDED)
    assert entry["due_date"] == "2026-10-30" and entry["deadline"] == "2026-10-31T00:00:00.000000Z"
    assert entry["console_path"] == f"/console/returns/{NAME}/{ENDED}/edinburgh"
    assert body["asks"] == [] and body["feed"]["active"] is False

    cases = {"fife": ("submitted", "awaiting_approval", True), "glasgow": ("approved", "approved", True),
             "highland": ("sent_back", "sent_back", False), "stirling": ("draft", "late", True),
             "dundee": ("not_started", "late", True)}
    for org, expected in cases.items():
        found = client.get(f"/api/v1/return-calendar/{org}", params=WINDOW, headers=key(org, "governance")).json()
        assert mine(found["submits"])[ENDED, org] == expected, org
        assert mine(found["submits"])[CURRENT, org] == ("not_started", "due", False), org
    highland = client.get("/api/v1/return-calendar/highland", params=WINDOW,
                          headers=key("highland", "publisher")).json()
    assert next(e for e in highland["submits"] if e["period"] == ENDED)["comment"] == "The count looks low"
    # sent back after the deadline: still to do (the school meals return of the catalogue is asked of it too)
    assert [e["period"] for e in highland["submits"] if e["dataset"] == NAME and e["overdue"]] == [ENDED]
    assert highland["counts"]["submits"]["overdue"] == sum(e["overdue"] for e in highland["submits"])


def test_an_agencys_calendar_shows_each_council_and_who_is_overdue_on_what(world):
    _, client, key, _ = world
    body = client.get(f"/api/v1/return-calendar/{AGENCY}", params=WINDOW, headers=key(AGENCY, "governance")).json()
    assert body["submits"] == []
    asks = mine(body["asks"])
    # before the council's approval the agency sees nothing of a set: not received
    assert {org: asks[ENDED, org] for org in COUNCILS} == {
        "edinburgh": ("accepted", "accepted", False), "glasgow": ("approved", "approved", True),
        "fife": ("not_received", "late", True), "highland": ("sent_back", "sent_back", False),
        "stirling": ("not_received", "late", True), "dundee": ("not_received", "late", True)}
    assert {asks[CURRENT, org] for org in COUNCILS} == {("not_received", "due", False)}
    assert [(c["org"], [(r["dataset"], r["period"]) for r in c["returns"]]) for c in body["overdue_by_council"]] == [
        ("dundee", [(NAME, ENDED)]), ("fife", [(NAME, ENDED)]), ("stirling", [(NAME, ENDED)]),
        ("highland", [(NAME, ENDED)])]  # by name: Dundee, Fife, Stirling, The Highland
    assert body["counts"]["asks"]["late"] == 3 and body["counts"]["asks"]["overdue"] == 4


def test_another_orgs_calendar_is_refused_and_bad_windows_are_named(world):
    _, client, key, _ = world
    for org, role in (("glasgow", "governance"), (AGENCY, "governance"), ("edinburgh", "publisher")):
        target = "fife" if org != "fife" else "glasgow"
        refused = client.get(f"/api/v1/return-calendar/{target}", headers=key(org, role))
        assert refused.status_code == 403 and "cannot act for" in refused.json()["detail"]
    assert client.get("/api/v1/return-calendar/fife").status_code == 401
    admin = key(AGENCY, "admin")
    assert client.get("/api/v1/return-calendar/fife", headers=admin).status_code == 200
    assert client.get("/api/v1/return-calendar/atlantis", headers=admin).status_code == 404
    backwards = client.get("/api/v1/return-calendar/fife", params={"from": "2027-01-01", "to": "2026-01-01"},
                           headers=key("fife", "ops"))
    assert backwards.status_code == 400 and "runs backwards" in backwards.json()["detail"]
    too_long = client.get("/api/v1/return-calendar/fife", params={"from": "2026-01-01", "to": "2027-06-01"},
                          headers=key("fife", "ops"))
    assert too_long.status_code == 400 and "shorter" in too_long.json()["detail"]
    ancient = client.get("/api/v1/return-calendar/fife", params={"from": "0001-01-01", "to": "0001-03-01"},
                         headers=key("fife", "ops"))
    assert ancient.status_code == 400 and "outside the years" in ancient.json()["detail"]
    assert client.get("/api/v1/return-calendar/fife", params={"to": "0001-01-02"},
                      headers=key("fife", "ops")).status_code == 400
    only_from = client.get("/api/v1/return-calendar/fife", params={"from": "2027-06-01"}, headers=key("fife", "ops"))
    assert (only_from.json()["from"], only_from.json()["to"]) == ("2027-06-01", "2027-12-02")
    not_a_date = client.get("/api/v1/return-calendar/fife", params={"from": "2026-02-30"}, headers=key("fife", "ops"))
    assert not_a_date.status_code == 400


def _feed(client, url):
    path = url.removeprefix("https://causeway.example.scot")
    return client.get(path)


def _events(answer):
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/calendar")
    parsed = Calendar.from_ical(answer.content)
    return {str(e["UID"]): e for e in parsed.walk("VEVENT")}


def test_the_secret_ics_feed_parses_back_with_stable_uids_and_refuses_a_wrong_or_old_token(world):
    services, client, key, clock = world
    assert client.post("/api/v1/return-calendar/fife/feed", headers=key("fife", "publisher")).status_code == 403
    assert client.post("/api/v1/return-calendar/glasgow/feed", headers=key("fife", "governance")).status_code == 403
    made = client.post("/api/v1/return-calendar/fife/feed", headers=key("fife", "governance"))
    assert made.status_code == 201 and made.json()["created_at"] == "2026-11-20T12:00:00.000000Z"
    url = made.json()["url"]
    assert url.startswith("https://causeway.example.scot/api/v1/return-calendar/fife/feed/calfeed_")
    token = url.rsplit("/", 1)[1].removesuffix(".ics")
    with services.engine.connect() as conn:
        stored = conn.execute(select(return_calendar_feeds)).all()
    assert len(stored) == 1 and token not in repr(stored)  # only a hash of it is kept

    events = _events(_feed(client, url))
    ours = {uid: e for uid, e in events.items() if NAME in uid}
    # a month back and a year ahead
    assert set(ours) == {f"submit.{NAME}.{p}.fife@causeway" for p in (ENDED, CURRENT, "2027-Q1", "2027-Q2", "2027-Q3")}
    ended = ours[f"submit.{NAME}.{ENDED}.fife@causeway"]
    assert ended.decoded("DTSTART") == date(2026, 10, 30) and ended.decoded("DTEND") == date(2026, 10, 31)
    assert "awaiting the council's approval" in str(ended["DESCRIPTION"])
    assert str(ended["URL"]) == f"https://causeway.example.scot/console/returns/{NAME}/{ENDED}/fife"

    # the council's approver approves: the same event (same UID) says so on the next fetch
    services.returns.sign_off(NAME, ENDED, "fife", "approve", None,
                              Principal(org="fife", role="governance", credential_id="test"))
    again = _events(_feed(client, url))
    assert set(again) == set(events)
    assert "approved by the council (late)" in str(again[f"submit.{NAME}.{ENDED}.fife@causeway"]["DESCRIPTION"])

    for wrong in (token[:-1] + ("A" if token[-1] != "A" else "B"), "calfeed_x", token + "x"):
        refused = client.get(f"/api/v1/return-calendar/fife/feed/{wrong}.ics")
        assert refused.status_code == 404 and token not in refused.text
    assert client.get(f"/api/v1/return-calendar/glasgow/feed/{token}.ics").status_code == 404  # another org's

    rotated = client.post("/api/v1/return-calendar/fife/feed", headers=key("fife", "ops")).json()["url"]
    assert rotated != url and _feed(client, url).status_code == 404
    status = client.get("/api/v1/return-calendar/fife", headers=key("fife", "ops")).json()["feed"]
    assert status["active"] is True and "url" not in status and status["created_by"].startswith("fife/ops/")
    assert _events(_feed(client, rotated))
    revoked = client.delete("/api/v1/return-calendar/fife/feed", headers=key("fife", "governance"))
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    assert _feed(client, rotated).status_code == 404


def test_an_agencys_feed_has_one_event_per_return_and_period_naming_councils_still_to_come(world):
    _, client, key, _ = world
    url = client.post(f"/api/v1/return-calendar/{AGENCY}/feed", headers=key(AGENCY, "governance")).json()["url"]
    events = _events(_feed(client, url))
    ended = events[f"ask.{NAME}.{ENDED}.{AGENCY}@causeway"]
    assert ended.decoded("DTSTART") == date(2026, 10, 30)
    assert "Still to come from: Dundee City Council, Stirling Council, The Highland Council." in str(
        ended["DESCRIPTION"])
    assert f"ask.{NAME}.{CURRENT}.{AGENCY}@causeway" in events


def test_the_console_calendar_links_each_due_date_to_its_return_and_makes_a_feed(world):
    services, client, _, _ = world
    add_staff(services, "cal-stirling", "stirling", "submitter")
    with create_app(services=services).test_client() as staff_client:
        assert sign_in(staff_client, "cal-stirling").status_code == 302
        page = staff_client.get("/console/returns/calendar?from=2026-10-01&to=2027-02-28")
        assert page.status_code == 200
        html = page.text
        assert f'href="/console/returns/{NAME}/{ENDED}/stirling"' in html
        assert "Due <time datetime=\"2026-10-30\" title=\"2026-10-30\">30 Oct 2026</time>" in html
        assert 'data-state="draft" data-status="late"' in html
        assert staff_client.get("/console/returns/calendar?org=fife").text.count("Stirling Council") >= 1  # own org
        made = staff_client.post("/console/returns/calendar/feed", data={"csrf_token": csrf_from(html),
                                                                         "action": "make"})
        assert made.status_code == 201 and "/api/v1/return-calendar/stirling/feed/calfeed_" in made.text
        bad = staff_client.get("/console/returns/calendar?from=yesterday")
        assert bad.status_code == 400


def test_a_reminder_links_into_the_console_page_of_that_return_for_that_period(world, smtp_server):
    services, _, _, clock = world
    smtp_server.clear()
    set_contact(services.engine, "dundee", "returns@dundee.example.org", None)
    services.reminders.send_due_reminders(clock.set("2027-01-23T09:30:00Z"))  # 7 days before 2026-Q4 is due
    mails = [m for m in smtp_server.received() if "Calendar test return" in m["subject"]]
    assert [m["subject"] for m in mails] == ["Reminder: Calendar test return for 2026-Q4 is due on 30 January 2027"]
    assert f"https://causeway.example.scot/console/returns/{NAME}/{CURRENT}/dundee" in mails[0]["body"]


def test_a_retired_return_leaves_the_calendar_and_the_feed(world):
    services, client, key, clock = world
    clock.set(NOW)
    services.returns.definitions.set_lifecycle(NAME, {"retired": "2026-10-01"},
                                               Principal(org=AGENCY, role="governance", credential_id="test"))
    body = client.get("/api/v1/return-calendar/edinburgh", params=WINDOW, headers=key("edinburgh", "ops")).json()
    assert set(mine(body["submits"])) == {(ENDED, "edinburgh")}  # 2026-Q4 starts on the retirement day
    url = client.post("/api/v1/return-calendar/edinburgh/feed", headers=key("edinburgh", "governance")).json()["url"]
    uids = set(_events(_feed(client, url)))
    assert f"submit.{NAME}.{CURRENT}.edinburgh@causeway" not in uids
    assert f"submit.{NAME}.{ENDED}.edinburgh@causeway" in uids


def test_the_feed_token_never_reaches_the_access_log(world):
    """Served by uvicorn with its access log on, as `causeway-hub serve` does by default."""
    services, client, key, _ = world
    url = client.post("/api/v1/return-calendar/glasgow/feed", headers=key("glasgow", "governance")).json()["url"]
    token = url.rsplit("/", 1)[1].removesuffix(".ics")
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(self.format(record))

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(services=services), host="127.0.0.1", port=port,
                                           log_level="info", access_log=True))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    collect = Collect()
    try:
        wait_for_port(port)
        logging.getLogger("uvicorn.access").addHandler(collect)
        path = url.removeprefix("https://causeway.example.scot")
        assert requests.get(f"http://127.0.0.1:{port}{path}", timeout=10).status_code == 200
        assert requests.get(f"http://127.0.0.1:{port}{path[:-8]}wrong.ics", timeout=10).status_code == 404
        wait_until(lambda: len(lines) >= 2, timeout=10)
    finally:
        logging.getLogger("uvicorn.access").removeHandler(collect)
        server.should_exit = True
        thread.join(timeout=10)
    assert all(token not in line for line in lines), lines
    assert sum("/api/v1/return-calendar/glasgow/feed/[redacted].ics" in line for line in lines) == 2, lines


def test_a_submitter_assigned_one_return_sees_only_it_and_cannot_make_the_orgs_feed(world):
    """A scoped submitter gets 404 for any return it is not assigned; its calendar leaves them out
    too, and it may not make (or revoke) the org's feed, which lists every return."""
    services, client, key, clock = world
    clock.set(NOW)
    agency = Principal(org=AGENCY, role="governance", credential_id="test")
    for name in ("data-return.calendar-scoped", "data-return.calendar-unscoped"):
        services.returns.definitions.draft({**SPEC, "name": name, "title": name}, agency)
        services.returns.definitions.approve(name, 1, Principal(org=AGENCY, role="admin", credential_id="test"))
    add_staff(services, "cal-scoped", "stirling", "submitter")
    services.returns.assign_submitter("data-return.calendar-scoped", "cal-scoped", True,
                                      Principal(org="stirling", role="governance", credential_id="test"))
    with create_app(services=services).test_client() as staff_client:
        assert sign_in(staff_client, "cal-scoped").status_code == 302
        html = staff_client.get("/console/returns/calendar?from=2026-10-01&to=2027-02-28").text
        assert "/console/returns/data-return.calendar-scoped/" in html
        assert "data-return.calendar-unscoped" not in html and "calendar/feed" not in html  # no feed form
        made = staff_client.post("/console/returns/calendar/feed", data={"csrf_token": csrf_from(html),
                                                                         "action": "make"})
        assert made.status_code == 403 and "calfeed_" not in made.text


def test_a_submitter_assigned_one_return_neither_reads_nor_recomputes_a_derived_one_it_is_not_assigned(world):
    services, _, _, clock = world
    from hub.returns.derived_demo import SPEC as DERIVED

    clock.set(NOW)
    name = "data-return.calendar-derived"
    services.returns.definitions.draft({**DERIVED, "name": name, "requesting_org": AGENCY,
                                        "expected_publishers": ["stirling"]},
                                       Principal(org=AGENCY, role="governance", credential_id="test"))
    services.returns.definitions.approve(name, 1, Principal(org=AGENCY, role="admin", credential_id="test"))
    application = {"reference": "26/0001/HH", "council": "stirling", "site_address": "1 High Street",
                   "description": "A proposal", "application_type": "householder", "received_date": "2026-07-01",
                   "status": "under-consideration"}

    def publish(payload):
        assert services.records.publish({"records": [{
            "id": str(uuid.uuid4()), "dataset": "planning-application", "schema_version": 1, "op": "upsert",
            "occurred_at": "2026-09-30T12:00:00Z", "payload": payload}]},
            Principal(org="stirling", role="publisher", credential_id="test")).accepted == 1
    publish(application)
    assert services.derived_returns.run() >= 1
    publish({**application, "reference": "26/0002/HH"})  # not yet computed: asking would compute it
    with create_app(services=services).test_client() as staff_client:
        assert sign_in(staff_client, "cal-scoped").status_code == 302
        path = f"/console/returns/{name}/{ENDED}/stirling"
        assert staff_client.get(f"{path}/lineage").status_code == 404
        page = staff_client.get("/console/returns/calendar")
        before = _derived_audits(services, name)
        assert staff_client.post(f"{path}/derive", data={"csrf_token": csrf_from(page.text),
                                                         "replace_edits": "yes"}).status_code == 404
        assert _derived_audits(services, name) == before  # nothing computed either


def _derived_audits(services, name):
    with services.engine.connect() as conn:
        return conn.execute(select(audit_log.c.seq).where(audit_log.c.action == "return.derived",
                                                         audit_log.c.target.startswith(name))).all()
