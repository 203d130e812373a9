"""The authorisation matrix: every operation in hub/openapi.yaml, called by every role, on an
object of the caller's own org and on one of another org, and with no key, against a real hub
process (SQLite and PostgreSQL). The expected outcomes are the rules (deny by default), kept
in ONE table below; an operation in the contract without a row fails the suite.

Callers are edinburgh's keys of each role, and the hub operator's (improvement-service) ops
key; "own" is an object of the caller's org, "other" one of glasgow's. Objects that a call
changes (a draft to approve, a consent to withdraw, a dead letter to retry) are made afresh
for each cell, so no cell depends on another.
"""
from __future__ import annotations

import base64
import itertools
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import yaml

from causeway_common.signing import generate_key, public_key_b64
from hub import db
from hub.alerts import episodes as alert_episodes
from hub.alerts.registry import Condition
from hub.app import build_services
from hub.auth import Principal
from hub.config import DeliverySettings, Settings
from hub.delivery.models import dead_letters
from support.agreements import agreement_yaml
from support.factories import gazetteer_record
from support.hubprocess import HubProcess
from support.referrals import referral

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

CONTRACT = Path(__file__).resolve().parents[2] / "hub" / "openapi.yaml"
CALLER, OTHER, OPERATOR, THIRD = "edinburgh", "glasgow", "improvement-service", "sfrs"
ROLES = ("publisher", "subscriber", "governance", "ops", "admin", "operator-ops")
SUBJECTS = ("own", "other")
PURPOSE = "PublicSafety"
RETURN, PERIOD = "data-return.school-meals", "2026-Q3"
BENCHMARK_INDICATOR = {"title": "Pupils per 1,000 people", "numerator": ["pupils"], "denominator": "population",
                       "per": 1000, "unit": "per 1,000 people", "higher_is_better": True}
SECRETS_KEY = base64.b64encode(b"m" * 32).decode()

# Outcomes: ok (any 2xx), 401, 403, 404. Each row: for each role in ROLES, own/other; then no key.
# A row is keyed by the operationId; "operationId#case" adds a further case of the same operation.
#                                   publisher  subscriber governance ops       admin    operator-ops  no key
MATRIX = {
    "hub.health.api.health":           "ok/ok     ok/ok     ok/ok     ok/ok     ok/ok     ok/ok       ok",
    "hub.records.api.list_datasets":   "ok/ok     ok/ok     ok/ok     ok/ok     ok/ok     ok/ok       401",
    "hub.records.api.get_dataset":     "ok/ok     ok/ok     ok/ok     ok/ok     ok/ok     ok/ok       401",
    "hub.records.api.get_schema":      "ok/ok     ok/ok     ok/ok     ok/ok     ok/ok     ok/ok       401",
    "hub.records.api.publish":         "ok/ok     403/403   403/403   403/403   ok/ok     403/403     401",
    "hub.records.api.get_record":      "ok/404    ok/404    ok/404    ok/404    ok/ok     ok/404      401",
    "hub.records.api.feed":            "ok/ok     ok/ok     403/403   403/403   ok/ok     403/403     401",
    "hub.policy.api.list_agreements":  "403/403   403/403   ok/ok     403/403   ok/ok     403/403     401",
    "hub.policy.api.create_agreement": "403/403   403/403   ok/403    403/403   ok/ok     403/403     401",
    "hub.policy.api.get_agreement":    "403/403   403/403   ok/404    403/403   ok/ok     403/403     401",
    "hub.policy.api.update_agreement": "403/403   403/403   ok/404    403/403   ok/ok     403/403     401",
    "hub.policy.api.list_versions":    "403/403   403/403   ok/404    403/403   ok/ok     403/403     401",
    # approval is given by a party's governance, never by admin on its behalf
    "hub.policy.api.transition":       "403/403   403/403   ok/404    403/403   403/403   403/403     401",
    # suspending the version in force: "other" is one the caller was named in only as a superseded
    # draft; party rights end with the versions that named it (issue 10, item 2)
    "hub.policy.api.transition#suspend": "403/403 403/403   ok/404    403/403   ok/ok     403/403     401",
    "hub.policy.api.give_consent":     "403/403   403/403   ok/403    403/403   ok/ok     403/403     401",
    "hub.policy.api.import_consents":  "403/403   403/403   ok/ok     403/403   ok/ok     403/403     401",
    "hub.policy.api.withdraw_consent": "403/403   403/403   ok/404    403/403   ok/ok     403/403     401",
    "hub.policy.api.lodge_objection":  "403/403   403/403   ok/403    403/403   ok/ok     403/403     401",
    "hub.policy.api.withdraw_objection": "403/403 403/403   ok/404    403/403   ok/ok     403/403     401",
    "hub.policy.api.subject_consents": "403/403   403/403   ok/ok     403/403   ok/ok     403/403     401",
    "hub.policy.api.subject_disclosures": "403/403 403/403  ok/ok     403/403   ok/ok     403/403     401",
    # a stored record is dry-run only by governance of its publisher (issue 10, item 3)
    # a stored record is dry-run by its publisher's governance only (admin included in "nobody else")
    "hub.policy.api.dry_run":          "403/403   403/403   ok/404    403/403   404/404   403/403     401",
    # the one-time token is the credential
    "hub.orgs.api.enrol":              "ok/ok     ok/ok     ok/ok     ok/ok     ok/ok     ok/ok       ok",
    "hub.health.api.list_agents":      "403/403   403/403   ok/403    ok/403    ok/ok     ok/ok       401",
    "hub.health.api.get_agent":        "403/403   403/403   ok/404    ok/404    ok/ok     ok/ok       401",
    # only an agent's own credential reports for it
    "hub.health.api.heartbeat":        "403/403   403/403   403/403   403/403   403/403   403/403     401",
    # an agent's configuration: its org's agent-admin (no column here) and ops; the hub operator and admin
    # read every agent's and propose; only the agent's org approves a proposal
    "hub.agentconfig.api.overview":    "403/404   403/404   403/404   ok/404    ok/ok     ok/ok       401",
    "hub.agentconfig.api.create_version": "403/404 403/404  403/404   ok/404    ok/ok     ok/ok       401",
    "hub.agentconfig.api.get_version": "403/404   403/404   403/404   ok/404    ok/ok     ok/ok       401",
    "hub.agentconfig.api.decide":      "403/404   403/404   403/404   ok/404    ok/403    ok/403      401",
    # the version in force and the reports on it: the agent's own credential only
    "hub.agentconfig.api.current":     "403/403   403/403   403/403   403/403   403/403   403/403     401",
    "hub.agentconfig.api.report":      "403/403   403/403   403/403   403/403   403/403   403/403     401",
    "hub.audit.api.list_entries":      "403/403   403/403   ok/ok     ok/ok     ok/ok     ok/ok       401",
    "hub.audit.api.verify_chain":      "403/403   403/403   ok/ok     ok/ok     ok/ok     ok/ok       401",
    "hub.delivery.api.create_subscription": "403/403 ok/403 403/403   403/403   ok/ok     403/403     401",
    "hub.delivery.api.list_subscriptions": "403/403 ok/403  ok/403    ok/403    ok/ok     ok/ok       401",
    "hub.delivery.api.get_subscription": "403/403 ok/404    ok/404    ok/404    ok/ok     ok/ok       401",
    "hub.delivery.api.delete_subscription": "403/403 ok/404 403/403   403/403   ok/ok     403/403     401",
    "hub.delivery.api.subscription_status": "403/403 ok/404 ok/404    ok/404    ok/ok     ok/ok       401",
    "hub.delivery.api.rotate_secret":  "403/403   ok/404    403/403   403/403   ok/ok     403/403     401",
    "hub.delivery.api.list_dead_letters": "403/403 ok/404   ok/404    ok/404    ok/ok     ok/403      401",
    "hub.delivery.api.retry_dead_letters": "403/403 ok/404  403/403   ok/404    ok/ok     ok/403      401",
    "hub.delivery.api.retry_dead_letter": "403/403 ok/404   403/403   ok/404    ok/ok     ok/403      401",
    "hub.delivery.api.replay":         "403/403   ok/404    403/403   ok/404    ok/ok     ok/403      401",
    "hub.delivery.api.pause":          "403/403   ok/404    403/403   ok/404    ok/ok     ok/403      401",
    "hub.delivery.api.resume":         "403/403   ok/404    403/403   ok/404    ok/ok     ok/403      401",
    "hub.delivery.api.try_now":        "403/403   ok/404    403/403   ok/404    ok/ok     ok/403      401",
    # the hub operator reads attempts as metadata (times, outcomes, latencies)
    "hub.delivery.api.list_attempts":  "403/403   ok/404    ok/404    ok/404    ok/ok     ok/ok       401",
    # a disclosure of the event as sent: the recipient's own readers and admin, not the hub operator
    "hub.delivery.api.dead_letter_event": "403/403 ok/404   ok/404    ok/404    ok/ok     ok/403      401",
    "hub.delivery.api.feed":           "403/403   ok/404    403/403   403/403   ok/ok     403/403     401",
    "hub.delivery.api.ack":            "403/403   ok/404    403/403   403/403   ok/ok     403/403     401",
    "hub.returns.api.list_returns":    "ok/ok     ok/ok     ok/ok     ok/ok     ok/ok     ok/ok       401",
    # a council sees its own return; the hub operator is neither council nor requester
    "hub.returns.api.period_status":   "ok/ok     ok/ok     ok/ok     ok/ok     ok/ok     404/404     401",
    "hub.returns.api.grid":            "ok/ok     ok/ok     ok/ok     ok/ok     ok/ok     404/404     401",
    "hub.returns.api.submission":      "ok/404    ok/404    ok/404    ok/404    ok/ok     404/404     401",
    # returns drafted as data: a requesting org's governance drafts, the hub's admin approves;
    # drafts are seen by their owner org (any role) and admin; rows come from the council's publisher
    "hub.returns.api.list_definitions": "ok/ok    ok/ok     ok/ok     ok/ok     ok/ok     ok/ok       401",
    "hub.returns.api.draft_definition": "403/403  403/403   ok/403    403/403   ok/ok     403/403     401",
    "hub.returns.api.get_definition":  "ok/404    ok/404    ok/404    ok/404    ok/ok     ok/404      401",
    "hub.returns.api.set_definition_lifecycle": "403/403 403/403 ok/404 403/403   ok/ok     403/403     401",
    "hub.returns.api.approve_definition": "403/403 403/403  403/403   403/403   ok/ok     403/403     401",
    "hub.returns.api.submit_rows":     "ok/403    403/403   403/403   403/403   ok/ok     403/403     401",
    # sign-off: the council's governance approves its own set; the requesting org's governance accepts
    "hub.returns.api.sign_off":        "403/403   403/403   ok/403    403/403   ok/ok     403/403     401",
    "hub.returns.api.sign_off#accept": "403/403   403/403   ok/403    403/403   ok/ok     403/403     401",
    "hub.returns.api.set_auto_approve": "403/403  403/403   ok/403    403/403   ok/ok     403/403     401",
    "hub.returns.api.template":        "ok/ok     ok/ok     ok/ok     ok/ok     ok/ok     ok/ok       401",
    "hub.returns.api.upload_rows":     "ok/403    403/403   403/403   403/403   ok/ok     403/403     401",
    # several staff on one draft: one row at a time, who changed what, submitters scoped per return
    "hub.returns.api.edit_row":        "ok/403    403/403   403/403   403/403   ok/ok     403/403     401",
    "hub.returns.api.row_history":     "ok/404    ok/404    ok/404    ok/404    ok/ok     ok/404      401",
    "hub.returns.api.list_submitters": "403/403   403/403   ok/ok     403/403   ok/ok     403/403     401",
    "hub.returns.api.assign_submitter": "403/403  403/403   ok/404    403/403   ok/ok     403/403     401",
    # a return derived from records: which records each figure came from, to the council's own staff and admin
    "hub.returns.derived_api.lineage": "ok/404    ok/404    ok/404    ok/404    ok/ok     ok/404      401",
    "hub.returns.derived_api.derive":  "ok/403    403/403   ok/403    403/403   ok/ok     403/403     401",
    # an org's returns calendar: its own credentials (any role) and admin; its feed address is made or
    # revoked by its staff (not machine keys); the .ics needs no key, the secret address is the credential
    "hub.returns.calendar_api.get_calendar": "ok/403 ok/403  ok/403    ok/403    ok/ok     ok/403      401",
    "hub.returns.calendar_api.make_calendar_feed": "403/403 403/403 ok/403 ok/403 ok/ok  ok/403      401",
    "hub.returns.calendar_api.revoke_calendar_feed": "403/403 403/403 ok/403 ok/403 ok/ok ok/403      401",
    "hub.returns.calendar_api.calendar_feed": "ok/ok ok/ok   ok/ok     ok/ok     ok/ok     ok/ok       ok",
    # a council's own row ("own": no org named); every council's for admin and the hub operator's ops
    "hub.coverage.api.coverage":       "ok/403    403/403   ok/403    ok/403    ok/ok     ok/ok       401",
    # each org its own referrals (sent and received); admin reads no payloads
    "hub.referrals.api.list_referrals": "ok/ok    ok/ok     ok/ok     403/403   403/403   403/403     401",
    # "other": glasgow's referral to sfrs, which names neither the caller nor is addressed to it
    "hub.referrals.api.get_referral":  "ok/404    ok/404    ok/404    403/403   403/403   403/403     401",
    # partnership figures: governance of the agreement's parties only (admin is no party)
    "hub.referrals.api.referral_report": "403/403 403/403   ok/404    403/403   404/404   403/403     401",
    # alerts: ops of the org concerned, admin, and (reading) the hub operator's ops
    "hub.alerts.api.list_alerts":      "403/403   403/403   403/403   ok/ok     ok/ok     ok/ok       401",
    "hub.alerts.api.get_alert":        "403/403   403/403   403/403   ok/404    ok/ok     ok/ok       401",
    "hub.alerts.api.silence_alert":    "403/403   403/403   403/403   ok/404    ok/ok     ok/403      401",
    "hub.alerts.api.get_alert_contact": "403/403  403/403   403/403   ok/403    ok/ok     ok/403      401",
    "hub.alerts.api.set_alert_contact": "403/403  403/403   403/403   ok/403    ok/ok     ok/403      401",
    # benchmarks: "own" a return the caller's org requests (it sees every council), "other" one glasgow
    # requests of itself alone; indicators and who sees names are set by the requesting org's governance
    "hub.benchmarks.api.list_benchmarks": "ok/ok  ok/ok     ok/ok     ok/ok     ok/ok     ok/ok       401",
    "hub.benchmarks.api.get_benchmark": "ok/404   ok/404    ok/404    ok/404    ok/ok     ok/404      401",
    "hub.benchmarks.api.list_indicators": "ok/404 ok/404    ok/404    ok/404    ok/ok     ok/404      401",
    "hub.benchmarks.api.set_indicator": "403/403  403/403   ok/403    403/403   ok/ok     403/403     401",
    "hub.benchmarks.api.remove_indicator": "403/403 403/403 ok/403    403/403   ok/ok     403/403     401",
    "hub.benchmarks.api.set_settings": "403/403   403/403   ok/403    403/403   ok/ok     403/403     401",
    # family groups are the hub admin's to set; anyone reads the groups its org is in
    "hub.benchmarks.api.list_groups":  "ok/ok     ok/ok     ok/ok     ok/ok     ok/ok     ok/ok       401",
    "hub.benchmarks.api.set_group":    "403/403   403/403   403/403   403/403   ok/ok     403/403     401",
    "hub.benchmarks.api.remove_group": "403/403   403/403   403/403   403/403   ok/ok     403/403     401",
}


def expected_cells(row: str) -> dict[tuple[str, str], str]:
    """'ok/404 ... 401' -> {(role, subject): outcome, ("no key", "-"): outcome}."""
    tokens = row.split()
    assert len(tokens) == len(ROLES) + 1, f"a row has {len(ROLES)} role cells and a no-key cell: {row!r}"
    cells = {}
    for role, token in zip(ROLES, tokens):
        own, other = token.split("/")
        cells[role, "own"], cells[role, "other"] = own, other
    cells["no key", "-"] = tokens[-1]
    for outcome in cells.values():
        assert outcome in ("ok", "401", "403", "404"), row
    return cells


def contract_operations() -> dict[str, tuple[str, str]]:
    spec = yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))
    return {op["operationId"]: (method.upper(), "/api/v1" + path)
            for path, item in spec["paths"].items() for method, op in item.items()
            if method in ("get", "put", "post", "delete", "patch")}


def operation_of(row_key: str) -> str:
    return row_key.split("#", 1)[0]


def test_every_operation_in_the_contract_has_a_row_and_every_row_an_operation():
    operations = contract_operations()
    missing = sorted(set(operations) - set(MATRIX))
    assert not missing, f"operations without a row in the authorisation matrix: {missing}"
    stale = sorted({operation_of(k) for k in MATRIX} - set(operations))
    assert not stale, f"rows for operations no longer in the contract: {stale}"
    missing_requests = sorted(set(MATRIX) - set(REQUESTS))
    assert not missing_requests, f"operations the matrix does not know how to call: {missing_requests}"
    for row in MATRIX.values():
        expected_cells(row)


# -- the objects each operation acts on, per org ------------------------------------------------
_ids = itertools.count(1)


@dataclass
class World:
    services: object
    hub: HubProcess
    keys: dict = field(default_factory=dict)
    cache: dict = field(default_factory=dict)

    def key(self, org: str, role: str) -> str:
        if (org, role) not in self.keys:
            self.keys[org, role] = self.services.orgs.issue_key(org, role, actor="test")
        return self.keys[org, role]

    def once(self, name, org, make):
        if (name, org) not in self.cache:
            self.cache[name, org] = make()
        return self.cache[name, org]

    @staticmethod
    def governance(org):
        return Principal(org=org, role="governance", credential_id="matrix")

    def record(self, org: str) -> str:
        def make():
            record = gazetteer_record(900000 + next(_ids), custodian=org)
            answer = requests.post(f"{self.hub.url}/api/v1/records", json={"records": [record]}, timeout=10,
                                   headers={"Authorization": f"Bearer {self.key(org, 'publisher')}"})
            assert answer.json()["results"][0]["status"] == "accepted", answer.text
            return record["id"]
        return self.once("record", org, make)

    def agreement_source(self, agreement_id: str, providers: list[str], title: str = "Matrix agreement") -> str:
        return agreement_yaml(agreement_id, providers, [THIRD], {"gazetteer-address": {"fields": ["uprn", "town"]}},
                              purposes=[PURPOSE], title=title, retention_days=30)

    def draft(self, org: str) -> str:
        """A fresh draft agreement between `org` (provider) and sfrs."""
        agreement_id = f"matrix-{org}-{next(_ids)}"
        self.services.policy.agreements.apply(self.agreement_source(agreement_id, [org]), self.governance(org),
                                              mode="create")
        return agreement_id

    def in_force(self, org: str, caller: str) -> str:
        """An active agreement. Of the caller's org: between it and sfrs. Of another org: its first
        draft named the caller too, the version put in force no longer does."""
        agreements, agreement_id = self.services.policy.agreements, f"matrix-force-{next(_ids)}"
        if org != caller:
            agreements.apply(self.agreement_source(agreement_id, [org, caller]), self.governance(org), mode="create")
        agreements.apply(self.agreement_source(agreement_id, [org], title="In force"), self.governance(org))
        for party in (org, THIRD):
            agreements.transition(agreement_id, "approved", self.governance(party))
        assert agreements.transition(agreement_id, "active", self.governance(org))["status"] == "active"
        return agreement_id

    def consent(self, org: str) -> str:
        return self.services.policy.consents.give(
            {"subject": "subj-matrix", "purpose": PURPOSE, "recipients": [THIRD], "method": "signed form",
             "evidence_ref": f"form-{next(_ids)}"}, self.governance(org))["id"]

    def objection(self, org: str) -> str:
        return self.services.policy.consents.object(
            {"subject": "subj-matrix", "method": "letter", "evidence_ref": f"letter-{next(_ids)}"},
            self.governance(org))["id"]

    def subscription(self, org: str, channel: str = "pull", fresh: bool = False) -> str:
        def make():
            body = {"dataset": "gazetteer-address", "purpose": PURPOSE, "channel": channel, "start": "beginning"}
            if channel == "webhook":
                body["url"] = "http://127.0.0.1:9/matrix"
            return self.services.delivery.subscribe(body, Principal(org=org, role="subscriber",
                                                                    credential_id="matrix"))["id"]
        return make() if fresh else self.once(f"subscription-{channel}", org, make)

    def referral(self, org: str) -> str:
        """A referral `org` made to sfrs."""
        def make():
            record = referral(f"MATRIX-{org.upper()}-{next(_ids)}", THIRD, referring_org=org)
            answer = requests.post(f"{self.hub.url}/api/v1/records", json={"records": [record]}, timeout=10,
                                   headers={"Authorization": f"Bearer {self.key(org, 'publisher')}"})
            assert answer.json()["results"][0]["status"] == "accepted", answer.text
            return record["key"]
        return self.once("referral", org, make)

    def referral_agreement(self, org: str) -> str:
        """An active agreement letting `org` refer people to sfrs."""
        def make():
            agreements, agreement_id = self.services.policy.agreements, f"matrix-referrals-{org}"
            agreements.apply(agreement_yaml(agreement_id, [org], [THIRD], {"referral": {"fields": ["referral_id"]}}),
                             self.governance(org), mode="create")
            for party in (org, THIRD):
                agreements.transition(agreement_id, "approved", self.governance(party))
            agreements.transition(agreement_id, "active", self.governance(org))
            return agreement_id
        return self.once("referral-agreement", org, make)

    def dead_letter(self, sub_id: str) -> int:
        now = db.utcnow()
        with db.write_transaction(self.services.engine) as conn:
            return conn.execute(dead_letters.insert().values(
                subscription_id=sub_id, seq=1, record_id=str(uuid.uuid4()), webhook_id=f"msg_{next(_ids)}",
                state="dead", status_code=400, error="refused", attempts=1, created_at=now,
                updated_at=now)).inserted_primary_key[0]

    def return_draft(self, org: str) -> str:
        """A fresh draft of a return requested by `org`."""
        name = f"data-return.matrix-{next(_ids)}"
        self.services.returns.definitions.draft(return_spec(name), self.governance(org))
        return name

    def rows_return(self, fresh: bool = False) -> str:
        """A return drafted as data and in force, asked of the caller's council and the other one."""
        def make():
            name = self.return_draft(THIRD)
            self.services.returns.definitions.approve(name, 1, Principal(org=THIRD, role="admin", credential_id="m"))
            return name
        return make() if fresh else self.once("rows-return", THIRD, make)

    def row_set(self, council: str, requester: str, submitted_by_council: bool = True) -> str:
        """A fresh return requested by `requester`, with `council`'s row set for PERIOD submitted
        (and, unless the council is to approve it, approved)."""
        returns = self.services.returns
        name = f"data-return.matrix-{next(_ids)}"
        spec = {**return_spec(name), "expected_publishers": [CALLER, OTHER, THIRD, OPERATOR]}
        returns.definitions.draft(spec, self.governance(requester))
        returns.definitions.approve(name, 1, Principal(org=THIRD, role="admin", credential_id="m"))
        publisher = Principal(org=council, role="publisher", credential_id="m")
        returns.submit_rows(name, PERIOD, council, [{"key": "school-1", "values": {"pupils": 1}}], publisher)
        returns.sign_off(name, PERIOD, council, "submit", None, publisher)
        if not submitted_by_council:
            returns.sign_off(name, PERIOD, council, "approve", None, self.governance(council))
        return name

    def submitter(self, org: str) -> str:
        """A console submitter account of `org`."""
        def make():
            username = f"submitter-{org}"
            self.services.accounts.add_user(username, org, "submitter", "a long enough password")
            return username
        return self.once("submitter", org, make)

    def derived_return(self, org: str) -> str:
        """A return derived from planning-application records, with `org`'s set for PERIOD computed."""
        returns = self.services.returns
        name = self.once("derived-return", THIRD, lambda: f"data-return.matrix-derived-{next(_ids)}")

        def make():
            if not returns.definitions.versions_in_force(name):
                spec = {**return_spec(name), "expected_publishers": [CALLER, OTHER, OPERATOR],
                        "fields": {"type": "object", "required": ["received"],
                                   "properties": {"received": {"type": "integer"}}},
                        "derived_from": {"dataset": "planning-application", "period_field": "received_date",
                                         "measures": [{"as": "received", "count": True}]}}
                returns.definitions.draft(spec, self.governance(THIRD))
                returns.definitions.approve(name, 1, Principal(org=THIRD, role="admin", credential_id="m"))
            publisher = self.services.orgs.authenticate(self.services.orgs.issue_key(org, "publisher", actor="m"))
            self.services.records.publish({"records": [{
                "id": str(uuid.uuid4()), "dataset": "planning-application", "schema_version": 1, "op": "upsert",
                "occurred_at": "2026-07-01T12:00:00Z", "payload": {
                    "reference": f"26/{next(_ids)}/FUL", "council": org, "site_address": "1 High Street",
                    "description": "A proposal", "application_type": "full", "received_date": "2026-07-01",
                    "status": "received"}}]}, publisher)
            self.services.derived_returns.refresh(returns.declaration(name), org, publisher)
            return name
        return self.once("derived-set", org, make)

    def benchmark_return(self, org: str) -> str:
        """A return in force that `org` requests of glasgow alone, with an indicator."""
        def make():
            name = f"data-return.matrix-{next(_ids)}"
            spec = {**return_spec(name), "expected_publishers": [OTHER]}
            self.services.returns.definitions.draft(spec, self.governance(org))
            self.services.returns.definitions.approve(name, 1, Principal(org=THIRD, role="admin", credential_id="m"))
            return name
        return self.once("benchmark-return", org, make)

    def benchmark_indicator(self, org: str) -> str:
        """The return's indicator, (re)made for each cell so that every removal has one to remove."""
        name = self.benchmark_return(org)
        self.services.benchmarks.set_indicator(name, "pupils_per_1000", BENCHMARK_INDICATOR, self.governance(org))
        return name

    def family_group(self, org: str) -> str:
        name = f"matrix-{org}-{next(_ids)}"
        self.services.benchmarks.groups.set(name, {"title": "Matrix group", "members": [CALLER, OTHER]},
                                            Principal(org=THIRD, role="admin", credential_id="m"))
        return name

    def alert(self, org: str) -> int:
        """An open alert episode concerning `org` alone."""
        def make():
            condition = Condition("matrix", f"matrix-{org}", (org,), f"matrix alert of {org}")
            with db.write_transaction(self.services.engine) as conn:
                alert_episodes.apply(conn, [condition], {"matrix"}, db.utcnow(), lambda orgs: [])
            (found,) = [a for a in self.services.alerts.list_alerts(Principal(org=org, role="admin", credential_id="m"))
                        if a["key"] == f"matrix-{org}"]
            return found["id"]
        return self.once("alert", org, make)

    def alert_contact(self, org: str) -> None:
        self.once("alert-contact", org, lambda: self.services.alerts.set_contact(
            Principal(org=org, role="admin", credential_id="m"), org, f"ops@{org}.example", None))

    def calendar_feed_token(self, org: str) -> str:
        from hub.returns.feeds import make_feed

        made = make_feed(self.services.engine, org, Principal(org=org, role="governance", credential_id="test"),
                         self.services.clock(), "https://hub.example")
        return made["url"].rsplit("/", 1)[1].removesuffix(".ics")

    def enrolment_token(self, org: str) -> str:
        return self.services.orgs.create_enrolment(org, 3600, actor="test")[0]

    def configured_agent(self, org: str) -> str:
        """The org's agent with a first configuration version, written by its own IT."""
        def make():
            agent_id = self.agent(org)
            self.services.agent_config.create_version(Principal(org=org, role="agent-admin", credential_id="matrix"),
                                                      agent_id, AGENT_TASKS)
            return agent_id
        return self.once("configured-agent", org, make)

    def proposal(self, org: str) -> tuple[str, int]:
        """A fresh proposal for the org's agent, by an admin of another org."""
        agent_id = self.configured_agent(org)
        made = self.services.agent_config.create_version(Principal(org=THIRD, role="admin", credential_id="matrix"),
                                                         agent_id, AGENT_TASKS)
        return agent_id, made["version"]

    def agent(self, org: str) -> str:
        def make():
            answer = self.services.orgs.enrol_agent(self.enrolment_token(org), public_key_b64(generate_key()),
                                                    f"{org}-agent", "1.0")
            return answer["agent_id"]
        return self.once("agent", org, make)


def return_spec(name: str, requesting_org: str | None = None) -> dict:
    spec = {"name": name, "title": f"Matrix return {name}", "frequency": "quarterly", "due_days_after_period_end": 30,
            "expected_publishers": [CALLER, OTHER], "introduced": "2026-01-01",
            "fields": {"type": "object", "properties": {"pupils": {"type": "integer"}}}}
    return {**spec, "requesting_org": requesting_org} if requesting_org else spec


@dataclass
class Call:
    path: dict = field(default_factory=dict)  # path parameters
    params: dict | None = None
    json: dict | None = None
    data: str | None = None
    content_type: str | None = None


def _subscription_call(channel="pull", fresh=False, body=None):
    return lambda w, org, caller: Call({"subscription_id": w.subscription(org, channel, fresh)}, json=body)


def _retry_one(w, org, caller):
    sub = w.subscription(org)
    return Call({"subscription_id": sub, "letter_id": w.dead_letter(sub)})


def _update(w, org, caller):
    agreement_id = w.draft(org)
    # another org's agreement: the caller tries to write itself in as a provider
    providers = [org] if org == caller else [org, caller]
    return Call({"agreement_id": agreement_id},
                json={"source": w.agreement_source(agreement_id, providers, title="Matrix agreement, changed")})


def _consent_body(kind):
    def build(w, org, caller):
        body = {"subject": "subj-matrix", "controller": org, "method": "signed form",
                "evidence_ref": f"ref-{next(_ids)}"}
        if kind == "consent":
            body.update(purpose=PURPOSE, recipients=[THIRD])
        return Call(json=body)
    return build


def _dry_run(w, org, caller):
    # on another org's record, the caller names itself the recipient (issue 10, item 3)
    return Call(json={"record_id": w.record(org), "recipient": THIRD if org == caller else caller,
                      "purpose": PURPOSE})


def _heartbeat(w, org, caller):
    return Call({"agent_id": w.agent(org)}, json={"version": "1.0", "uptime_seconds": 1, "tasks": []})


def _decide(w, org, caller):
    agent_id, version = w.proposal(org)
    return Call({"agent_id": agent_id, "version": version}, json={"decision": "approve"})


AGENT_TASKS = """tasks:
  - name: gazetteer
    direction: publish
    dataset: gazetteer-address
    connector: {kind: spreadsheet, options: {folder: /srv/gazetteer}}
    mapping: {fields: {uprn: UPRN}}
    schedule: {interval_seconds: 60}
"""
SUBSCRIPTION = _subscription_call()
REQUESTS = {
    "hub.health.api.health": lambda w, org, caller: Call(),
    "hub.records.api.list_datasets": lambda w, org, caller: Call(),
    "hub.records.api.get_dataset": lambda w, org, caller: Call({"dataset": "gazetteer-address"}),
    "hub.records.api.get_schema": lambda w, org, caller: Call({"dataset": "gazetteer-address", "version": 1}),
    "hub.records.api.publish": lambda w, org, caller: Call(json={"records": [gazetteer_record(800000 + next(_ids))]}),
    "hub.records.api.get_record": lambda w, org, caller: Call({"record_id": w.record(org)}),
    "hub.records.api.feed": lambda w, org, caller: Call({"dataset": "gazetteer-address"}, params={"purpose": PURPOSE}),
    "hub.policy.api.list_agreements": lambda w, org, caller: Call(),
    "hub.policy.api.create_agreement": lambda w, org, caller: Call(
        json={"source": w.agreement_source(f"matrix-new-{next(_ids)}", [org])}),
    "hub.policy.api.get_agreement": lambda w, org, caller: Call({"agreement_id": w.once("draft", org,
                                                                                          lambda: w.draft(org))}),
    "hub.policy.api.update_agreement": _update,
    "hub.policy.api.list_versions": lambda w, org, caller: Call({"agreement_id": w.once("draft", org,
                                                                                          lambda: w.draft(org))}),
    "hub.policy.api.transition": lambda w, org, caller: Call({"agreement_id": w.draft(org)}, json={"to": "approved"}),
    "hub.policy.api.transition#suspend": lambda w, org, caller: Call({"agreement_id": w.in_force(org, caller)},
                                                                      json={"to": "suspended", "reason": "matrix"}),
    "hub.policy.api.give_consent": _consent_body("consent"),
    "hub.policy.api.import_consents": lambda w, org, caller: Call(
        data=("subject,purpose,recipients,method,evidence_ref,given_at\n"
              f"subj-import,{PURPOSE},{THIRD},signed form,import-{next(_ids)},2026-01-05T10:00:00Z\n"),
        content_type="text/csv"),
    "hub.policy.api.withdraw_consent": lambda w, org, caller: Call({"consent_id": w.consent(org)}),
    "hub.policy.api.lodge_objection": _consent_body("objection"),
    "hub.policy.api.withdraw_objection": lambda w, org, caller: Call({"objection_id": w.objection(org)}),
    "hub.policy.api.subject_consents": lambda w, org, caller: Call({"subject": "subj-matrix"}),
    "hub.policy.api.subject_disclosures": lambda w, org, caller: Call({"subject": "subj-matrix"}),
    "hub.policy.api.dry_run": _dry_run,
    "hub.orgs.api.enrol": lambda w, org, caller: Call(json={
        "token": w.enrolment_token(org), "public_key": public_key_b64(generate_key()), "name": f"m-{next(_ids)}"}),
    "hub.health.api.list_agents": lambda w, org, caller: (w.agent(org), Call(params={"org": org}))[1],
    "hub.health.api.get_agent": lambda w, org, caller: Call({"agent_id": w.agent(org)}),
    "hub.health.api.heartbeat": _heartbeat,
    "hub.agentconfig.api.overview": lambda w, org, caller: Call({"agent_id": w.configured_agent(org)}),
    "hub.agentconfig.api.create_version": lambda w, org, caller: Call({"agent_id": w.configured_agent(org)},
                                                                      json={"source": AGENT_TASKS}),
    "hub.agentconfig.api.get_version": lambda w, org, caller: Call({"agent_id": w.configured_agent(org),
                                                                    "version": 1}),
    "hub.agentconfig.api.decide": _decide,
    "hub.agentconfig.api.current": lambda w, org, caller: Call({"agent_id": w.configured_agent(org)}),
    "hub.agentconfig.api.report": lambda w, org, caller: Call({"agent_id": w.configured_agent(org)},
                                                              json={"version": 1, "outcome": "applied"}),
    "hub.audit.api.list_entries": lambda w, org, caller: Call(),
    "hub.audit.api.verify_chain": lambda w, org, caller: Call(),
    "hub.delivery.api.create_subscription": lambda w, org, caller: Call(json={
        "dataset": "gazetteer-address", "purpose": PURPOSE, "channel": "pull", "org": org}),
    "hub.delivery.api.list_subscriptions": lambda w, org, caller: (w.subscription(org),
                                                                   Call(params={"org": org}))[1],
    "hub.delivery.api.get_subscription": SUBSCRIPTION,
    "hub.delivery.api.delete_subscription": _subscription_call(fresh=True),
    "hub.delivery.api.subscription_status": SUBSCRIPTION,
    "hub.delivery.api.rotate_secret": _subscription_call("webhook", body={}),
    "hub.delivery.api.list_dead_letters": SUBSCRIPTION,
    "hub.delivery.api.retry_dead_letters": SUBSCRIPTION,
    "hub.delivery.api.retry_dead_letter": _retry_one,
    "hub.delivery.api.replay": lambda w, org, caller: Call({"subscription_id": w.subscription(org)},
                                                           json={"from_seq": 1}),
    "hub.delivery.api.pause": _subscription_call("webhook", fresh=True),
    "hub.delivery.api.resume": _subscription_call("webhook", fresh=True),
    "hub.delivery.api.try_now": _subscription_call("webhook", fresh=True),
    "hub.delivery.api.list_attempts": SUBSCRIPTION,
    "hub.delivery.api.dead_letter_event": lambda w, org, caller: (
        lambda sub: Call({"subscription_id": sub, "letter_id": w.dead_letter(sub)}))(w.subscription(org)),
    "hub.delivery.api.feed": SUBSCRIPTION,
    "hub.delivery.api.ack": lambda w, org, caller: Call({"subscription_id": w.subscription(org)}, json={"seq": 0}),
    "hub.returns.api.list_returns": lambda w, org, caller: Call(),
    "hub.returns.api.period_status": lambda w, org, caller: Call({"dataset": RETURN}, params={"period": PERIOD}),
    "hub.returns.api.grid": lambda w, org, caller: Call({"dataset": RETURN}),
    "hub.returns.api.submission": lambda w, org, caller: Call({"dataset": RETURN, "period": PERIOD, "org": org}),
    "hub.returns.api.list_definitions": lambda w, org, caller: Call(),
    "hub.returns.api.template": lambda w, org, caller: Call({"dataset": w.rows_return()}),
    "hub.returns.api.upload_rows": lambda w, org, caller: Call(
        {"dataset": w.rows_return(fresh=True), "period": PERIOD, "org": org}, data="key,pupils\nschool-1,10\n",
        content_type="text/csv"),
    "hub.returns.api.edit_row": lambda w, org, caller: Call(
        {"dataset": w.rows_return(), "period": PERIOD, "org": org},
        json={"key": f"school-{next(_ids)}", "values": {"pupils": 2}}),
    "hub.returns.api.row_history": lambda w, org, caller: Call(
        {"dataset": w.once("row-history", org, lambda: w.row_set(org, THIRD)), "period": PERIOD, "org": org}),
    "hub.returns.api.list_submitters": lambda w, org, caller: Call({"dataset": w.rows_return()}),
    "hub.returns.api.assign_submitter": lambda w, org, caller: Call(
        {"dataset": w.rows_return(), "username": w.submitter(org)}, json={"assigned": True}),
    "hub.returns.api.sign_off": lambda w, org, caller: Call(
        {"dataset": w.row_set(org, THIRD), "period": PERIOD, "org": org}, json={"action": "approve"}),
    "hub.returns.api.sign_off#accept": lambda w, org, caller: Call(
        {"dataset": w.row_set(THIRD, org, submitted_by_council=False), "period": PERIOD, "org": THIRD},
        json={"action": "accept"}),
    "hub.returns.api.set_auto_approve": lambda w, org, caller: Call(
        {"dataset": w.rows_return(fresh=True), "org": org}, json={"enabled": True}),
    "hub.returns.api.draft_definition": lambda w, org, caller: Call(
        json=return_spec(f"data-return.matrix-{next(_ids)}", requesting_org=org)),
    "hub.returns.api.get_definition": lambda w, org, caller: Call({"name": w.once("return", org,
                                                                                 lambda: w.return_draft(org))}),
    "hub.returns.api.set_definition_lifecycle": lambda w, org, caller: Call(
        {"name": w.once("return", org, lambda: w.return_draft(org))}, json={"reviewed": "2026-06-01"}),
    "hub.returns.api.approve_definition": lambda w, org, caller: Call({"name": w.return_draft(org), "version": 1}),
    "hub.returns.api.submit_rows": lambda w, org, caller: Call(
        {"dataset": w.rows_return(), "period": PERIOD, "org": org},
        json={"rows": [{"key": "school-1", "values": {"pupils": 10}}]}),
    "hub.returns.derived_api.lineage": lambda w, org, caller: Call(
        {"dataset": w.derived_return(org), "period": PERIOD, "org": org}),
    "hub.returns.derived_api.derive": lambda w, org, caller: Call(
        {"dataset": w.derived_return(org), "period": PERIOD, "org": org}, json={}),
    "hub.returns.calendar_api.get_calendar": lambda w, org, caller: Call({"org": org}),
    "hub.returns.calendar_api.make_calendar_feed": lambda w, org, caller: Call({"org": org}),
    "hub.returns.calendar_api.revoke_calendar_feed": lambda w, org, caller: Call({"org": org}),
    "hub.returns.calendar_api.calendar_feed": lambda w, org, caller: Call({"org": org,
                                                                            "token": w.calendar_feed_token(org)}),
    "hub.coverage.api.coverage": lambda w, org, caller: Call(params={} if org == caller else {"org": org}),
    "hub.referrals.api.list_referrals": lambda w, org, caller: (w.referral(org), Call())[1],
    "hub.referrals.api.get_referral": lambda w, org, caller: Call({"referring_org": org, "referral_id": w.referral(org)}),
    "hub.referrals.api.referral_report": lambda w, org, caller: Call({"agreement_id": w.referral_agreement(org)}),
    "hub.benchmarks.api.list_benchmarks": lambda w, org, caller: Call(),
    "hub.benchmarks.api.get_benchmark": lambda w, org, caller: Call({"dataset": w.benchmark_return(org)}),
    "hub.benchmarks.api.list_indicators": lambda w, org, caller: Call({"dataset": w.benchmark_return(org)}),
    "hub.benchmarks.api.set_indicator": lambda w, org, caller: Call(
        {"dataset": w.benchmark_return(org), "name": "pupils_per_1000"}, json=BENCHMARK_INDICATOR),
    "hub.benchmarks.api.remove_indicator": lambda w, org, caller: Call(
        {"dataset": w.benchmark_indicator(org), "name": "pupils_per_1000"}),
    "hub.benchmarks.api.set_settings": lambda w, org, caller: Call(
        {"dataset": w.benchmark_return(org)}, json={"named_figures": "councils"}),
    "hub.benchmarks.api.list_groups": lambda w, org, caller: Call(),
    "hub.benchmarks.api.set_group": lambda w, org, caller: Call(
        {"name": f"matrix-{org}"}, json={"title": "Matrix group", "members": [org] if org != OPERATOR else [CALLER]}),
    "hub.benchmarks.api.remove_group": lambda w, org, caller: Call({"name": w.family_group(org)}),
    "hub.alerts.api.list_alerts": lambda w, org, caller: (w.alert(org), Call())[1],
    "hub.alerts.api.get_alert": lambda w, org, caller: Call({"alert_id": w.alert(org)}),
    "hub.alerts.api.silence_alert": lambda w, org, caller: Call({"alert_id": w.alert(org)},
                                                                json={"minutes": 60, "reason": "matrix"}),
    "hub.alerts.api.get_alert_contact": lambda w, org, caller: (w.alert_contact(org), Call({"org": org}))[1],
    "hub.alerts.api.set_alert_contact": lambda w, org, caller: Call({"org": org}, json={"email": f"ops@{org}.example"}),
}


def caller_of(role: str) -> tuple[str, str]:
    return (OPERATOR, "ops") if role == "operator-ops" else (CALLER, role)


def outcome_of(status: int) -> str:
    return "ok" if 200 <= status < 300 else str(status)


@pytest.fixture
def settings(db_url):
    return Settings(db_url=db_url, hub_operator=OPERATOR,
                    delivery=DeliverySettings(webhook_allow=("127.0.0.1/32",), secrets_key=SECRETS_KEY))


@pytest.fixture
def world(settings, db_url, tmp_path):
    services = build_services(settings)
    for slug, name, kind in [(CALLER, "The City of Edinburgh Council", "council"),
                             (OTHER, "Glasgow City Council", "council"),
                             (OPERATOR, "Improvement Service", "agency"),
                             (THIRD, "Scottish Fire and Rescue Service", "agency")]:
        services.orgs.add_org(slug, name, kind, actor="test")
    env = {"CAUSEWAY_HUB_OPERATOR": OPERATOR, "CAUSEWAY_WEBHOOK_ALLOW_NETWORKS": "127.0.0.1/32",
           "CAUSEWAY_SECRETS_KEY": SECRETS_KEY, "CAUSEWAY_RETRY_SCHEDULE": "3600"}
    with HubProcess(db_url, env=env, log_path=tmp_path / "hub.log") as hub:
        world = World(services, hub)
        world.record(CALLER)  # the log is not empty: replays have somewhere to go back to
        yield world
    services.engine.dispose()


def test_the_matrix_holds_for_every_operation_role_and_subject(world):
    operations = contract_operations()
    session = requests.Session()
    wrong = []
    for row_key, row in sorted(MATRIX.items()):
        method, template = operations[operation_of(row_key)]
        for (role, subject), expected in expected_cells(row).items():
            if role == "no key":
                org, key = CALLER, None
                target = CALLER
            else:
                org, key_role = caller_of(role)
                key = world.key(org, key_role)
                target = org if subject == "own" else OTHER
            call = REQUESTS[row_key](world, target, org)
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            if call.content_type:
                headers["Content-Type"] = call.content_type
            answer = session.request(method, world.hub.url + template.format(**call.path), params=call.params,
                                     json=call.json, data=call.data, headers=headers, timeout=30)
            got = outcome_of(answer.status_code)
            if got != expected:
                detail = answer.text[:160].replace("\n", " ")
                wrong.append(f"{row_key} {role}/{subject}: expected {expected}, got {answer.status_code} {detail}")
    assert not wrong, f"{len(wrong)} cells differ from the rules:\n" + "\n".join(wrong)
