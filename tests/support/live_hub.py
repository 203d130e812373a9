"""A hub database with something in every corner, for fuzzing the contract against a
live process: the example orgs, agreements in force, records, consents, an objection,
subscriptions of every channel a hub without a broker has, an enrolled agent with a
heartbeat, data returns, and a key of every role for two orgs (a council and an agency),
an ops key of the hub operator and an admin key."""
from __future__ import annotations

import uuid

import yaml

from causeway_common.catalogue import load_catalogue
from causeway_common.signing import generate_key, public_key_b64
from hub.app import build_services
from hub.config import DeliverySettings, Settings
from hub.db import make_engine
from hub.migrate import upgrade
from hub.records.service import sync_catalogue
from hub.returns.demo import publish_example_returns
from hub.returns.reference import load_population_csv
from support.agreements import POLICIES
from support.factories import gazetteer_record, referral_record

ROLES = ("publisher", "subscriber", "governance", "ops", "admin")
ORGS = ("edinburgh", "sds")
OPERATOR, ADMIN_ORG = "improvement-service", "scottish-government"
LOOPBACK = "127.0.0.0/8"  # webhooks may reach the local receiver (and nothing else is reachable)


def seed(db_url: str, webhook_url: str) -> dict:
    """Fill a new database; returns the keys (by "org/role") and the ids the fuzzer's
    examples point at."""
    engine = make_engine(db_url)
    upgrade(engine)
    sync_catalogue(engine, load_catalogue())
    settings = Settings(db_url=db_url, hub_operator=OPERATOR, delivery=DeliverySettings(webhook_allow=(LOOPBACK,)))
    services = build_services(settings, engine)
    for entry in yaml.safe_load((POLICIES / "orgs.yaml").read_text(encoding="utf-8")):
        services.orgs.ensure_org(entry["slug"], entry["name"], entry.get("kind", "council"))
    load_population_csv(services.engine, (POLICIES / "population.csv").read_text(encoding="utf-8-sig"), 2026)
    publish_example_returns(services)

    keys = {f"{org}/{role}": services.orgs.issue_key(org, role, label="contract") for org in ORGS for role in ROLES}
    keys["operator/ops"] = services.orgs.issue_key(OPERATOR, "ops", label="contract")
    keys["admin"] = services.orgs.issue_key(ADMIN_ORG, "admin", label="contract")
    who = {name: services.orgs.authenticate(key) for name, key in keys.items()}

    agreements = []
    for path in sorted(POLICIES.glob("*.yaml")):
        if path.name == "orgs.yaml":
            continue
        written = services.policy.agreements.apply(path.read_text(encoding="utf-8"), who["admin"])
        document = services.policy.agreements.versions(written["id"], who["admin"])[-1]["document"]
        for party in dict.fromkeys(document["providers"] + document["recipients"]):  # every party approves
            org = OPERATOR if party == "public" else party  # the hub operator approves for the public
            governance = who.get(f"{org}/governance") or services.orgs.authenticate(
                services.orgs.issue_key(org, "governance", label="contract"))
            services.policy.agreements.transition(written["id"], "approved", governance)
        services.policy.agreements.transition(written["id"], "active", who["admin"])
        agreements.append(written["id"])

    publisher = who["edinburgh/publisher"]
    referrals = [referral_record(f"REF-{n:03d}", subject=f"subj-{n:03d}") for n in range(3)]
    addresses = [gazetteer_record(906700000100 + n) for n in range(3)]
    published = services.records.publish({"records": referrals + addresses}, publisher)
    assert published.accepted == 6, published.results

    governance = who["edinburgh/governance"]
    consent = services.policy.consents.give({
        "subject": "subj-000", "purpose": "ServiceProvision", "recipients": ["sds"], "method": "signed form",
        "evidence_ref": "case/000", "given_at": "2026-01-02T10:00:00Z"}, governance)
    withdrawn = services.policy.consents.give({
        "subject": "subj-001", "purpose": "ServiceProvision", "recipients": ["sds"], "method": "signed form",
        "evidence_ref": "case/001", "given_at": "2026-01-02T10:00:00Z"}, governance)
    services.policy.consents.withdraw(withdrawn["id"], governance)
    to_withdraw = services.policy.consents.give({
        "subject": "subj-002", "purpose": "ServiceProvision", "recipients": ["sds"], "method": "online",
        "evidence_ref": "case/002", "given_at": "2026-01-03T10:00:00Z"}, governance)
    objection = services.policy.consents.object({
        "subject": "subj-002", "method": "letter", "evidence_ref": "case/002"}, governance)

    subscriber = who["sds/subscriber"]
    pull = services.delivery.subscribe({"dataset": "referral", "purpose": "ServiceProvision", "channel": "pull"},
                                       subscriber)
    services.delivery.feed(pull["id"], subscriber, None, 100)  # a disclosure in the subject-access report
    webhook = services.delivery.subscribe({"dataset": "referral", "purpose": "ServiceProvision",
                                           "channel": "webhook", "url": webhook_url}, subscriber)

    token, _ = services.orgs.create_enrolment("edinburgh", 3600, actor="contract")
    agent = services.orgs.enrol_agent(token, public_key_b64(generate_key()), "contract-agent", "1.0")
    keys["edinburgh/agent"] = agent["api_key"]
    services.health.record_heartbeat(services.orgs.authenticate(agent["api_key"]), agent["agent_id"], {
        "version": "1.0", "uptime_seconds": 12.5, "interval_seconds": 30, "outbox_depth": 0, "rejects": 0,
        "tasks": [{"name": "referrals", "direction": "publish", "status": "ok", "published": 3}]})
    spare_token, _ = services.orgs.create_enrolment("edinburgh", 3600, actor="contract")
    services.engine.dispose()
    referral_agreement = (POLICIES / "referral-edinburgh-sds.yaml").read_text(encoding="utf-8")
    return {
        "examples": {  # one valid request each, for what no schema can generate
            "hub.orgs.api.enrol": [{"body": {"token": spare_token, "public_key": public_key_b64(generate_key()),
                                             "name": "second-agent", "version": "1.0"}}],
            "hub.policy.api.create_agreement": [{"body": {"source": referral_agreement.replace(
                "id: referral-edinburgh-sds", "id: referral-edinburgh-sds-pilot")}}],
            "hub.policy.api.update_agreement": [{"path_parameters": {"agreement_id": "referral-edinburgh-sds"},
                                                 "body": {"source": referral_agreement.replace(
                                                     "retention_days: 365", "retention_days: 300")}}],
            "hub.policy.api.give_consent": [{"body": {
                "subject": "subj-010", "purpose": "ServiceProvision", "recipients": ["sds"], "method": "online",
                "evidence_ref": "case/010", "given_at": "2026-02-01T09:00:00Z"}}],
            "hub.policy.api.import_consents": [{"media_type": "text/csv", "body": (
                "subject,purpose,recipients,method,evidence_ref,given_at\r\n"
                "subj-011,ServiceProvision,sds,signed form,case/011,2026-02-01T09:00:00Z\r\n")}],
            "hub.policy.api.withdraw_consent": [{"path_parameters": {"consent_id": to_withdraw["id"]}}],
            "hub.policy.api.dry_run": [{"body": {"record_id": referrals[0]["id"], "recipient": "sds",
                                                 "purpose": "ServiceProvision"}}],
        },
        "keys": keys,
        "ids": {
            "agreement_id": agreements[0], "record_id": referrals[0]["id"], "consent_id": consent["id"],
            "objection_id": objection["id"], "subscription_id": pull["id"], "webhook_subscription_id": webhook["id"],
            "agent_id": agent["agent_id"], "subject": "subj-000", "enrolment_token": spare_token,
            "dataset": "referral", "nonce": str(uuid.uuid4()),
        },
    }
