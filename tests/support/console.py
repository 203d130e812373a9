"""Signing in through the console's own forms, for tests that use the in-process test client."""
from __future__ import annotations

import re

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "a long test password 1"


def csrf_from(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def sign_in(client, username: str, password: str = PASSWORD, next_page: str = ""):
    page = client.get("/console/sign-in")
    return client.post("/console/sign-in", data={"csrf_token": csrf_from(page.text), "username": username,
                                                 "password": password, "next": next_page},
                       follow_redirects=False)


def add_staff(services, username: str, org: str, role: str, password: str = PASSWORD):
    return services.accounts.add_user(username, org, role, password, actor="test")
