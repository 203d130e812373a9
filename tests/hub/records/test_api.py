"""Publishing records and reading them back, through the HTTP API."""
import copy
import random

import pytest

from support.factories import gazetteer_record, referral_record

pytestmark = pytest.mark.timeout(600)


def publish(client, headers, records):
    return client.post("/api/v1/records", json={"records": records}, headers=headers)


def test_good_records_are_accepted_with_increasing_seq(client, auth):
    response = publish(client, auth("edinburgh", "publisher"), [gazetteer_record(i) for i in range(1, 4)])
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted"] * 3
    assert [r["seq"] for r in results] == sorted(r["seq"] for r in results)
    assert len({r["seq"] for r in results}) == 3


def test_bad_records_are_rejected_with_pointers_and_the_rest_go_through(client, auth):
    good = gazetteer_record(1)
    bad_postcode = gazetteer_record(2)
    bad_postcode["payload"]["postcode"] = "not a postcode"
    missing_town = gazetteer_record(3)
    del missing_town["payload"]["town"]
    bad_id = gazetteer_record(4, id="not-a-uuid")
    response = publish(client, auth("edinburgh", "publisher"), [good, bad_postcode, missing_town, bad_id])
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "rejected", "rejected"]
    assert [e["path"] for e in results[1]["errors"]] == ["/payload/postcode"]
    assert [e["path"] for e in results[2]["errors"]] == ["/payload/town"]
    assert [e["path"] for e in results[3]["errors"]] == ["/id"]
    assert all(e["message"] for r in results[1:] for e in r["errors"])


@pytest.mark.parametrize("mutate, pointer, words", [
    (lambda r: r.update(dataset="no-such-dataset"), "/dataset", "unknown dataset"),
    (lambda r: r.update(schema_version=99), "/schema_version", "no schema version 99"),
    (lambda r: r.update(op="delete", payload=None, key=None) or r.pop("key"), "/key", "delete needs the key"),
    (lambda r: r.update(publisher="glasgow"), "/publisher", "cannot publish for glasgow"),
    (lambda r: r.update(key="123"), "/key", "differs from the payload"),
    (lambda r: r.update(occurred_at="yesterday"), "/occurred_at", ""),
    (lambda r: r.update(extra="field"), "", "extra"),
])
def test_envelope_mistakes_are_named(client, auth, mutate, pointer, words):
    record = gazetteer_record(10)
    mutate(record)
    result = publish(client, auth("edinburgh", "publisher"), [record]).json()["results"][0]
    assert result["status"] == "rejected"
    assert result["errors"][0]["path"] == pointer
    assert words in result["errors"][0]["message"]


def test_personal_dataset_needs_a_subject(client, auth):
    record = referral_record("REF-1")
    del record["subject"]
    result = publish(client, auth("edinburgh", "publisher"), [record]).json()["results"][0]
    assert result["status"] == "rejected"
    assert result["errors"][0]["path"] == "/subject"


def test_resent_batch_is_answered_duplicate_with_original_seq(client, auth):
    batch = [gazetteer_record(i) for i in range(5)]
    first = publish(client, auth("edinburgh", "publisher"), batch).json()["results"]
    again = publish(client, auth("edinburgh", "publisher"), batch).json()["results"]
    assert [r["status"] for r in again] == ["duplicate"] * 5
    assert [r["seq"] for r in again] == [r["seq"] for r in first]


def test_same_id_twice_in_one_batch_is_stored_once(client, auth):
    record = gazetteer_record(7)
    results = publish(client, auth("edinburgh", "publisher"), [record, copy.deepcopy(record)]).json()["results"]
    assert [r["status"] for r in results] == ["accepted", "duplicate"]
    assert results[0]["seq"] == results[1]["seq"]


def test_delete_by_key_is_accepted_without_payload(client, auth):
    record = gazetteer_record(8, op="delete", payload=None)
    result = publish(client, auth("edinburgh", "publisher"), [record]).json()["results"][0]
    assert result["status"] == "accepted"


def test_records_validate_against_the_version_they_name(client, auth):
    v1 = gazetteer_record(20)
    v2 = gazetteer_record(21, schema_version=2)
    v2["payload"]["classification"] = "RD04"
    v1_with_v2_field = gazetteer_record(22)
    v1_with_v2_field["payload"]["classification"] = "RD04"
    results = publish(client, auth("edinburgh", "publisher"), [v1, v2, v1_with_v2_field]).json()["results"]
    assert [r["status"] for r in results] == ["accepted", "accepted", "rejected"]


def test_ten_thousand_records_with_malformed_ones_mixed_in(client, auth):
    rng = random.Random(7)
    headers = auth("edinburgh", "publisher")
    batches, expected = [], {}
    for b in range(10):
        batch = []
        for i in range(1000):
            record = gazetteer_record(b * 1000 + i + 1)
            fault = rng.random()
            if fault < 0.05:
                record["payload"]["easting"] = "east"
                expected[record["id"]] = "/payload/easting"
            elif fault < 0.08:
                del record["payload"]["street"]
                expected[record["id"]] = "/payload/street"
            elif fault < 0.10:
                record["occurred_at"] = "31/12/2026"
                expected[record["id"]] = "/occurred_at"
            else:
                expected[record["id"]] = None
            batch.append(record)
        batches.append(batch)
    accepted = set()
    for batch in batches:
        response = publish(client, headers, batch)
        assert response.status_code == 200
        for record, result in zip(batch, response.json()["results"]):
            pointer = expected[record["id"]]
            if pointer is None:
                assert result["status"] == "accepted", result
                accepted.add(result["seq"])
            else:
                assert result["status"] == "rejected"
                assert [e["path"] for e in result["errors"]] == [pointer]
    assert len(accepted) == sum(1 for p in expected.values() if p is None)
    # Re-sent batches: every good record answered duplicate, bad ones rejected again.
    for batch in batches[:3]:
        for record, result in zip(batch, publish(client, headers, batch).json()["results"]):
            assert result["status"] == ("duplicate" if expected[record["id"]] is None else "rejected")
    # The feed holds exactly the accepted records, in order.
    seen, after = [], 0
    while True:
        page = client.get(f"/api/v1/feeds/gazetteer-address?after={after}&limit=1000", headers=headers).json()
        if not page["events"]:
            break
        seen.extend(int(e["sequence"]) for e in page["events"])
        after = page["next"]
    assert seen == sorted(accepted)


def test_batch_over_record_limit_is_413(client, auth, services):
    services.settings.max_batch_records = 3
    response = publish(client, auth("edinburgh", "publisher"), [gazetteer_record(i) for i in range(4)])
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "limit is 3" in response.json()["detail"]


def test_body_over_byte_limit_is_413_and_stores_nothing(client, auth):
    big = gazetteer_record(1)
    big["payload"]["street"] = "x" * (6 * 1024 * 1024)
    response = publish(client, auth("edinburgh", "publisher"), [big])
    assert response.status_code == 413
    feed = client.get("/api/v1/feeds/gazetteer-address", headers=auth("edinburgh", "publisher")).json()
    assert feed["events"] == []


def test_malformed_json_is_a_problem_not_a_stack_trace(client, auth):
    response = client.post("/api/v1/records", content=b"{not json", headers={
        **auth("edinburgh", "publisher"), "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "Traceback" not in response.text


def test_missing_records_field_is_400(client, auth):
    response = client.post("/api/v1/records", json={"recs": []}, headers=auth("edinburgh", "publisher"))
    assert response.status_code == 400
    assert "records" in response.json()["detail"]


def test_no_key_is_401_and_bad_key_is_401(client, auth):
    assert client.get("/api/v1/datasets").status_code == 401
    bad = client.get("/api/v1/datasets", headers={"Authorization": "Bearer cw_0123456789abcdef_" + "A" * 43})
    assert bad.status_code == 401
    assert bad.headers["content-type"].startswith("application/problem+json")


def test_revoked_key_is_refused(client, services, key_for):
    key = key_for("edinburgh", "publisher")
    assert client.get("/api/v1/datasets", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    services.orgs.revoke_key(key.split("_")[1], actor="test")
    assert client.get("/api/v1/datasets", headers={"Authorization": f"Bearer {key}"}).status_code == 401


@pytest.mark.parametrize("role", ["subscriber", "governance", "ops"])
def test_wrong_role_cannot_publish(client, auth, role):
    response = publish(client, auth("edinburgh", role), [gazetteer_record(1)])
    assert response.status_code == 403
    assert "publisher" in response.json()["detail"]


def test_org_cannot_read_another_orgs_feed_or_records(client, auth):
    published = publish(client, auth("edinburgh", "publisher"), [gazetteer_record(1)]).json()["results"][0]
    glasgow = auth("glasgow", "publisher")
    assert client.get("/api/v1/feeds/gazetteer-address", headers=glasgow).json()["events"] == []
    assert client.get(f"/api/v1/records/{published['id']}", headers=glasgow).status_code == 404
    admin_feed = client.get("/api/v1/feeds/gazetteer-address", headers=auth("edinburgh", "admin")).json()
    assert [e["id"] for e in admin_feed["events"]] == [published["id"]]


def test_admin_may_publish_for_another_org(client, auth):
    record = gazetteer_record(1, publisher="glasgow")
    result = publish(client, auth("edinburgh", "admin"), [record]).json()["results"][0]
    assert result["status"] == "accepted"
    feed = client.get("/api/v1/feeds/gazetteer-address", headers=auth("glasgow", "publisher")).json()
    assert feed["events"][0]["source"] == "/causeway/orgs/glasgow"


def test_feed_is_cloudevents_with_a_cursor(client, auth):
    headers = auth("edinburgh", "publisher")
    records = [gazetteer_record(i) for i in range(1, 6)]
    publish(client, headers, records)
    page = client.get("/api/v1/feeds/gazetteer-address?after=0&limit=2", headers=headers).json()
    assert [e["id"] for e in page["events"]] == [r["id"] for r in records[:2]]
    event = page["events"][0]
    assert event["specversion"] == "1.0"
    assert event["type"] == "uk.causeway.record.upsert"
    assert event["data"] == records[0]["payload"]
    assert event["subject"] == records[0]["key"]
    rest = client.get(f"/api/v1/feeds/gazetteer-address?after={page['next']}", headers=headers).json()
    assert [e["id"] for e in rest["events"]] == [r["id"] for r in records[2:]]
    assert client.get(f"/api/v1/feeds/gazetteer-address?after={rest['next']}", headers=headers).json()["events"] == []


def test_unknown_dataset_feed_is_404(client, auth):
    assert client.get("/api/v1/feeds/nothing-here", headers=auth("edinburgh", "publisher")).status_code == 404


def test_record_read_back_with_provenance(client, auth):
    record = gazetteer_record(5)
    publish(client, auth("edinburgh", "publisher"), [record])
    body = client.get(f"/api/v1/records/{record['id']}", headers=auth("edinburgh", "publisher")).json()
    assert body["record"]["payload"] == record["payload"]
    assert body["provenance"]["org"] == "edinburgh"
    assert body["provenance"]["signature_verified"] is False


def test_metrics_count_accepted_and_rejected(client, auth):
    bad = gazetteer_record(2)
    bad["payload"]["uprn"] = "x"
    publish(client, auth("edinburgh", "publisher"), [gazetteer_record(1), bad])
    text = client.get("/metrics", headers=auth("edinburgh", "admin")).text
    assert 'causeway_records_accepted_total{dataset="gazetteer-address",org="edinburgh"} 1.0' in text
    assert 'causeway_records_rejected_total{dataset="gazetteer-address",org="edinburgh"} 1.0' in text
    assert "causeway_http_request_duration_seconds_bucket" in text


def test_text_that_copy_must_escape_is_stored_exactly(client, auth):
    # On PostgreSQL the log is written with COPY, whose text format gives tab, newline and
    # backslash a meaning of their own: each must come back as it was sent.
    awkward = "Flat 1\t\\N\nRear\\\r\\.\u00e9"
    upsert = gazetteer_record(7)
    upsert["payload"]["street"] = awkward
    delete = {**gazetteer_record(8), "op": "delete", "payload": None, "key": awkward}
    headers = auth("edinburgh", "publisher")
    assert [r["status"] for r in publish(client, headers, [upsert, delete]).json()["results"]] == ["accepted"] * 2
    stored = [client.get(f"/api/v1/records/{r['id']}", headers=headers).json()["record"] for r in (upsert, delete)]
    assert stored[0]["payload"]["street"] == awkward
    assert stored[1]["key"] == awkward and stored[1]["payload"] is None
