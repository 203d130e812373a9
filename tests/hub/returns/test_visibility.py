"""Who sees a return's figures, against a real hub process: the submitting council (its own),
the requesting org, recipients of an active agreement for the dataset (the providers it
covers), and admin. Anyone else gets 404, as for a return that does not exist."""
from __future__ import annotations

import uuid

import pytest
import requests

from hub.app import build_services
from hub.auth import Principal
from hub.config import Settings
from support.agreements import activate_agreement, agreement_yaml
from support.console import csrf_from
from support.hubprocess import HubProcess
from support.returns import COUNCILS, DATASET, load_orgs

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

# The latest quarter already due by the time these tests run (the hub process keeps real time).
PERIOD = "2026-Q3"
SUBMITTED = ("edinburgh", "fife")
CONSOLE_PASSWORD = "a long test password 1"

SCHOOL_MEALS_TO_SDS = agreement_yaml(
    "school-meals-edinburgh-sds", ["edinburgh"], ["sds"],
    {"data-return.school-meals": {"fields": ["return_id", "council", "period", "pupils_on_roll",
                                             "free_meals_registered"]}},
    title="Edinburgh's school meals figures for Skills Development Scotland")


# One hub per module (and database): the tests only read, except the agreement test, which
# leaves its agreement suspended (so it shows no one anything).
@pytest.fixture(scope="module")
def services(module_db_url):
    built = build_services(Settings(db_url=module_db_url))
    load_orgs(built)
    yield built
    built.engine.dispose()


@pytest.fixture(scope="module")
def hub(services, module_db_url, tmp_path_factory):
    with HubProcess(module_db_url, log_path=tmp_path_factory.mktemp("visibility-hub") / "hub.log") as process:
        yield process


@pytest.fixture
def get(hub, services):
    """get(org, role, path, **params) -> the hub's response to a key of that org and role."""
    keys = {}

    def call(org, role, path, **params):
        if (org, role) not in keys:
            keys[org, role] = services.orgs.issue_key(org, role, actor="test")
        return requests.get(f"{hub.url}{path}", params=params, timeout=10,
                            headers={"Authorization": f"Bearer {keys[org, role]}"})
    return call


@pytest.fixture(scope="module")
def submitted(hub, services):
    for org in SUBMITTED:
        key = services.orgs.issue_key(org, "publisher", actor="test")
        payload = {"return_id": f"{org}-{PERIOD}", "council": org, "period": PERIOD, "pupils_on_roll": 50000,
                   "free_meals_registered": 20000, "free_meals_taken_primary": 800000,
                   "free_meals_taken_secondary": 200000, "total_free_meals_taken": 1000000,
                   "submitted_by": f"meals@{org}.example.org"}
        record = {"id": str(uuid.uuid4()), "dataset": DATASET, "schema_version": 1, "op": "upsert",
                  "occurred_at": "2026-09-30T17:00:00Z", "payload": payload}
        answer = requests.post(f"{hub.url}/api/v1/records", json={"records": [record]}, timeout=10,
                               headers={"Authorization": f"Bearer {key}"})
        assert answer.json()["results"][0]["status"] == "accepted", answer.text
    return SUBMITTED


def rows(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [row["org"] for row in response.json()["publishers"]]


def assert_hidden(response) -> None:
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "scottish-government" not in response.text  # not even who asked for it


def every_path(org="edinburgh"):
    return [f"/api/v1/returns/{DATASET}", f"/api/v1/returns/{DATASET}/grid",
            f"/api/v1/returns/{DATASET}/{PERIOD}/{org}"]


def test_the_submitting_council_sees_its_own_figures_only(get, submitted):
    assert rows(get("edinburgh", "publisher", f"/api/v1/returns/{DATASET}", period=PERIOD)) == ["edinburgh"]
    assert rows(get("edinburgh", "governance", f"/api/v1/returns/{DATASET}/grid")) == ["edinburgh"]
    own = get("edinburgh", "ops", f"/api/v1/returns/{DATASET}/{PERIOD}/edinburgh").json()
    assert own["records"][0]["payload"]["pupils_on_roll"] == 50000
    assert_hidden(get("edinburgh", "governance", f"/api/v1/returns/{DATASET}/{PERIOD}/fife"))
    # a council that has sent nothing still sees its own (missing) row, and no one else's
    assert rows(get("glasgow", "publisher", f"/api/v1/returns/{DATASET}", period=PERIOD)) == ["glasgow"]


def test_the_requesting_org_and_admin_see_every_council(get, submitted):
    for org, role in (("scottish-government", "subscriber"), ("scottish-government", "governance"),
                      ("sds", "admin")):
        assert rows(get(org, role, f"/api/v1/returns/{DATASET}", period=PERIOD)) == COUNCILS
        found = get(org, role, f"/api/v1/returns/{DATASET}/{PERIOD}/fife")
        assert found.json()["records"][0]["payload"]["council"] == "fife"


@pytest.mark.parametrize("org,role", [("sds", "governance"), ("sds", "ops"), ("improvement-service", "ops"),
                                      ("improvement-service", "governance"), ("sfrs", "subscriber")])
def test_other_orgs_get_404_whatever_their_role(get, submitted, org, role):
    for path in every_path():
        assert_hidden(get(org, role, path))


def test_an_active_agreement_shows_its_recipient_the_providers_it_covers(get, submitted, services):
    agreement = activate_agreement(services, SCHOOL_MEALS_TO_SDS, ["edinburgh", "sds"])
    assert rows(get("sds", "governance", f"/api/v1/returns/{DATASET}", period=PERIOD)) == ["edinburgh"]
    found = get("sds", "subscriber", f"/api/v1/returns/{DATASET}/{PERIOD}/edinburgh").json()
    assert found["records"][0]["payload"]["free_meals_registered"] == 20000
    assert_hidden(get("sds", "governance", f"/api/v1/returns/{DATASET}/{PERIOD}/fife"))
    assert_hidden(get("sfrs", "governance", f"/api/v1/returns/{DATASET}"))  # not a party

    # suspended: no longer active, so no longer visible (decided on every read)
    services.policy.agreements.transition(agreement, "suspended",
                                          Principal(org="edinburgh", role="governance", credential_id="test"),
                                          reason="review")
    for path in every_path():
        assert_hidden(get("sds", "governance", path))


@pytest.fixture
def console_get(hub, services):
    """console_get(org, role, path) -> the page a console user of that org and role, signed in, is shown."""
    browsers = {}

    def call(org, role, path):
        if (org, role) not in browsers:
            username = f"{role}.{org}"
            services.accounts.add_user(username, org, role, CONSOLE_PASSWORD, actor="test")
            browser = requests.Session()
            form = browser.get(f"{hub.url}/console/sign-in", timeout=10)
            signed_in = browser.post(f"{hub.url}/console/sign-in", timeout=30, allow_redirects=False, data={
                "csrf_token": csrf_from(form.text), "username": username, "password": CONSOLE_PASSWORD, "next": ""})
            assert signed_in.status_code == 302, signed_in.text
            browsers[org, role] = browser
        return browsers[org, role].get(f"{hub.url}{path}", timeout=10, allow_redirects=False)
    return call


def test_the_console_pages_follow_the_same_rule(console_get, submitted):
    grid = console_get("scottish-government", "governance", f"/console/returns/{DATASET}")
    assert grid.status_code == 200 and "fife" in grid.text
    assert console_get("sds", "admin", f"/console/returns/{DATASET}/{PERIOD}/fife").status_code == 200
    for org, role, path in (("sds", "governance", f"/console/returns/{DATASET}"),
                            ("sds", "ops", f"/console/returns/{DATASET}/export.csv"),
                            ("improvement-service", "ops", f"/console/returns/{DATASET}/{PERIOD}/edinburgh"),
                            ("edinburgh", "ops", f"/console/returns/{DATASET}/{PERIOD}/fife")):
        hidden = console_get(org, role, path)
        assert hidden.status_code == 404, (org, role, path)
        assert "scottish-government" not in hidden.text and "Fife Council" not in hidden.text
    own = console_get("edinburgh", "governance", f"/console/returns/{DATASET}")
    assert own.status_code == 200 and "edinburgh" in own.text.lower() and "Fife Council" not in own.text
    assert "/console/returns/" in own.text  # the navigation links the returns pages


def test_the_console_pages_want_a_signed_in_user_not_an_api_key(get, hub):
    for path in ("/console/returns/", f"/console/returns/{DATASET}", f"/console/returns/{DATASET}/export.csv"):
        answer = get("scottish-government", "governance", path)  # an API key is no console sign-in
        assert answer.history and answer.history[0].status_code == 302, path
        assert answer.url.startswith(f"{hub.url}/console/sign-in?next=/console/returns/"), answer.url
        assert "Fife Council" not in answer.text
