"""The contract, fuzzed: schemathesis against a live hub process (SQLite, seeded with
example orgs and data, a key of every role), with every response check, inside a
network namespace that has only loopback.

It fails on any server error, any answer off the documented status, content type,
headers or schema, any invalid request accepted and any valid request refused. Each
operation is called with a key that may perform it, so a refusal is a finding, not
noise: 403s that remain are documented answers to a role that may not act (for
example a subscriber's key of the wrong org).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from support import python_env
from support.live_hub import seed

HERE = Path(__file__).resolve().parent
CONTRACT_OPERATIONS = [operation["operationId"]
                       for item in yaml.safe_load((HERE.parents[1] / "hub" / "openapi.yaml").read_text()).get("paths").values()
                       for method, operation in item.items() if method in ("get", "put", "post", "delete", "patch")]
EXAMPLES_PER_OPERATION = 40
# A webhook URL of the seeded subscription: nothing listens there, so its deliveries
# fail and retry, which the status answers then show.
WEBHOOK_URL = "http://127.0.0.1:9/hook"

# Which key calls which operation: one whose role and org may perform it.
KEY_OF_OPERATION = {
    "edinburgh/governance": [
        "hub.policy.api.list_agreements", "hub.policy.api.create_agreement", "hub.policy.api.get_agreement",
        "hub.policy.api.update_agreement", "hub.policy.api.list_versions", "hub.policy.api.transition",
        "hub.policy.api.give_consent", "hub.policy.api.import_consents", "hub.policy.api.withdraw_consent",
        "hub.policy.api.lodge_objection", "hub.policy.api.withdraw_objection", "hub.policy.api.subject_consents",
        "hub.policy.api.subject_disclosures", "hub.policy.api.dry_run", "hub.audit.api.list_entries",
        "hub.audit.api.verify_chain", "hub.referrals.api.referral_report"],
    "edinburgh/ops": ["hub.health.api.list_agents", "hub.health.api.get_agent", "hub.coverage.api.coverage"],
    "edinburgh/agent": ["hub.health.api.heartbeat"],
    "sds/subscriber": [
        "hub.delivery.api.create_subscription", "hub.delivery.api.list_subscriptions",
        "hub.delivery.api.get_subscription", "hub.delivery.api.delete_subscription",
        "hub.delivery.api.subscription_status", "hub.delivery.api.rotate_secret",
        "hub.delivery.api.list_dead_letters", "hub.delivery.api.retry_dead_letters",
        "hub.delivery.api.retry_dead_letter", "hub.delivery.api.replay", "hub.delivery.api.feed",
        "hub.delivery.api.ack", "hub.delivery.api.pause", "hub.delivery.api.resume", "hub.delivery.api.try_now",
        "hub.delivery.api.list_attempts", "hub.delivery.api.dead_letter_event"],
    "admin": ["hub.returns.api.period_status", "hub.returns.api.grid", "hub.returns.api.submission"],
}
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance", "negative_data_rejection",
          "positive_data_acceptance")
# A valid request is answered 2xx, or 404/409 when what it names is absent or in another
# state, or 403 when it asks for another org's things. Not 401: every call carries a
# key that may make it (save enrolment, whose token is what is being checked).
ACCEPTED = ["2xx", "403", "404", "409"]
# Requests whose validity an OpenAPI schema cannot state, refused with the status given.
SEMANTIC_REFUSALS = {
    "hub.orgs.api.enrol": 401,  # the one-time token must be one the hub issued
    # The agreement is YAML text inside a string: its checks (schemas/formats/agreement.json,
    # known orgs and datasets, fields) are the hub's, answered with every problem and its line.
    "hub.policy.api.create_agreement": 422,
    "hub.policy.api.update_agreement": 422,
    "hub.policy.api.import_consents": 422,  # CSV text: header and rows are checked by the hub
    "hub.policy.api.give_consent": 422,  # recipients must be known orgs; expiry after giving
    "hub.policy.api.lodge_objection": 422,
    "hub.policy.api.dry_run": 422,  # the record names a dataset of the catalogue
    # The dataset must be in the catalogue, a webhook needs a URL the hub may reach, other
    # channels take none; answered 400 (destination-refused) as subscribers' tools expect.
    "hub.delivery.api.create_subscription": 400,
    # Suspending and retiring need a reason that is not blank: a rule across two fields, answered
    # with the hub's own sentence rather than a schema's "not valid under any of the given schemas".
    "hub.policy.api.transition": 400,
    # A replay only moves back: a position after the end of the log is refused (issue: replay bounds).
    "hub.delivery.api.replay": 422,
    # A row edit gives the row's values, or removes it naming its base: a rule across fields.
    "hub.returns.api.edit_row": 400,
    # A calendar's window runs forwards, is at most 400 days and within the years it covers.
    "hub.returns.calendar_api.get_calendar": 400,
}


def _toml(value) -> str:
    return json.dumps(value)  # a JSON string or list of strings is a TOML one


def schemathesis_config(seeded: dict) -> str:
    keys, ids = seeded["keys"], seeded["ids"]
    lines = [
        "workers = 1", "seed = 20261201", "continue-on-failure = true", "request-timeout = 30",
        f"headers = {{ Authorization = {_toml('Bearer ' + keys['edinburgh/publisher'])} }}",
        "[generation]", f"max-examples = {EXAMPLES_PER_OPERATION}", 'mode = "all"',
        "[phases.stateful]", "enabled = false",
        "[checks]", "enabled = false",
        *[f"{check} = {{ enabled = true }}" for check in CHECKS if check != "response_schema_conformance"],
        "response_schema_conformance = { enabled = true, validate-formats = true }",
    ]
    # Real ids, offered beside generated ones, so operations reach stored things too.
    for name in ("agreement_id", "record_id", "consent_id", "objection_id", "agent_id", "subject"):
        lines += [f"[dictionaries.{name}]", f"values = [{_toml(ids[name])}]"]
    lines += ["[dictionaries.subscription_id]",
              f"values = [{_toml(ids['subscription_id'])}, {_toml(ids['webhook_subscription_id'])}]",
              "[dictionaries.dataset]", 'values = ["referral", "gazetteer-address", "data-return.school-meals"]']
    lines += ["[parameters]"]
    for name in ("agreement_id", "record_id", "consent_id", "objection_id", "agent_id", "subject",
                 "subscription_id", "dataset"):
        lines.append(f'"path.{name}" = {{ dictionary = "{name}", probability = 0.5 }}')
    key_of = {operation: key for key, operations in KEY_OF_OPERATION.items() for operation in operations}
    for operation in CONTRACT_OPERATIONS:
        lines += ["[[operations]]", f"include-operation-id = {_toml(operation)}"]
        if operation in key_of:
            lines.append(f"headers = {{ Authorization = {_toml('Bearer ' + keys[key_of[operation]])} }}")
        accepted = ACCEPTED + ([str(SEMANTIC_REFUSALS[operation])] if operation in SEMANTIC_REFUSALS else [])
        lines.append(f"checks.positive_data_acceptance = {{ expected-statuses = {_toml(accepted)} }}")
    return "\n".join(lines) + "\n"


def network_namespace_works() -> bool:
    if not (shutil.which("unshare") and shutil.which("ip")):
        return False
    return subprocess.run(["unshare", "-n", "--", "ip", "link", "set", "lo", "up"],
                          capture_output=True).returncode == 0


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_the_live_hub_keeps_its_contract(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'hub.db'}"
    seeded = seed(db_url, WEBHOOK_URL)
    config = tmp_path / "schemathesis.toml"
    config.write_text(schemathesis_config(seeded), encoding="utf-8")
    command = [sys.executable, str(HERE / "fuzz.py"), db_url, str(config)]
    examples = tmp_path / "examples.json"
    examples.write_text(json.dumps(seeded["examples"]), encoding="utf-8")
    # fuzz.py imports support.*; schemathesis imports the hooks module from this folder.
    env = python_env(CONTRACT_HUB_LOG=str(tmp_path / "hub.log"), CONTRACT_EXAMPLES=str(examples),
                     SCHEMATHESIS_HOOKS="contract_hooks")
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env["PYTHONPATH"]])
    if network_namespace_works():
        command = ["unshare", "-n", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "fuzz", *command]
    else:  # no namespace: made-up webhook URLs are rewritten to the local receiver before sending
        env["CONTRACT_WEBHOOK_URL"] = WEBHOOK_URL
    result = subprocess.run(command, capture_output=True, text=True, timeout=540, cwd=tmp_path, env=env)
    (tmp_path / "schemathesis.log").write_text(result.stdout + result.stderr, encoding="utf-8")
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-4000:]
