"""Benchmarks computed from a small world of councils (tests/support/benchmarks.py), checked against
figures worked by hand; who sees what; and bad indicator definitions refused with the field named.

Quartiles are inclusive (linear between ordered figures): for n figures v1..vn the quartile at p
sits at position 1 + (n - 1) p. Scotland in 2026-Q2 has six approved councils (Moray is a draft).
"""
from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from hub.app import build_services, create_app
from hub.audit.models import audit_log
from hub.config import Settings
from support import benchmarks as world
from support.agreements import activate_agreement, agreement_yaml
from support.benchmarks import AGENCY, DATASET, OUTSIDER, Q1, Q2
from support.clock import FakeClock
from support.console import add_staff, csrf_from, sign_in

BASE = f"/api/v1/benchmarks/{DATASET}"


@pytest.fixture(scope="module")
def services(module_db_url):
    clock = FakeClock(datetime(2026, 8, 15, tzinfo=timezone.utc))
    built = build_services(Settings(db_url=module_db_url), clock=clock)
    world.build(built, clock)
    yield built
    built.engine.dispose()


@pytest.fixture(scope="module")
def client(services):
    with create_app(services=services).test_client() as test_client:
        yield test_client


@pytest.fixture(scope="module")
def auth(services):
    issued = {}

    def headers(org, role="subscriber"):
        if (org, role) not in issued:
            issued[org, role] = services.orgs.issue_key(org, role, actor="test")
        return {"Authorization": f"Bearer {issued[org, role]}"}
    return headers


def measure(result, name):
    return next(m for m in result["measures"] if m["name"] == name)


def period(result, name, of):
    return next(p for p in measure(result, name)["periods"] if p["period"] == of)


def get(client, auth, caller, role="subscriber", **params):
    response = client.get(BASE, params=params, headers=auth(caller, role))
    assert response.status_code == 200, response.text
    return response.json()


# -- figures worked by hand ---------------------------------------------------------------

def test_indicator_median_quartiles_and_the_councils_quartile(client, auth):
    result = get(client, auth, "edinburgh", periods=2)
    assert result["period"] == Q2 and result["periods"] == [Q1, Q2]
    assert result["quartile_method"] == "inclusive" and result["minimum_councils"] == 5
    q2 = period(result, "within_target_percent", Q2)
    # 300/400 = 75 %; the six approved: dundee 50, glasgow 60, edinburgh 75, stirling 80, fife 90, angus 90
    assert q2["own"] == 75.0
    # Q1 at position 2.25: 60 + 0.25 (75 - 60); median (75 + 80) / 2; Q3 at 4.75: 80 + 0.75 (90 - 80)
    assert q2["scotland"] == {"councils": 6, "lower_quartile": 63.75, "median": 77.5, "upper_quartile": 87.5,
                              "withheld": False}
    assert q2["quartile"] == 3  # between the lower quartile and the median; higher is better, so 3rd of 4


def test_totals_and_rates_per_1000_population(client, auth):
    result = get(client, auth, "edinburgh")
    total = period(result, "assessed", Q2)
    # 100, 150, 320, 400, 450, 1000: 150 + 0.25 x 170; (320 + 400) / 2; 400 + 0.75 x 50
    assert total["own"] == 400
    assert total["scotland"] | {} == {"councils": 6, "lower_quartile": 192.5, "median": 360, "upper_quartile": 437.5,
                                      "withheld": False}
    rate = period(result, "assessed_per_1000", Q2)
    # 400 / 100,000 x 1,000 = 4; angus 2.5, fife 3, dundee 4, edinburgh 4, glasgow 5, stirling 5
    assert rate["own"] == 4.0
    assert (rate["scotland"]["lower_quartile"], rate["scotland"]["median"], rate["scotland"]["upper_quartile"]) == \
        (3.25, 4.0, 4.75)


def test_family_groups_and_their_minimum(client, auth):
    q2 = period(get(client, auth, "edinburgh"), "within_target_percent", Q2)
    urban, small = sorted(q2["family"], key=lambda f: f["group"], reverse=True)
    # urban: dundee 50, glasgow 60, edinburgh 75, stirling 80, fife 90 would be v2, v3, v4; but
    # Scotland's six are urban's five and Angus, one council apart, so urban is withheld
    assert urban == {"group": "urban", "title": "Urban councils", "councils": 5, "lower_quartile": None,
                     "median": None, "upper_quartile": None, "withheld": True}
    # small: angus and edinburgh approved, moray a draft: two figures, so Edinburgh would learn Angus's
    assert small == {"group": "small", "title": "Small group", "councils": 2, "lower_quartile": None,
                     "median": None, "upper_quartile": None, "withheld": True}


def test_a_group_one_council_short_of_scotland_is_withheld_so_that_council_cannot_be_derived(client, auth,
                                                                                             services):
    """Scotland's six 'assessed' figures have median (320 + 400) / 2 = 360. A group of the other
    five (100, 150, 400, 450, 1000) would have median 400, so Edinburgh would read Dundee's figure
    as 2 x 360 - 400 = 320 (and its lower quartile 150 confirms it: 150 + 0.25 (320 - 150) = 192.5)."""
    services.benchmarks.groups.set("west", {"title": "All but Dundee",
                                            "members": ["angus", "edinburgh", "fife", "glasgow", "stirling"]},
                                   world.ADMIN)
    try:
        assessed = period(get(client, auth, "edinburgh"), "assessed", Q2)
        assert assessed["scotland"]["median"] == 360
        west = next(f for f in assessed["family"] if f["group"] == "west")
        assert west["councils"] == 5 and west["withheld"] and west["median"] is None
        csv_lines = csv.DictReader(io.StringIO(client.get(BASE, params={"format": "csv"},
                                                          headers=auth("edinburgh")).text))
        assert all(r["median"] == "" for r in csv_lines if r["series"] == "family:west")
    finally:
        services.benchmarks.groups.remove("west", world.ADMIN)


def test_trend_over_the_last_periods_withholds_a_period_with_too_few_councils(client, auth):
    trend = measure(get(client, auth, "edinburgh", periods=2), "within_target_percent")["periods"]
    assert [(p["period"], p["own"]) for p in trend] == [(Q1, 70.0), (Q2, 75.0)]  # 266/380, 300/400
    assert trend[0]["scotland"]["withheld"] and trend[0]["scotland"]["councils"] == 4


def test_no_aggregate_over_fewer_councils_than_the_minimum_or_any_total_of_a_group(client, auth):
    """With k < 5 figures, median and quartiles with one's own figure give others away (k = 2: the
    median is the mean). Only withheld order statistics appear; no sum or mean of any group does,
    so two overlapping groups cannot be differenced."""
    result = get(client, auth, "angus", periods=2)
    for item in result["measures"]:
        for entry in item["periods"]:
            for aggregate in [entry["scotland"], *entry["family"]]:
                assert set(aggregate) <= {"councils", "lower_quartile", "median", "upper_quartile", "withheld",
                                          "group", "title"}
                if aggregate["councils"] < 5:
                    assert aggregate["withheld"] and aggregate["median"] is None


# -- who sees what ----------------------------------------------------------------------

def test_a_council_sees_its_own_figures_and_the_aggregates_but_no_other_council(client, auth):
    q2 = period(get(client, auth, "glasgow", "governance"), "assessed", Q2)
    assert [c["org"] for c in q2["councils"]] == ["glasgow"]
    assert q2["own"] == 1000 and q2["scotland"]["median"] == 360
    assert client.get(BASE, params={"org": "edinburgh"}, headers=auth("glasgow")).status_code == 404
    groups = client.get("/api/v1/benchmark-groups", headers=auth("edinburgh")).json()["groups"]
    assert {g["name"]: g["member_count"] for g in groups} == {"small": 3, "urban": 5}
    assert all("members" not in g for g in groups)


def test_a_draft_counts_only_for_its_own_council(client, auth):
    q2 = period(get(client, auth, "moray"), "assessed", Q2)
    assert q2["own"] == 70 and q2["own_state"] == "draft"
    assert q2["scotland"]["councils"] == 6  # not counted among the approved


def test_the_requesting_agency_sees_every_approved_council_by_name(client, auth):
    result = get(client, auth, AGENCY)
    q2 = period(result, "assessed", Q2)
    assert result["org"] is None and q2["own"] is None
    assert {c["org"]: c["value"] for c in q2["councils"]} == {
        "angus": 100, "dundee": 320, "edinburgh": 400, "fife": 150, "glasgow": 1000, "stirling": 450}
    assert period(get(client, auth, AGENCY, org="edinburgh"), "assessed", Q2)["own"] == 400
    assert period(get(client, auth, AGENCY, org="moray"), "assessed", Q2)["own"] is None  # not approved yet


def test_other_orgs_get_404_and_anonymous_401(client, auth):
    assert client.get(BASE, headers=auth(OUTSIDER)).status_code == 404
    assert client.get(f"{BASE}/indicators", headers=auth(OUTSIDER)).status_code == 404
    assert client.get(BASE).status_code == 401
    assert DATASET not in [b["dataset"] for b in client.get("/api/v1/benchmarks", headers=auth(OUTSIDER)).json()[
        "benchmarks"]]
    assert DATASET in [b["dataset"] for b in client.get("/api/v1/benchmarks", headers=auth("fife")).json()["benchmarks"]]


def test_the_owner_may_let_councils_see_each_other(client, auth):
    setting = f"{BASE}/settings"
    assert client.put(setting, json={"named_figures": "councils"}, headers=auth("edinburgh", "governance")) \
        .status_code == 403
    assert client.put(setting, json={"named_figures": "councils"}, headers=auth(AGENCY, "governance")) \
        .status_code == 200
    try:
        q2 = period(get(client, auth, "glasgow"), "assessed", Q2)
        assert [c["org"] for c in q2["councils"]] == ["angus", "dundee", "edinburgh", "fife", "glasgow", "stirling"]
        assert client.get(BASE, params={"org": "edinburgh"}, headers=auth("glasgow")).status_code == 200
    finally:
        client.put(setting, json={"named_figures": "requester"}, headers=auth(AGENCY, "governance"))


def test_csv_download(client, auth):
    response = client.get(BASE, params={"format": "csv"}, headers=auth("edinburgh"))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(response.text)))
    own = [r for r in lines if r["measure"] == "within_target_percent" and r["period"] == Q2]
    assert {r["series"]: (r["value"] or r["median"]) for r in own} == {
        "council": "75.0", "scotland": "77.5", "family:urban": "", "family:small": "", "named": "75.0"}
    assert all(r["org"] in ("", "edinburgh") for r in lines)


# -- hostile and mistaken definitions -------------------------------------------------------

@pytest.mark.parametrize("change, path", [
    ({"numerator": ["households"]}, "/numerator/0"),
    ({"numerator": ["within_target", "office"]}, "/numerator/1"),
    ({"denominator": "everyone"}, "/denominator/0"),
    ({"denominator": []}, "/denominator"),
    ({"per": -1}, "/per"),
    ({"title": ""}, "/title"),
    ({"unit": " "}, "/unit"),
])
def test_a_bad_indicator_gets_400_naming_the_field(client, auth, change, path):
    body = {**world.INDICATOR, **change}
    response = client.put(f"{BASE}/indicators/bad_one", json=body, headers=auth(AGENCY, "governance"))
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith(path + ":"), response.json
    names = [i["name"] for i in client.get(f"{BASE}/indicators", headers=auth(AGENCY)).json()["indicators"]]
    assert names == ["within_target_percent"]  # nothing stored


def test_only_the_requesting_orgs_governance_defines_indicators(client, auth):
    url = f"{BASE}/indicators/per_head"
    body = {**world.INDICATOR, "denominator": "population", "per": 1000, "unit": "per 1,000 people"}
    assert client.put(url, json=body, headers=auth("edinburgh", "governance")).status_code == 403
    assert client.put(url, json=body, headers=auth(AGENCY, "publisher")).status_code == 403
    assert client.put("/api/v1/benchmarks/data-return.nothing/indicators/x", json=body,
                      headers=auth(AGENCY, "governance")).status_code == 404
    assert client.put(url, json=body, headers=auth(AGENCY, "governance")).status_code == 200
    try:
        # 300 assessed within target per 100,000 people = 3 per 1,000
        assert period(get(client, auth, "edinburgh"), "per_head", Q2)["own"] == 3.0
    finally:
        assert client.delete(url, headers=auth(AGENCY, "governance")).status_code == 204


def test_family_groups_are_the_admins_and_checked(client, auth):
    url = "/api/v1/benchmark-groups/rural"
    assert client.put(url, json={"title": "Rural", "members": ["angus"]}, headers=auth(AGENCY, "governance")) \
        .status_code == 403
    response = client.put(url, json={"title": "Rural", "members": ["angus", AGENCY]},
                          headers=auth("improvement-service", "admin"))
    assert response.status_code == 400 and response.json()["detail"].startswith("/members/1:")
    assert client.delete(url, headers=auth("improvement-service", "admin")).status_code == 404


# -- a periodic dataset of records (not row sets) ---------------------------------------

MEALS = "/api/v1/benchmarks/data-return.school-meals"


@pytest.fixture(scope="module")
def school_meals(client, auth):
    """School meals are published as records, one per council and quarter (no sign-off)."""
    for n, org in enumerate(["angus", "dundee", "edinburgh", "fife", "glasgow"], start=1):
        record = {"id": str(uuid.uuid4()), "dataset": "data-return.school-meals", "schema_version": 1,
                  "op": "upsert", "occurred_at": "2026-06-30T17:00:00Z",
                  "payload": {"return_id": f"{org}-{Q2}", "council": org, "period": Q2, "pupils_on_roll": 1000 * n,
                              "free_meals_registered": 100 * n, "free_meals_taken_primary": 10 * n,
                              "free_meals_taken_secondary": 5 * n, "total_free_meals_taken": 15 * n,
                              "submitted_by": f"meals@{org}.example.org"}}
        answer = client.post("/api/v1/records", json={"records": [record]}, headers=auth(org, "publisher"))
        assert answer.json()["results"][0]["status"] == "accepted", answer.text


def test_a_periodic_dataset_of_records_is_benchmarked_from_what_councils_published(client, auth, school_meals):
    answer = client.get(MEALS, params={"period": Q2}, headers=auth("edinburgh"))
    assert answer.status_code == 200, answer.text
    registered = period(answer.json(), "free_meals_registered", Q2)
    # 100, 200, 300, 400, 500: the inclusive quartiles are the 2nd, 3rd and 4th figures
    assert registered["own"] == 300
    assert (registered["scotland"]["lower_quartile"], registered["scotland"]["median"],
            registered["scotland"]["upper_quartile"], registered["scotland"]["councils"]) == (200, 300, 400, 5)
    # 300 registered of Edinburgh's 100,000 people
    assert period(answer.json(), "free_meals_registered_per_1000", Q2)["own"] == 3.0


def audited_disclosures(services, org):
    with services.engine.connect() as conn:
        return [json.loads(row.detail)["orgs"] for row in conn.execute(
            select(audit_log).where(audit_log.c.action == "benchmark.disclosed", audit_log.c.org == org))]


def test_an_agreement_lets_its_recipient_see_the_fields_it_passes_by_name_and_each_such_read_is_audited(
        services, client, auth, school_meals):
    assert client.get(MEALS, params={"period": Q2}, headers=auth(OUTSIDER)).status_code == 404
    activate_agreement(services, agreement_yaml(
        "meals-edinburgh-sds", ["edinburgh"], [OUTSIDER],
        {"data-return.school-meals": {"fields": ["return_id", "council", "period", "free_meals_registered"]}}),
        ["edinburgh", OUTSIDER])
    result = get_json(client, MEALS, auth(OUTSIDER), period=Q2)
    registered = period(result, "free_meals_registered", Q2)
    assert [(c["org"], c["value"]) for c in registered["councils"]] == [("edinburgh", 300)]
    # only the fields the agreement passes: not the pupils on roll, nor a measure made of them
    assert period(result, "pupils_on_roll", Q2)["councils"] == []
    assert period(result, "pupils_on_roll", Q2)["scotland"]["median"] == 3000  # the aggregates, as for anyone
    assert audited_disclosures(services, OUTSIDER)[-1] == ["edinburgh"]
    # a council reading only its own figures discloses nothing
    before = len(audited_disclosures(services, "glasgow"))
    assert [c["org"] for c in period(get_json(client, MEALS, auth("glasgow"), period=Q2),
                                     "free_meals_registered", Q2)["councils"]] == ["glasgow"]
    assert len(audited_disclosures(services, "glasgow")) == before


def get_json(client, url, headers, **params):
    answer = client.get(url, params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


# -- the console form of the return's owner ---------------------------------------------------
PAGE = f"/console/benchmarks/{DATASET}"


@pytest.fixture(scope="module")
def console_as(services):
    """A signed-in console client per user, made once."""
    signed = {}

    def client_of(username, org, role):
        if username not in signed:
            add_staff(services, username, org, role)
            client = create_app(services=services).test_client()
            assert sign_in(client, username).status_code == 302
            signed[username] = client
        return signed[username]
    return client_of


def send(staff_client, url, data=None):
    """A console form posted, its redirect not followed (302: saved)."""
    return staff_client.post(url, data=data or {}, follow_redirects=False)


def indicator_names(client, auth):
    return [i["name"] for i in client.get(f"{BASE}/indicators", headers=auth(AGENCY)).json()["indicators"]]


def test_the_owner_defines_changes_and_removes_an_indicator_in_the_console(client, auth, console_as):
    owner = console_as("sg-gov", AGENCY, "governance")
    page = owner.get(PAGE)
    assert page.status_code == 200 and 'id="indicator-form"' in page.text
    form = {"csrf_token": csrf_from(page.text), "name": "fast_per_head", "title": "Fast assessments per head",
            "numerator": ["within_target"], "per": "lots", "unit": "per 1,000 people"}
    refused = send(owner, f"{PAGE}/indicators", data=form)  # no denominator, per not a number, no better
    assert refused.status_code == 400
    assert 'data-error-summary' in refused.text and 'href="#indicator-denominator"' in refused.text
    assert 'id="indicator-denominator-error">give 1 to 20 number fields' in refused.text  # the API's words
    assert 'value="Fast assessments per head"' in refused.text  # nothing typed is lost
    assert indicator_names(client, auth) == ["within_target_percent"]
    refused = send(owner, f"{PAGE}/indicators", data={**form, "denominator": "population"})
    assert refused.status_code == 400 and 'id="indicator-per-error">&#39;lots&#39;: per is a number' in refused.text
    saved = send(owner, f"{PAGE}/indicators", data={**form, "denominator": "population", "per": "1000",
                                                      "higher_is_better": "yes"})
    assert saved.status_code == 302
    try:
        assert period(get(client, auth, "edinburgh"), "fast_per_head", Q2)["own"] == 3.0  # 300 per 100,000 people
        change = owner.get(PAGE, params={"indicator": "fast_per_head"}).text
        assert 'value="fast_per_head" maxlength="63" spellcheck="false" readonly' in change
        assert send(owner, f"{PAGE}/indicators", data={**form, "denominator": ["assessed"], "per": "100",
                                                      "unit": "%", "higher_is_better": "yes"}).status_code == 302
        assert period(get(client, auth, "edinburgh"), "fast_per_head", Q2)["own"] == 75.0
    finally:
        gone = send(owner, f"{PAGE}/indicators/fast_per_head/remove", data={"csrf_token": form["csrf_token"]})
    assert gone.status_code == 302 and indicator_names(client, auth) == ["within_target_percent"]


def test_the_owner_sets_who_sees_councils_by_name_in_the_console(client, auth, console_as):
    owner = console_as("sg-gov", AGENCY, "governance")
    token = csrf_from(owner.get(PAGE).text)
    assert send(owner, f"{PAGE}/settings", data={"csrf_token": token, "named_figures": "everyone"}).status_code == 400
    assert send(owner, f"{PAGE}/settings", data={"csrf_token": token, "named_figures": "councils"}).status_code == 302
    try:
        assert len(period(get(client, auth, "glasgow"), "assessed", Q2)["councils"]) == 6
    finally:
        send(owner, f"{PAGE}/settings", data={"csrf_token": token, "named_figures": "requester"})
    assert [c["org"] for c in period(get(client, auth, "glasgow"), "assessed", Q2)["councils"]] == ["glasgow"]


@pytest.mark.parametrize("username, org, role", [
    ("ed-gov", "edinburgh", "governance"),  # a council asked for the return
    ("sds-gov", OUTSIDER, "governance"),  # an org that sees nothing of it
    ("sg-ops", AGENCY, "ops"),  # the owner, but not its governance
    ("is-admin", "improvement-service", "admin"),  # the hub's admin uses the API
])
def test_no_one_but_the_owners_governance_sees_the_form_or_may_post_it(client, auth, console_as, username, org,
                                                                       role):
    staff_client = console_as(username, org, role)
    page = staff_client.get(PAGE)
    assert page.status_code in (200, 404) and "indicator-form" not in page.text
    token = csrf_from(staff_client.get("/console/benchmarks/").text)
    body = {"csrf_token": token, "name": "hostile", "title": "Hostile", "numerator": "assessed",
            "denominator": "population", "per": "1", "unit": "x", "higher_is_better": "yes"}
    assert send(staff_client, f"{PAGE}/indicators", data=body).status_code in (403, 404)
    assert send(staff_client, f"{PAGE}/indicators/within_target_percent/remove",
                             data={"csrf_token": token}).status_code in (403, 404)
    assert send(staff_client, f"{PAGE}/settings", data={"csrf_token": token, "named_figures": "councils"}) \
        .status_code in (403, 404)
    assert indicator_names(client, auth) == ["within_target_percent"]
    assert get(client, auth, AGENCY)["named_figures"] == "requester"


def test_the_owners_form_without_its_csrf_token_or_for_no_such_return_is_refused(client, auth, console_as):
    owner = console_as("sg-gov", AGENCY, "governance")
    assert send(owner, f"{PAGE}/indicators/within_target_percent/remove").status_code == 403
    token = csrf_from(owner.get(PAGE).text)
    assert send(owner, "/console/benchmarks/data-return.nothing/settings",
                {"csrf_token": token, "named_figures": "councils"}).status_code == 404
    assert indicator_names(client, auth) == ["within_target_percent"]
