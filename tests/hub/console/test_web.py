"""The console over HTTP in-process (through connexion's middleware, as in production):
sign-in, cookies, CSRF, roles, escaping, the quality report. On SQLite and PostgreSQL."""
import csv
import io
import subprocess
import sys

import pytest

from hub.audit import service as audit
from hub.db import write_transaction
from support.agreements import agreement_yaml
from support.console import PASSWORD, add_staff, csrf_from, sign_in
from support.factories import gazetteer_record

PAGES = ["/console/", "/console/quality", "/console/catalogue", "/console/catalogue/gazetteer-address",
         "/console/audit"]


@pytest.fixture
def staff(services):
    add_staff(services, "gina", "edinburgh", "governance")
    add_staff(services, "omar", "glasgow", "ops")
    add_staff(services, "ada", "sds", "admin")


def test_pages_need_signing_in(client, staff):
    for page in PAGES:
        response = client.get(page, follow_redirects=False)
        assert response.status_code == 302, page
        assert response.headers["location"].startswith("/console/sign-in?next=")


def test_sign_in_form_has_labels_and_a_csrf_token(client):
    html = client.get("/console/sign-in").text
    assert '<label for="username">' in html and 'id="username"' in html
    assert '<label for="password">' in html and 'id="password"' in html
    assert csrf_from(html)


def test_signing_in_sets_a_strict_session_cookie_and_opens_every_page(client, staff):
    response = sign_in(client, "gina", next_page="/console/audit")
    assert response.status_code == 302 and response.headers["location"] == "/console/audit"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain HTTP here; see the HTTPS test below
    for page in PAGES:
        response = client.get(page)
        assert response.status_code == 200, page
        assert "Signed in as" in response.text and "gina" in response.text
        assert "default-src 'self'" in response.headers["content-security-policy"]


def test_cookie_is_secure_under_https(app, staff):
    with app.test_client(base_url="https://testserver") as client:
        response = sign_in(client, "gina")
    assert response.status_code == 302
    assert "Secure" in response.headers["set-cookie"]


def test_wrong_password_is_refused_without_saying_which_part_was_wrong(client, staff):
    response = sign_in(client, "gina", "not the password")
    assert response.status_code == 401
    assert "do not match an account" in response.text
    assert client.get("/console/", follow_redirects=False).status_code == 302


def test_repeated_failed_sign_ins_are_slowed_down(client, staff):
    for _ in range(6):
        sign_in(client, "gina", "not the password")
    response = sign_in(client, "gina")  # the right password, too soon
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    assert "Too many failed sign-ins" in response.text


def test_a_post_without_the_csrf_token_is_refused(client, staff, services):
    sign_in(client, "gina")
    before = len(audit.list_entries(services.engine, limit=10000))
    response = client.post("/console/audit/verify", data={})
    assert response.status_code == 403
    assert "did not come from the console" in response.text
    response = client.post("/console/audit/verify", data={"csrf_token": "forged"})
    assert response.status_code == 403
    # and with the token it works
    token = csrf_from(client.get("/console/audit").text)
    response = client.post("/console/audit/verify", data={"csrf_token": token})
    assert response.status_code == 200 and "audit chain is intact" in response.text
    assert len(audit.list_entries(services.engine, limit=10000)) == before


def test_sign_in_itself_needs_the_csrf_token(client, staff):
    client.get("/console/sign-in")
    response = client.post("/console/sign-in", data={"username": "gina", "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 403
    assert client.get("/console/", follow_redirects=False).status_code == 302


def test_sign_out_ends_the_session_even_for_a_copied_cookie(client, app, staff):
    sign_in(client, "gina")
    copied = dict(client.cookies)
    token = csrf_from(client.get("/console/").text)
    assert client.get("/console/sign-out").status_code == 405  # signing out needs a form post
    response = client.post("/console/sign-out", data={"csrf_token": token})
    assert "You have signed out" in response.text
    with app.test_client() as other:
        other.cookies.update(copied)
        assert other.get("/console/", follow_redirects=False).status_code == 302


def test_sign_in_does_not_redirect_off_the_console(client, staff):
    for target in ("https://evil.example/", "//evil.example/", "/api/v1/datasets", "/\\evil.example"):
        client.cookies.clear()
        response = sign_in(client, "gina", next_page=target)
        assert response.headers["location"] == "/console/", target


def test_output_is_escaped(client, staff, services):
    with write_transaction(services.engine) as conn:
        audit.append(conn, at=services.clock(), actor="test", org="edinburgh", action="test.escape", target="<script>alert(1)</script>")
    sign_in(client, "gina")
    html = client.get("/console/audit").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html


def test_staff_see_their_own_orgs_audit_entries_and_admins_see_all(client, staff, services):
    with write_transaction(services.engine) as conn:
        audit.append(conn, at=services.clock(), actor="test", org="glasgow", action="test.glasgow-only", target="g-1")
    sign_in(client, "gina")
    assert "test.glasgow-only" not in client.get("/console/audit").text
    client.cookies.clear()
    sign_in(client, "ada")
    assert "test.glasgow-only" in client.get("/console/audit?org=glasgow").text


def test_rejects_show_on_the_overview_the_quality_page_and_in_the_daily_csv(client, staff, auth):
    bad = gazetteer_record(2)
    bad["payload"]["postcode"] = "not a postcode"
    missing = gazetteer_record(3)
    del missing["payload"]["town"]
    response = client.post("/api/v1/records", json={"records": [gazetteer_record(1), bad, missing]},
                           headers=auth("edinburgh", "publisher"))
    assert response.json()["rejected"] == 2
    sign_in(client, "gina")
    overview = client.get("/console/").text
    assert 'id="rejects-today">2<' in overview
    assert 'id="accepted-today">1<' in overview
    quality = client.get("/console/quality").text
    assert "/postcode" in quality and "/town" in quality
    report = client.get("/console/quality/report.csv")
    assert report.headers["content-type"].startswith("text/csv")
    assert "attachment" in report.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(report.text)))
    assert rows == [{**rows[0], "publisher": "edinburgh", "dataset": "gazetteer-address", "accepted": "1",
                     "rejected": "2", "reject_rate_percent": "66.7"}]
    assert rows[0]["most_common_error_field"] in ("/payload/postcode", "/payload/town")


def test_cli_adds_a_user_who_can_then_sign_in(db_url, client, services, tmp_path):
    password_file = tmp_path / "pw"
    password_file.write_text(PASSWORD + "\n")
    result = subprocess.run([sys.executable, "-m", "hub.cli", "user", "add", "Carol", "--org", "fife",
                             "--role", "ops", "--password-file", str(password_file), "--db", db_url],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    assert sign_in(client, "carol").status_code == 302


def test_reject_details_of_personal_datasets_leave_out_the_value():
    from hub.records.service import _without_value

    assert _without_value('"Jane Doe" does not match "^[A-Z]{2}$"') == 'the value does not match "^[A-Z]{2}$"'
    assert _without_value('"referral_id" is a required property') == '"referral_id" is a required property'


GAZETTEER_AGREEMENT = agreement_yaml(
    "gazetteer-edinburgh-glasgow", ["edinburgh"], ["glasgow"],
    title="Gazetteer addresses from Edinburgh to Glasgow",
    datasets={"gazetteer-address": {"fields": ["uprn", "street", "town", "postcode"]}})


def test_agreement_actions_are_enforced_on_the_server(client, app, services, staff):
    add_staff(services, "olive", "edinburgh", "ops")
    add_staff(services, "fern", "fife", "governance")
    sign_in(client, "gina")
    token = csrf_from(client.get("/console/agreements/new").text)
    saved = client.post("/console/agreements/new", data={"csrf_token": token, "source": GAZETTEER_AGREEMENT})
    assert saved.status_code == 200 and "Saved as draft version 1" in saved.text

    with app.test_client() as ops:
        sign_in(ops, "olive")
        token = csrf_from(ops.get("/console/").text)
        for path in ("/console/agreements/new", "/console/agreements/gazetteer-edinburgh-glasgow/edit"):
            assert ops.post(path, data={"csrf_token": token, "source": GAZETTEER_AGREEMENT}).status_code == 403
        assert ops.post("/console/agreements/gazetteer-edinburgh-glasgow/status",
                        data={"csrf_token": token, "to": "retired"}).status_code == 403
    with app.test_client() as fife:
        sign_in(fife, "fern")
        token = csrf_from(fife.get("/console/").text)
        assert "gazetteer-edinburgh-glasgow" not in fife.get("/console/agreements").text
        assert fife.get("/console/agreements/gazetteer-edinburgh-glasgow").status_code == 404
        assert fife.post("/console/agreements/gazetteer-edinburgh-glasgow/status",
                         data={"csrf_token": token, "to": "approved"}).status_code == 404
    versions = services.policy.agreements.versions("gazetteer-edinburgh-glasgow", staff_principal("edinburgh"))
    assert [(v["version"], v["status"]) for v in versions] == [(1, "draft")]


def staff_principal(org):
    from hub.auth import Principal

    return Principal(org=org, role="governance", credential_id="test")
