"""causeway-hub as an operator uses it."""
import subprocess
import sys

import pytest
import requests

from support.hubprocess import HubProcess

pytestmark = pytest.mark.e2e


def run(*args, db):
    return subprocess.run([sys.executable, "-m", "hub.cli", *args, "--db", db], capture_output=True, text=True, timeout=120)


@pytest.fixture
def fresh_db(tmp_path):
    return f"sqlite:///{tmp_path}/hub.db"


def test_init_is_idempotent(fresh_db):
    first = run("init", db=fresh_db)
    assert first.returncode == 0, first.stderr
    assert "added schema gazetteer-address v2" in first.stdout
    second = run("init", db=fresh_db)
    assert second.returncode == 0
    assert "0 catalogue changes" in second.stdout


def test_key_issue_prints_the_key_last_and_it_works(fresh_db):
    run("init", db=fresh_db)
    assert run("org", "add", "edinburgh", "--name", "The City of Edinburgh Council", db=fresh_db).returncode == 0
    issued = run("key", "issue", "edinburgh", "--role", "publisher", db=fresh_db)
    assert issued.returncode == 0
    key = issued.stdout.strip().splitlines()[-1]
    assert key.startswith("cw_")
    with HubProcess(fresh_db) as hub:
        response = requests.get(f"{hub.url}/api/v1/datasets", headers={"Authorization": f"Bearer {key}"}, timeout=5)
        assert response.status_code == 200
    # only its hash is stored
    import sqlite3
    dump = "\n".join(sqlite3.connect(fresh_db.removeprefix("sqlite:///")).iterdump())
    assert key.split("_", 2)[2] not in dump  # the secret part (it may itself contain "_")


def test_mistakes_get_clear_messages(fresh_db):
    run("init", db=fresh_db)
    unknown = run("key", "issue", "nowhere", "--role", "publisher", db=fresh_db)
    assert unknown.returncode == 2 and "org nowhere does not exist" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    bad_slug = run("org", "add", "Not A Slug", "--name", "x", db=fresh_db)
    assert bad_slug.returncode == 2 and "lower-case" in bad_slug.stderr
    run("org", "add", "fife", "--name", "Fife Council", db=fresh_db)
    again = run("org", "add", "fife", "--name", "Fife Council", db=fresh_db)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_serve_refuses_an_uninitialised_database(fresh_db):
    result = run("serve", "--port", "1", db=fresh_db)
    assert result.returncode == 2
    assert "causeway-hub init" in result.stderr


def test_enrolment_prints_a_one_time_token(fresh_db):
    run("init", db=fresh_db)
    run("org", "add", "edinburgh", "--name", "E", db=fresh_db)
    result = run("enrolment", "edinburgh", db=fresh_db)
    assert result.returncode == 0
    assert result.stdout.strip().splitlines()[-1].startswith("cwe_")


def test_db_may_come_before_or_after_the_command(tmp_path):
    before = f"sqlite:///{tmp_path}/before.db"
    result = subprocess.run([sys.executable, "-m", "hub.cli", "--db", before, "init"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "before.db").exists()
