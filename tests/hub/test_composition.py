"""The composition root: `build_services` hands its clock to every service, and nothing
else in the hub reads the real time."""
import ast
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.app import build_services
from hub.audit.models import audit_log
from hub.auth import Principal
from hub.console.models import staff_users
from hub.delivery.models import subscriptions
from hub.orgs.models import credentials, enrolment_tokens, orgs
from hub.policy.models import agreement_approvals, agreement_history, agreement_versions, consents
from hub.records.models import batches, records
from hub.returns.demo import EXAMPLE_CONTACTS, set_example_contacts
from hub.returns.models import return_contacts
from support.factories import gazetteer_record

HUB = Path(__file__).resolve().parents[2] / "hub"
POLICIES = HUB.parent / "policies"

# Far from today, so a timestamp written with the real time cannot pass for it.
FIXED = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@pytest.fixture
def fixed(settings):
    built = build_services(settings, clock=lambda: FIXED)
    yield built
    built.engine.dispose()


def test_every_service_writes_the_time_of_the_injected_clock(fixed):
    with fixed.engine.connect() as conn:  # the template database's catalogue was loaded at its own time
        before = conn.execute(select(audit_log.c.seq).order_by(audit_log.c.seq.desc()).limit(1)).scalar() or 0
    for slug in dict.fromkeys(["edinburgh", "sds", *EXAMPLE_CONTACTS]):
        fixed.orgs.add_org(slug, slug.title(), "agency" if slug == "sds" else "council", actor="test")
    edinburgh = fixed.orgs.authenticate(fixed.orgs.issue_key("edinburgh", "governance", actor="test"))
    sds = fixed.orgs.authenticate(fixed.orgs.issue_key("sds", "governance", actor="test"))
    fixed.orgs.create_enrolment("edinburgh", 3600, actor="test")
    agreement = fixed.policy.agreements.apply(
        (POLICIES / "referral-edinburgh-sds.yaml").read_text(encoding="utf-8"), edinburgh)
    for party in (edinburgh, sds):
        fixed.policy.agreements.transition(agreement["id"], "approved", party)
    fixed.policy.consents.give({"subject": "subj-clock", "purpose": "ServiceProvision", "recipients": ["sds"],
                                "method": "signed form", "evidence_ref": "form-clock"}, edinburgh)
    fixed.delivery.subscribe({"dataset": "referral", "purpose": "ServiceProvision", "channel": "pull",
                              "start": "beginning"}, Principal(org="sds", role="subscriber", credential_id="t"))
    published = fixed.records.publish({"records": [gazetteer_record(906700000001)]},
                                      Principal(org="edinburgh", role="publisher", credential_id="t"))
    assert published.accepted == 1, published.results
    fixed.accounts.add_user("gina", "edinburgh", "governance", "a long enough password", actor="test")
    set_example_contacts(fixed)

    written = {
        "orgs": (orgs.c.created_at,), "keys": (credentials.c.created_at,),
        "enrolment": (enrolment_tokens.c.created_at,),
        "agreements": (agreement_versions.c.created_at, agreement_versions.c.status_changed_at,
                       agreement_history.c.at, agreement_approvals.c.at),
        "consent": (consents.c.given_at, consents.c.recorded_at),
        "delivery": (subscriptions.c.created_at,), "records": (records.c.received_at, batches.c.received_at),
        "console accounts": (staff_users.c.created_at,), "returns": (return_contacts.c.updated_at,),
    }
    with fixed.engine.connect() as conn:
        for service, columns in written.items():
            for column in columns:
                moments = {_aware(m) for m in conn.execute(select(column)).scalars()}
                assert moments == {FIXED}, f"{service}: {column} holds {sorted(moments)}"
        audited = conn.execute(select(audit_log.c.action, audit_log.c.at).where(audit_log.c.seq > before)).all()
    assert {_aware(row.at) for row in audited} == {FIXED}
    actions = {row.action for row in audited}
    assert {"org.add", "credential.issue", "enrolment.create", "agreement.version", "agreement.approve",
            "consent.record", "subscription.create", "records.publish", "staff.add",
            "returns.contact.set"} <= actions


def test_the_worker_jobs_and_reminders_run_on_the_injected_clock(fixed):
    assert fixed.worker(worker_id="clock", channels={}).clock() == FIXED
    assert fixed.retention.clock() == FIXED
    assert fixed.reminders.clock() == FIXED
    assert fixed.health.clock() == FIXED


def _calls_utcnow(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "utcnow"]


def test_only_the_default_clock_reads_the_real_time():
    """Services take the hub's clock; a direct `utcnow()` call would sidestep the injected one."""
    calls = {str(path.relative_to(HUB)): lines for path in sorted(HUB.rglob("*.py"))
             if path.name != "db.py" and (lines := _calls_utcnow(path))}
    assert calls == {}
