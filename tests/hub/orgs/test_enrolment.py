"""Agents enrol with a one-time token and sign every batch they publish."""
import copy
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from causeway_common.signing import build_manifest, generate_key, public_key_b64, sign_manifest
from support.factories import gazetteer_record


@pytest.fixture
def agent(client, services):
    token, _ = services.orgs.create_enrolment("edinburgh", ttl_seconds=3600, actor="test")
    key = generate_key()
    response = client.post("/api/v1/agents/enrol", json={
        "token": token, "public_key": public_key_b64(key), "name": "uniform-agent", "version": "0.1.0"})
    assert response.status_code == 201
    body = response.json()
    return {"key": key, "agent_id": body["agent_id"], "headers": {"Authorization": f"Bearer {body['api_key']}"}}


def signed_batch(agent, records, created_at=None, batch_id=None):
    manifest = build_manifest(records, batch_id or str(uuid.uuid4()), agent["agent_id"], created_at)
    return {"records": records, "manifest": manifest, "signature": sign_manifest(manifest, agent["key"])}


def test_enrolment_token_is_single_use(client, services):
    token, _ = services.orgs.create_enrolment("edinburgh", ttl_seconds=3600, actor="test")
    body = {"token": token, "public_key": public_key_b64(generate_key()), "name": "a"}
    assert client.post("/api/v1/agents/enrol", json=body).status_code == 201
    again = client.post("/api/v1/agents/enrol", json=body)
    assert again.status_code == 401
    assert "already used" in again.json()["detail"]


def test_expired_enrolment_token_is_refused(client, services):
    token, _ = services.orgs.create_enrolment("edinburgh", ttl_seconds=-1, actor="test")
    response = client.post("/api/v1/agents/enrol", json={
        "token": token, "public_key": public_key_b64(generate_key()), "name": "a"})
    assert response.status_code == 401


def test_bad_public_key_is_a_clear_400(client, services):
    token, _ = services.orgs.create_enrolment("edinburgh", ttl_seconds=3600, actor="test")
    response = client.post("/api/v1/agents/enrol", json={"token": token, "public_key": "not-base64!", "name": "a"})
    assert response.status_code == 400
    assert "Ed25519" in response.json()["detail"]


def test_signed_batch_is_accepted_with_verified_provenance(client, agent):
    records = [gazetteer_record(i) for i in range(3)]
    response = client.post("/api/v1/records", json=signed_batch(agent, records), headers=agent["headers"])
    assert response.status_code == 200
    assert [r["status"] for r in response.json()["results"]] == ["accepted"] * 3
    record = client.get(f"/api/v1/records/{records[1]['id']}", headers=agent["headers"]).json()
    assert record["provenance"]["agent_id"] == agent["agent_id"]
    assert record["provenance"]["signature_verified"] is True
    assert len(record["provenance"]["manifest"]["record_digests"]) == 3


def _feed_ids(client, headers):
    return [e["id"] for e in client.get("/api/v1/feeds/gazetteer-address", headers=headers).json()["events"]]


def test_agent_batch_without_manifest_is_refused(client, agent):
    response = client.post("/api/v1/records", json={"records": [gazetteer_record(1)]}, headers=agent["headers"])
    assert response.status_code == 400
    assert "signed manifest" in response.json()["detail"]


def test_tampered_record_is_refused_and_nothing_stored(client, agent):
    records = [gazetteer_record(i) for i in range(3)]
    body = signed_batch(agent, records)
    body["records"][2]["payload"]["town"] = "Somewhere Else"
    response = client.post("/api/v1/records", json=body, headers=agent["headers"])
    assert response.status_code == 400
    assert "differ from the signed manifest" in response.json()["detail"]
    assert _feed_ids(client, agent["headers"]) == []


def test_tampered_manifest_signature_is_refused(client, agent):
    records = [gazetteer_record(i) for i in range(2)]
    body = signed_batch(agent, records)
    forged = copy.deepcopy(body)
    forged["manifest"]["record_digests"] = forged["manifest"]["record_digests"][:1]
    forged["records"] = forged["records"][:1]
    response = client.post("/api/v1/records", json=forged, headers=agent["headers"])
    assert response.status_code == 400
    assert "signature does not verify" in response.json()["detail"]
    assert _feed_ids(client, agent["headers"]) == []


def test_batch_signed_by_another_key_is_refused(client, agent):
    impostor = dict(agent, key=generate_key())
    response = client.post("/api/v1/records", json=signed_batch(impostor, [gazetteer_record(1)]), headers=agent["headers"])
    assert response.status_code == 400


def test_reused_batch_id_is_refused(client, agent):
    first = signed_batch(agent, [gazetteer_record(1)], batch_id="batch-0001")
    assert client.post("/api/v1/records", json=first, headers=agent["headers"]).status_code == 200
    replay = signed_batch(agent, [gazetteer_record(2)], batch_id="batch-0001")
    response = client.post("/api/v1/records", json=replay, headers=agent["headers"])
    assert response.status_code == 409
    assert len(_feed_ids(client, agent["headers"])) == 1


def test_stale_manifest_is_refused(client, agent):
    old = datetime.now(timezone.utc) - timedelta(hours=1)
    response = client.post("/api/v1/records", json=signed_batch(agent, [gazetteer_record(1)], created_at=old),
                           headers=agent["headers"])
    assert response.status_code == 400
    assert "clock" in response.json()["detail"]
    assert _feed_ids(client, agent["headers"]) == []


def test_plain_publisher_cannot_send_a_manifest(client, auth, agent):
    body = signed_batch(agent, [gazetteer_record(1)])
    response = client.post("/api/v1/records", json=body, headers=auth("edinburgh", "publisher"))
    assert response.status_code == 403  # a credential that is not an agent's may not sign batches
