"""Headers and /metrics, on a real hub process: browser pages get the console's protective
headers wherever they come from, 401 names the Bearer scheme, HSTS over HTTPS, and /metrics
is closed unless opened, in valid Prometheus text that counts refused requests too."""
from __future__ import annotations

import shutil
import subprocess

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from support.hubprocess import HubProcess
from support.raw_http import PROBLEM, csrf_from, raw_request

pytestmark = pytest.mark.e2e

PASSWORD = "a long test password 1"
MIB = 1024 * 1024
PAGE_HEADERS = {"x-frame-options": "DENY", "x-content-type-options": "nosniff", "cache-control": "no-store"}


@pytest.fixture(scope="module")
def services(module_services):
    return module_services


@pytest.fixture(scope="module")
def hub(module_services, module_db_url, tmp_path_factory):
    """One hub per module (and database): the tests only read, or add what no other test reads."""
    with HubProcess(module_db_url, log_path=tmp_path_factory.mktemp("headers-hub") / "hub.log", env={"CAUSEWAY_METRICS_TOKEN": "scrape-me-please",
                                                                "CAUSEWAY_HUB_OPERATOR": "sfrs"}) as process:
        yield process


def _signed_in(hub, services, username="ops.is", org="sds", role="ops") -> requests.Session:
    services.accounts.add_user(username, org, role, PASSWORD, actor="test")
    browser = requests.Session()
    page = browser.get(f"{hub.url}/console/sign-in", timeout=10)
    answer = browser.post(f"{hub.url}/console/sign-in", data={
        "csrf_token": csrf_from(page.text), "username": username, "password": PASSWORD, "next": ""},
        allow_redirects=False, timeout=30)
    assert answer.status_code == 302, answer.text
    return browser


def _assert_page_headers(response):
    for name, value in PAGE_HEADERS.items():
        assert response.headers.get(name) == value, (response.url, name, response.headers)
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy


def test_every_html_page_gets_the_consoles_headers(hub, services):
    browser = _signed_in(hub, services)
    for path in ("/console/sign-in", "/console/", "/console/returns/", "/console/returns/data-return.school-meals",
                 "/console/no-such-page"):
        response = browser.get(f"{hub.url}{path}", timeout=10)
        assert response.status_code in (200, 404), (path, response.status_code)
        _assert_page_headers(response)
    refused = requests.get(f"{hub.url}/console/returns/", timeout=10, allow_redirects=False)  # not signed in
    assert refused.status_code == 302 and refused.headers["location"] == "/console/sign-in?next=/console/returns/"
    _assert_page_headers(refused)
    style = browser.get(f"{hub.url}/console/static/console.css", timeout=10)
    assert style.status_code == 200 and "status-late" in style.text  # the returns' style is the console's file


def test_401_answers_name_the_bearer_scheme(hub):
    status, headers, _ = raw_request(hub, "GET", "/api/v1/datasets")
    assert status == 401 and headers["www-authenticate"] == 'Bearer realm="causeway"'
    status, headers, _ = raw_request(hub, "GET", "/api/v1/datasets", {"Authorization": "Bearer cw_nope_nope"})
    assert status == 401 and headers["www-authenticate"] == 'Bearer realm="causeway", error="invalid_token"'
    assert requests.get(f"{hub.url}/metrics", timeout=10).headers["www-authenticate"].startswith("Bearer")
    assert "strict-transport-security" not in headers  # plain HTTP: HSTS means nothing here


def test_metrics_need_the_metrics_token_an_admin_key_or_the_operators_ops_key(hub, key_for):
    def scrape(token=None):
        return requests.get(f"{hub.url}/metrics", timeout=10,
                            headers={"Authorization": f"Bearer {token}"} if token else {})

    for refused, status in ((None, 401), ("wrong-token", 401), (key_for("edinburgh", "publisher"), 403),
                            (key_for("sds", "subscriber"), 403), (key_for("edinburgh", "governance"), 403),
                            (key_for("sds", "ops"), 403)):  # hub-wide figures: not for another org's ops
        answer = scrape(refused)
        assert answer.status_code == status, refused
        assert answer.headers["content-type"].startswith(PROBLEM)
        assert "causeway_" not in answer.text
    for allowed in ("scrape-me-please", key_for("sfrs", "ops"),  # the hub operator's
                    key_for("edinburgh", "admin")):
        assert scrape(allowed).status_code == 200


def test_open_metrics_is_the_operators_choice(module_db_url, tmp_path):
    with HubProcess(module_db_url, extra_args=["--open-metrics"], log_path=tmp_path / "hub.log") as hub:
        assert requests.get(f"{hub.url}/metrics", timeout=10).status_code == 200


def test_metrics_are_valid_prometheus_text_and_count_requests_refused_before_flask(hub, key_for):
    publisher = {"Authorization": f"Bearer {key_for('edinburgh', 'publisher')}", "Content-Type": "application/json"}
    assert raw_request(hub, "GET", "/api/v1/datasets")[0] == 401
    assert raw_request(hub, "POST", "/api/v1/records", publisher, b'{"recs": []}')[0] == 400
    assert raw_request(hub, "POST", "/api/v1/records", {**publisher, "Content-Length": str(6 * MIB)})[0] == 413
    assert raw_request(hub, "GET", "/api/v1/datasets", publisher)[0] == 200
    answer = requests.get(f"{hub.url}/metrics", headers={"Authorization": "Bearer scrape-me-please"}, timeout=10)
    assert answer.headers["content-type"] == "text/plain; version=1.0.0; charset=utf-8"  # one charset
    counted = {(s.labels["method"], s.labels["route"], s.labels["status"])
               for family in text_string_to_metric_families(answer.text)
               for s in family.samples if s.name == "causeway_http_request_duration_seconds_count"}
    assert ("GET", "/api/v1/datasets", "401") in counted
    assert ("POST", "/api/v1/records", "400") in counted
    assert ("POST", "unmatched", "413") in counted  # refused before routing, by size alone
    assert ("GET", "/api/v1/datasets", "200") in counted
    if shutil.which("promtool") is None:
        pytest.fail("promtool (Debian package prometheus) is missing: run scripts/ensure-test-servers.sh as root")
    check = subprocess.run(["promtool", "check", "metrics"], input=answer.text, capture_output=True, text=True,
                           timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr


def _self_signed(folder):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(folder / "key.pem"),
                    "-out", str(folder / "cert.pem")], check=True, capture_output=True, timeout=60)
    return folder / "cert.pem", folder / "key.pem"


def test_https_answers_carry_hsts(module_db_url, tmp_path):
    cert, key = _self_signed(tmp_path)
    with HubProcess(module_db_url, extra_args=["--tls-cert", str(cert), "--tls-key", str(key)], ca_bundle=str(cert),
                    log_path=tmp_path / "hub.log") as hub:
        for path in ("/api/v1/health", "/api/v1/datasets", "/console/sign-in"):
            answer = requests.get(f"{hub.url}{path}", verify=str(cert), timeout=10)
            assert answer.headers["strict-transport-security"] == "max-age=31536000", path
