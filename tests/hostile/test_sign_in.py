"""Sign-in throttling against a real hub process: concurrent guesses get no more password
checks than sequential ones, and a forged X-Forwarded-For does not make a new client."""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import select

from hub.audit.models import audit_log
from hub.console.service import CLIENT_THROTTLE, USER_THROTTLE, Throttle
from support.hubprocess import HubProcess
from support.raw_http import csrf_from

pytestmark = pytest.mark.e2e

PASSWORD = "a long test password 1"


@pytest.fixture
def staff(services):
    services.accounts.add_user("gov.edinburgh", "edinburgh", "governance", PASSWORD, actor="test")


def _sign_in_form(hub):
    """A session cookie and its CSRF token, as a browser would have them."""
    browser = requests.Session()
    csrf = csrf_from(browser.get(f"{hub.url}/console/sign-in", timeout=10).text)
    return browser.cookies.get_dict(), csrf


def _attempt(hub, cookies, csrf, username, password, headers=None):
    return requests.post(f"{hub.url}/console/sign-in", cookies=cookies, headers=headers or {}, allow_redirects=False,
                         data={"csrf_token": csrf, "username": username, "password": password}, timeout=60)


def _failed_sign_in_clients(services) -> list[str]:
    with services.engine.connect() as conn:
        return [json.loads(row.detail) for row in conn.execute(select(audit_log).where(audit_log.c.action == "staff.sign_in_failed"))]


def _checks_a_sequence_could_get(seconds: float, throttle: Throttle = USER_THROTTLE) -> int:
    """The free failures, the one that starts the block, then one more each time a block ends
    (2 s, then 4, 8, ...): what guesses one after another get over `seconds` from the first block."""
    checks, blocked = throttle.free_failures + 1, 0.0
    while blocked + throttle.block_for(checks) <= seconds:
        blocked += throttle.block_for(checks)
        checks += 1
    return checks


def test_the_block_schedule_counts_like_a_sequence():
    assert [_checks_a_sequence_could_get(s) for s in (0.5, 1.99, 2.0, 5.9, 6.0, 14.0)] == [6, 6, 7, 7, 8, 9]


def test_thirty_concurrent_wrong_passwords_get_no_more_checks_than_guesses_in_turn(services, db_url, staff, tmp_path):
    with HubProcess(db_url, log_path=tmp_path / "hub.log") as hub:
        cookies, csrf = _sign_in_form(hub)
        started = time.monotonic()
        with ThreadPoolExecutor(30) as pool:
            answers = list(pool.map(lambda i: _attempt(hub, cookies, csrf, "gov.edinburgh", f"wrong guess {i}"),
                                    range(30)))
        took = time.monotonic() - started
    checks = sum(a.status_code == 401 for a in answers)
    # Six when the burst lands inside the first 2 s block; on a loaded machine a slower burst
    # may outlast a block, which lets one more through, as it would a guess made then.
    assert 6 <= checks <= _checks_a_sequence_could_get(took), (checks, took)
    assert sum(a.status_code == 429 for a in answers) == 30 - checks
    assert all(int(a.headers["Retry-After"]) >= 1 for a in answers if a.status_code == 429)
    assert len(_failed_sign_in_clients(services)) == checks  # the audit log saw every check


def test_a_rotating_x_forwarded_for_is_not_believed_by_default(services, db_url, tmp_path):
    with HubProcess(db_url, log_path=tmp_path / "hub.log") as hub:
        cookies, csrf = _sign_in_form(hub)
        def guess(i):
            return _attempt(hub, cookies, csrf, f"guess{i}", "wrong password!",
                            {"X-Forwarded-For": f"203.0.113.{i}"}).status_code
        statuses = [guess(i) for i in range(20)]
        blocked_from = time.monotonic()
        statuses += [guess(i) for i in range(20, 25)]
        took = time.monotonic() - blocked_from
    # The client's 20 free failures, counted for 127.0.0.1, and the 21st that starts its block; after
    # that only what a block ending in the time taken lets through (none within the first 2 s).
    assert statuses[:21] == [401] * 21
    assert statuses[21:].count(401) <= _checks_a_sequence_could_get(took, CLIENT_THROTTLE) - 21, (statuses, took)
    assert set(statuses[21:]) <= {401, 429} and 429 in statuses[21:]
    assert {detail["client"] for detail in _failed_sign_in_clients(services)} == {"127.0.0.1"}


def test_forwarded_addresses_are_believed_from_the_proxies_the_operator_lists(services, db_url, tmp_path):
    with HubProcess(db_url, extra_args=["--forwarded-allow-ips", "127.0.0.1"], log_path=tmp_path / "hub.log") as hub:
        cookies, csrf = _sign_in_form(hub)
        assert _attempt(hub, cookies, csrf, "nobody", "wrong password!",
                        {"X-Forwarded-For": "203.0.113.7"}).status_code == 401
    assert [detail["client"] for detail in _failed_sign_in_clients(services)] == ["203.0.113.7"]
