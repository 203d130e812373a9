"""Hostile record input against a real hub process (SQLite and PostgreSQL): values
nested hundreds deep and numbers JSON cannot keep exactly get a per-record answer
naming the JSON pointer, never a 500 or a silently changed value, and the good
records sent with them are stored."""
import json
import uuid

import pytest
import requests

from causeway_common.limits import MAX_SAFE_INTEGER
from causeway_common.signing import build_manifest, generate_key, public_key_b64, sign_manifest
from support.factories import gazetteer_record, referral_record

pytestmark = pytest.mark.timeout(300)


# One hub per database for the module; each test publishes records no other test uses.
@pytest.fixture
def services(module_services):
    return module_services


@pytest.fixture
def hub(module_hub):
    return module_hub


def nested(depth: int, leaf=None):
    value = leaf if leaf is not None else []
    for _ in range(depth - 1):
        value = [value]
    return value


def publish(hub, key, body: bytes | dict):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(f"{hub.url}/api/v1/records", data=data, timeout=60,
                         headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})


def stored(hub, key, record_id):
    return requests.get(f"{hub.url}/api/v1/records/{record_id}", headers={"Authorization": f"Bearer {key}"}, timeout=10)


@pytest.mark.parametrize("depth", [65, 900])
def test_deeply_nested_payload_is_rejected_by_itself(hub, key_for, depth):
    key = key_for("sds", "publisher")
    good = referral_record(f"SDS-REF-2026-{depth * 10 + 1:06d}")
    deep = referral_record(f"SDS-REF-2026-{depth * 10 + 2:06d}")
    deep["payload"]["goals"] = nested(depth)
    answer = publish(hub, key, {"records": [good, deep]})
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert results[0]["status"] == "accepted"
    assert results[1]["status"] == "rejected"
    messages = {e["path"]: e["message"] for e in results[1]["errors"]}
    assert any("nested deeper than 64 levels" in m for m in messages.values()), messages
    assert all(p.startswith("/payload") for p in messages)
    assert stored(hub, key, good["id"]).status_code == 200
    assert stored(hub, key, deep["id"]).status_code == 404


def test_nesting_up_to_the_limit_is_named_exactly_beyond_it(hub, key_for):
    record = gazetteer_record(906700000010)
    record["payload"]["paon"] = nested(70)
    result = publish(hub, key_for("edinburgh", "publisher"), {"records": [record]}).json()["results"][0]
    deep = [e for e in result["errors"] if "nested deeper" in e["message"]]
    # the payload is level 1, so the 65th level is 64 steps down from /payload/paon's parent
    assert deep and deep[0]["path"] == "/payload/paon" + "/0" * 63


@pytest.mark.parametrize(("index", "literal"), list(enumerate([
    b"123456789012345678901234567890", str(MAX_SAFE_INTEGER + 1).encode(), b"-9223372036854775809", b"1e300"])))
def test_numbers_json_cannot_keep_exactly_are_rejected_not_changed(hub, key_for, index, literal):
    key = key_for("edinburgh", "publisher")
    good, bad = gazetteer_record(906700000100 + 2 * index), gazetteer_record(906700000101 + 2 * index)
    bad["payload"]["easting"] = "NUMBER"
    body = json.dumps({"records": [good, bad]}).encode().replace(b'"NUMBER"', literal)
    results = publish(hub, key, body).json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected"]
    assert any(e["path"] == "/payload/easting" and "outside the range of numbers JSON keeps exactly" in e["message"]
               for e in results[1]["errors"]), results[1]["errors"]
    assert stored(hub, key, bad["id"]).status_code == 404


@pytest.fixture
def agent(hub, services):
    token, _ = services.orgs.create_enrolment("edinburgh", ttl_seconds=3600, actor="test")
    key = generate_key()
    answer = requests.post(f"{hub.url}/api/v1/agents/enrol", timeout=10, json={
        "token": token, "public_key": public_key_b64(key), "name": f"hostile-agent-{uuid.uuid4().hex[:8]}"})
    assert answer.status_code == 201, answer.text
    return {"key": key, "agent_id": answer.json()["agent_id"], "api_key": answer.json()["api_key"]}


@pytest.mark.parametrize(("index", "value"), list(enumerate([nested(900), nested(300), 123456789012345678901234567890])))
def test_signed_batch_with_a_value_beyond_the_limits_rejects_that_record_only(hub, agent, index, value):
    records = [gazetteer_record(906700000200 + 3 * index + n) for n in range(3)]
    records[1]["payload"]["easting"] = value
    manifest = build_manifest(records, str(uuid.uuid4()), agent["agent_id"])
    body = {"records": records, "manifest": manifest, "signature": sign_manifest(manifest, agent["key"])}
    answer = publish(hub, agent["api_key"], body)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "accepted"]
    assert results[1]["errors"][0]["path"].startswith("/payload/easting")
    proof = stored(hub, agent["api_key"], records[2]["id"]).json()
    assert proof["provenance"]["signature_verified"] is True
    assert proof["digest"] in proof["provenance"]["manifest"]["record_digests"]


def test_a_tampered_record_is_still_refused_whole(hub, agent):
    records = [gazetteer_record(906700000030), gazetteer_record(906700000031)]
    manifest = build_manifest(records, str(uuid.uuid4()), agent["agent_id"])
    records[1]["payload"]["street"] = "Tampered Street"
    body = {"records": records, "manifest": manifest, "signature": sign_manifest(manifest, agent["key"])}
    answer = publish(hub, agent["api_key"], body)
    assert answer.status_code == 400
    assert "manifest-mismatch" in answer.json()["type"]
    assert stored(hub, agent["api_key"], records[0]["id"]).status_code == 404


@pytest.mark.parametrize("field", ["key", "subject"])
def test_a_nul_character_in_a_stored_envelope_field_rejects_that_record_only(hub, key_for, field):
    # PostgreSQL text cannot hold U+0000, so this was a 500 there for the whole batch.
    key = key_for("sds", "publisher")
    good = referral_record(f"SDS-REF-2026-NUL{field[0].upper()}01")
    bad = {**referral_record(f"SDS-REF-2026-NUL{field[0].upper()}02"), "op": "delete", "payload": None}
    bad[field] = "SDS-REF\x00-2026"
    answer = publish(hub, key, {"records": [good, bad]})
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected"]
    assert results[1]["errors"] == [{"path": f"/{field}",
                                     "message": f"{field} holds a NUL character (U+0000), which no stored text may hold"}]
    assert stored(hub, key, good["id"]).status_code == 200


def test_a_schema_version_written_as_a_whole_float_is_stored_as_that_version(hub, key_for):
    key = key_for("edinburgh", "publisher")
    record = gazetteer_record(906700000300)
    body = json.dumps({"records": [record]}).encode().replace(b'"schema_version": 1', b'"schema_version": 1.0')
    answer = publish(hub, key, body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["results"][0]["status"] == "accepted", answer.text
    assert stored(hub, key, record["id"]).json()["record"]["schema_version"] == 1


def test_a_rejected_record_with_nul_characters_everywhere_keeps_its_details(hub, key_for, services):
    key = key_for("edinburgh", "publisher")
    good = gazetteer_record(906700000310)
    bad = {**gazetteer_record(906700000311), "id": "\x00not-a-uuid", "key": "9067\x00"}
    bad["payload"]["street"] = 7
    unknown = {**gazetteer_record(906700000312), "dataset": "gazetteer\x00address"}
    answer = publish(hub, key, {"records": [good, bad, unknown]})
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "rejected"]
    assert {e["path"] for e in results[1]["errors"]} >= {"/id"}
    assert results[2]["errors"][0]["path"] == "/dataset"
    assert stored(hub, key, good["id"]).status_code == 200
