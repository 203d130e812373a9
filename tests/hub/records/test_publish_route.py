"""`POST /records` answered in front of connexion (hub/records/publish_route.py): what it answers
itself is what the contract's stack would answer, and what it hands on is refused as before."""
from pathlib import Path

import jsonschema
import pytest
import yaml

from hub.app import create_app
from hub.records import publish_route
from support.factories import gazetteer_record

CONTRACT = yaml.safe_load((Path(__file__).resolve().parents[3] / "hub" / "openapi.yaml").read_text())
BODIES = [{"records": []}, {"records": [1, "x"]}, {"records": {}}, {"records": None}, {}, [], "x", None, 3,
          {"records": [], "manifest": {}}, {"records": [], "manifest": None}, {"records": [], "manifest": []},
          {"records": [], "signature": "s"}, {"records": [], "signature": 1}, {"records": [], "other": 1},
          {"records": [], "manifest": {"a": 1}, "signature": ""}]


# One hub per database for the module: each test publishes records no other test reads.
@pytest.fixture(scope="module")
def client(module_services):
    with create_app(services=module_services).test_client() as test_client:
        yield test_client


@pytest.fixture
def services(module_services):
    return module_services


def _without_descriptions(schema):
    if isinstance(schema, dict):
        return {name: _without_descriptions(value) for name, value in schema.items() if name != "description"}
    return schema


def _json_headers(auth, role="publisher", content_type="application/json"):
    return {**auth("edinburgh", role), "Content-Type": content_type}


def test_the_routes_body_check_is_the_contracts():
    """The route answers only bodies the contract admits (anything else goes to connexion's check)."""
    schema = CONTRACT["paths"]["/records"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert publish_route.BODY_SCHEMA == _without_descriptions(schema)
    validator = jsonschema.Draft4Validator(schema)
    assert [publish_route._as_contracted(body) for body in BODIES] == [validator.is_valid(body) for body in BODIES]


@pytest.mark.parametrize("path, headers, body, status, words", [
    ("/api/v1/records?dry=1", {}, b'{"records": []}', 400, "dry"),
    ("/api/v1/records", {"Content-Type": "text/plain"}, b'{"records": []}', 415, "text/plain"),
    ("/api/v1/records", {}, b'{"records": "x"}', 400, "records"),
    ("/api/v1/records", {}, b'{"records": [], "manifest": "x"}', 400, "manifest"),
    ("/api/v1/records", {}, b'{"records": [], "signature": 7}', 400, "signature"),
    ("/api/v1/records", {}, b'[]', 400, "object"),
    ("/api/v1/records", {}, b'', 400, "RequestBody"),
])
def test_requests_it_hands_on_are_refused_by_the_contract(client, auth, path, headers, body, status, words):
    response = client.post(path, content=body, headers={**_json_headers(auth), **headers})
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert words in response.json()["detail"]


@pytest.mark.parametrize("authorization", [None, "Bearer cw_0123456789abcdef_" + "A" * 43, "Basic eDp5", "Bearer"])
def test_a_batch_without_a_key_the_hub_knows_is_401(client, authorization):
    headers = {"Content-Type": "application/json", **({"Authorization": authorization} if authorization else {})}
    response = client.post("/api/v1/records", content=b'{"records": []}', headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8"])
def test_a_batch_is_answered_the_same_in_front_of_connexion_or_through_it(client, auth, content_type):
    """`application/json` alone is answered in front; with a charset it goes through connexion."""
    record = gazetteer_record(910001 if "charset" in content_type else 910002)
    bad = gazetteer_record(910003)
    bad["payload"]["postcode"] = "not a postcode"
    response = client.post("/api/v1/records", json={"records": [record, bad]},
                           headers=_json_headers(auth, content_type=content_type))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    assert set(answer) == {"batch_id", "accepted", "duplicates", "rejected", "results"}
    assert (answer["accepted"], answer["duplicates"], answer["rejected"]) == (1, 0, 1)
    accepted, rejected = answer["results"]
    assert accepted == {"index": 0, "id": record["id"], "status": "accepted", "seq": accepted["seq"]}
    assert rejected["status"] == "rejected" and rejected["errors"][0]["path"] == "/payload/postcode"


def test_the_handlers_refusals_are_its_problems(client, auth, services):
    wrong_role = client.post("/api/v1/records", json={"records": [gazetteer_record(910004)]},
                             headers=_json_headers(auth, role="subscriber"))
    assert wrong_role.status_code == 403 and "publisher" in wrong_role.json()["detail"]
    too_many = [gazetteer_record(920000 + n) for n in range(services.settings.max_batch_records + 1)]
    over = client.post("/api/v1/records", json={"records": too_many}, headers=_json_headers(auth))
    assert over.status_code == 413 and "split the batch" in over.json()["detail"]
    assert over.headers["content-type"].startswith("application/problem+json")


def test_a_crash_is_a_logged_500_problem(client, auth, services, monkeypatch, caplog):
    def crash(body, principal):
        raise RuntimeError("disk on fire")
    monkeypatch.setattr(services.records, "publish", crash)
    response = client.post("/api/v1/records", json={"records": []}, headers=_json_headers(auth))
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "disk on fire" not in response.text
    assert "disk on fire" in caplog.text


def test_batches_answered_in_front_are_counted_under_their_route(client, auth, services):
    client.post("/api/v1/records", json={"records": [gazetteer_record(910005)]}, headers=_json_headers(auth))
    assert b'route="/api/v1/records",status="200"' in services.metrics.exposition()
