"""causeway-hub policy and consent commands, as governance staff and operators use them."""
import os
import shutil
import subprocess
import sys

import pytest

from support.agreements import POLICIES

pytestmark = pytest.mark.e2e

REFERRAL = str(POLICIES / "referral-edinburgh-sds.yaml")


def run(*args, db, key=None):
    env = {k: v for k, v in os.environ.items() if k != "CAUSEWAY_API_KEY"}
    if key:
        env["CAUSEWAY_API_KEY"] = key
    return subprocess.run([sys.executable, "-m", "hub.cli", *args, "--db", db], capture_output=True, text=True,
                          timeout=120, env=env)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A database `init` and `org import` made, once per module; a test that does not check those
    two commands starts from a copy of it."""
    path = tmp_path_factory.mktemp("prepared") / "hub.db"
    for command in (("init",), ("org", "import")):
        assert run(*command, db=f"sqlite:///{path}").returncode == 0
    return path


@pytest.fixture
def db(prepared, tmp_path):
    shutil.copy(prepared, tmp_path / "hub.db")
    return f"sqlite:///{tmp_path}/hub.db"


def governance_key(db: str, org: str) -> str:
    from hub.db import make_engine
    from hub.orgs.service import OrgService

    engine = make_engine(db)
    try:
        return OrgService(engine).issue_key(org, "governance", actor="test")
    finally:
        engine.dispose()


def test_apply_approve_by_both_sides_and_list(tmp_path):
    db = f"sqlite:///{tmp_path}/hub.db"
    assert run("init", db=db).returncode == 0
    assert run("org", "import", db=db).returncode == 0
    applied = run("policy", "apply", REFERRAL, db=db)
    assert applied.returncode == 0, applied.stderr
    assert "version 1 written as a draft" in applied.stdout
    assert "unchanged" in run("policy", "apply", REFERRAL, db=db).stdout

    no_key = run("policy", "approve", "referral-edinburgh-sds", db=db)
    assert no_key.returncode == 2 and "CAUSEWAY_API_KEY" in no_key.stderr
    keys = {org: run("key", "issue", org, "--role", "governance", db=db).stdout.strip().splitlines()[-1]
            for org in ("edinburgh", "sds", "fife")}
    outsider = run("policy", "approve", "referral-edinburgh-sds", db=db, key=keys["fife"])
    assert outsider.returncode == 2 and "does not exist or is not visible" in outsider.stderr
    first = run("policy", "approve", "referral-edinburgh-sds", "--activate", db=db, key=keys["edinburgh"])
    assert "now draft" in first.stdout and "recipient" in first.stdout
    second = run("policy", "approve", "referral-edinburgh-sds", "--activate", db=db, key=keys["sds"])
    assert second.returncode == 0, second.stderr
    assert "is now active" in second.stdout
    listed = run("policy", "list", db=db).stdout
    assert "referral-edinburgh-sds" in listed and "active" in listed
    assert keys["sds"] not in second.stdout + second.stderr  # the key is never echoed


def test_apply_reports_mistakes_with_their_line(db, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(open(REFERRAL).read().replace("      - goals\n", "      - goalz\n"))
    result = run("policy", "apply", str(bad), db=db)
    assert result.returncode == 2
    assert "line 25: datasets.referral.fields[6]: 'goalz' is not a field of dataset referral" in result.stderr


def test_consent_import_reports_bad_rows_and_keeps_good_ones(db, tmp_path):
    csv = tmp_path / "consents.csv"
    csv.write_text("subject,purpose,recipients,method,evidence_ref,given_at\n"
                   "psn-1,ServiceProvision,sds,signed form,EV-1,2026-01-05T10:00:00Z\n"
                   "psn-2,ServiceProvision,atlantis,signed form,EV-2,2026-01-05T10:00:00Z\n")
    result = run("consent", "import", str(csv), "--controller", "edinburgh", db=db)
    assert result.returncode == 1
    assert "1 consents imported" in result.stdout
    assert "line 3: recipients: unknown org 'atlantis'" in result.stdout


def test_approve_waits_for_every_provider_and_recipient(db, tmp_path):
    from support.agreements import gazetteer_agreement

    source = tmp_path / "two-councils.yaml"
    source.write_text(gazetteer_agreement("two-councils", ["edinburgh", "fife"], ["sfrs"]))
    assert run("policy", "apply", str(source), db=db).returncode == 0
    keys = {org: governance_key(db, org) for org in ("edinburgh", "fife", "sfrs", "glasgow")}
    for org in ("edinburgh", "sfrs"):
        result = run("policy", "approve", "two-councils", "--activate", db=db, key=keys[org])
        assert result.returncode == 0, result.stderr
        assert "now draft" in result.stdout and "fife (provider)" in result.stdout
    assert "draft" in run("policy", "list", db=db).stdout
    outsider = run("policy", "approve", "two-councils", db=db, key=keys["glasgow"])
    assert outsider.returncode == 2
    last = run("policy", "approve", "two-councils", "--activate", db=db, key=keys["fife"])
    assert last.returncode == 0, last.stderr
    assert "is now active" in last.stdout
