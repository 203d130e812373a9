"""Staff accounts, sign-in throttling and sessions (the service, on SQLite and PostgreSQL)."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from hub.console.models import staff_users
from hub.console.service import AccountError, AccountService, secret_key

PASSWORD = "a long test password 1"


class Clock:
    def __init__(self):
        self.now = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)

    def __call__(self):
        return self.now

    def advance(self, **kwargs):
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def accounts(services, clock):
    service = AccountService(services.engine, clock=clock)
    service.add_user("alice", "edinburgh", "governance", PASSWORD, actor="test")
    return service


def test_passwords_are_stored_only_as_argon2id_hashes(accounts, services):
    with services.engine.connect() as conn:
        stored = conn.execute(select(staff_users.c.password_hash).where(staff_users.c.username == "alice")).scalar_one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


def test_right_password_signs_in_and_wrong_or_unknown_do_not(accounts):
    assert accounts.sign_in("alice", PASSWORD, "10.0.0.1").user.role == "governance"
    assert accounts.sign_in("Alice ", PASSWORD, "10.0.0.1").ok  # usernames are case-insensitive
    assert not accounts.sign_in("alice", PASSWORD + "x", "10.0.0.1").ok
    assert not accounts.sign_in("mallory", PASSWORD, "10.0.0.1").ok


@pytest.mark.parametrize("username, org, role, password, words", [
    ("bob", "nowhere", "ops", PASSWORD, "does not exist"),
    ("bob", "edinburgh", "publisher", PASSWORD, "role"),
    ("bob", "edinburgh", "ops", "short", "at least 12"),
    ("b<o>b", "edinburgh", "ops", PASSWORD, "username"),
    ("alice", "edinburgh", "ops", PASSWORD, "already exists"),
])
def test_add_user_refuses_mistakes(accounts, username, org, role, password, words):
    with pytest.raises(AccountError, match=words):
        accounts.add_user(username, org, role, password)


def test_repeated_failures_for_one_username_block_it_for_longer_each_time(accounts, clock):
    for _ in range(5):
        assert accounts.sign_in("alice", "wrong password!", "10.0.0.1").retry_after_seconds == 0
    accounts.sign_in("alice", "wrong password!", "10.0.0.2")  # 6th failure: blocked from now on
    refused = accounts.sign_in("alice", PASSWORD, "10.0.0.3")
    assert not refused.ok and refused.retry_after_seconds > 0  # even the right password, from anywhere
    clock.advance(seconds=refused.retry_after_seconds)
    accounts.sign_in("alice", "wrong password!", "10.0.0.1")  # 7th failure
    second = accounts.sign_in("alice", PASSWORD, "10.0.0.1")
    assert second.retry_after_seconds > refused.retry_after_seconds
    clock.advance(seconds=second.retry_after_seconds)
    assert accounts.sign_in("alice", PASSWORD, "10.0.0.1").ok
    # success clears the username's count
    assert accounts.sign_in("alice", "wrong password!", "10.0.0.1").retry_after_seconds == 0
    assert accounts.sign_in("alice", PASSWORD, "10.0.0.1").ok


def test_one_client_guessing_many_usernames_is_blocked(accounts, services, clock):
    for n in range(20):
        accounts.sign_in(f"guess{n}", "wrong password!", "203.0.113.9")
    accounts.sign_in("guess-last", "wrong password!", "203.0.113.9")
    assert accounts.sign_in("alice", PASSWORD, "203.0.113.9").retry_after_seconds > 0
    assert accounts.sign_in("alice", PASSWORD, "198.51.100.1").ok  # another client is unaffected


def test_sessions_end_on_sign_out_idle_time_and_disabling(accounts, clock):
    user = accounts.sign_in("alice", PASSWORD, "10.0.0.1").user
    token = accounts.start_session(user)
    assert accounts.user_for_session(token) == user
    assert accounts.user_for_session(token + "x") is None
    accounts.end_session(token)
    assert accounts.user_for_session(token) is None

    idle = accounts.start_session(user)
    clock.advance(hours=2, minutes=1)
    assert accounts.user_for_session(idle) is None

    disabled = accounts.start_session(user)
    accounts.disable_user("alice")
    assert accounts.user_for_session(disabled) is None
    assert not accounts.sign_in("alice", PASSWORD, "10.0.0.1").ok


def test_sign_ins_and_failures_are_audited_without_the_password(accounts, services):
    from hub.audit.service import list_entries

    accounts.sign_in("alice", "wrong password!", "10.0.0.1")
    accounts.sign_in("alice", PASSWORD, "10.0.0.1")
    entries = list_entries(services.engine, action=None, limit=1000)
    actions = [e["action"] for e in entries]
    assert "staff.sign_in_failed" in actions and "staff.sign_in" in actions
    assert all(PASSWORD not in str(e) and "wrong password!" not in str(e) for e in entries)


def test_the_cookie_signing_key_is_made_once_and_kept(services):
    first = secret_key(services.engine)
    assert len(first) >= 40
    assert secret_key(services.engine) == first
