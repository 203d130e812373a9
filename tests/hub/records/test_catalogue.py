"""The dataset catalogue, as publishers and recipients read it."""
import json
from pathlib import Path

import pytest

from causeway_common.catalogue import CatalogueError, PayloadValidator, load_catalogue
from hub.records.service import sync_catalogue

DATASETS = {"gazetteer-address", "planning-application", "building-warrant", "referral",
            "data-return.school-meals", "job-vacancy"}


def test_catalogue_lists_every_shipped_dataset(client, auth):
    body = client.get("/api/v1/datasets", headers=auth("sds", "subscriber")).json()
    assert DATASETS <= {d["name"] for d in body["datasets"]}
    referral = next(d for d in body["datasets"] if d["name"] == "referral")
    assert referral["personal"] is True and referral["key_field"] == "referral_id"


def test_dataset_documents_its_fields(client, auth):
    body = client.get("/api/v1/datasets/gazetteer-address", headers=auth("sds", "subscriber")).json()
    fields = {f["name"]: f for f in body["fields"]}
    assert {"uprn", "usrn", "town", "postcode", "easting", "northing", "status", "custodian"} <= set(fields)
    assert fields["uprn"]["required"] is True and fields["uprn"]["description"]
    assert body["versions"] == [1, 2]


def test_schema_version_is_served_with_examples(client, auth):
    response = client.get("/api/v1/datasets/gazetteer-address/schemas/2", headers=auth("sds", "subscriber"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/schema+json")
    schema = response.json()
    assert schema["examples"]
    assert not PayloadValidator(schema).errors(schema["examples"][0])


def test_unknown_dataset_and_version_are_404(client, auth):
    headers = auth("sds", "subscriber")
    assert client.get("/api/v1/datasets/nope", headers=headers).status_code == 404
    assert client.get("/api/v1/datasets/referral/schemas/9", headers=headers).status_code == 404


def test_every_shipped_schema_example_validates():
    catalogue = load_catalogue()
    for dataset in catalogue.values():
        for version, schema in dataset.schemas.items():
            for example in schema["examples"]:
                assert not dataset.validator(version).errors(example), (dataset.name, version)


def _write_dataset(root: Path, name: str, schema: dict, meta: dict | None = None):
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "dataset.yaml").write_text(json.dumps(meta or {
        "title": "T", "description": "D", "owner": "edinburgh", "key_field": "ref"}))
    (folder / "1.json").write_text(json.dumps(schema))


def test_schema_without_examples_is_refused(tmp_path):
    _write_dataset(tmp_path, "thing", {"type": "object", "properties": {"ref": {"type": "string"}}})
    with pytest.raises(CatalogueError, match="no examples"):
        load_catalogue(tmp_path)


def test_invalid_example_is_refused(tmp_path):
    _write_dataset(tmp_path, "thing", {"type": "object", "properties": {"ref": {"type": "string"}},
                                       "examples": [{"ref": 5}]})
    with pytest.raises(CatalogueError, match="example 0 is invalid: /payload/ref"):
        load_catalogue(tmp_path)


def test_published_schema_version_cannot_change(services, tmp_path):
    catalogue = load_catalogue()
    changed = catalogue["job-vacancy"]
    changed.schemas[1]["description"] = "edited after publication"
    with pytest.raises(ValueError, match="immutable"):
        sync_catalogue(services.engine, {"job-vacancy": changed})


THING = {"type": "object", "properties": {"ref": {"type": "string"}}, "examples": [{"ref": "a"}]}
THING_META = {"title": "T", "description": "D", "owner": "edinburgh", "key_field": "ref"}


@pytest.mark.parametrize("cadence, message", [
    ({"grace_hours": 2}, "cadence is"),
    ({"every_hours": 24, "weekends": False}, "cadence is"),
    ("daily", "cadence is"),
    ({"every_hours": "24"}, "every_hours must be a number"),
    ({"every_hours": 0}, "every_hours must be more than 0"),
    ({"every_hours": 24, "grace_hours": -1}, "grace_hours must be a number"),
])
def test_a_cadence_that_does_not_say_how_often_is_refused(tmp_path, cadence, message):
    _write_dataset(tmp_path, "thing", THING, {**THING_META, "cadence": cadence})
    with pytest.raises(CatalogueError, match=f"dataset thing: .*{message}"):
        load_catalogue(tmp_path)


def test_a_cadence_is_stored_with_the_dataset_and_served(client, auth, services, tmp_path):
    _write_dataset(tmp_path, "thing", THING, {**THING_META, "cadence": {"every_hours": 2}})
    sync_catalogue(services.engine, load_catalogue(tmp_path))
    services.catalogue.reload()
    answer = client.get("/api/v1/datasets/thing", headers=auth("edinburgh", "publisher")).json()
    assert answer["cadence"] == {"every_hours": 2.0, "grace_hours": 0.0}
    shipped = client.get("/api/v1/datasets/planning-application", headers=auth("edinburgh", "publisher")).json()
    assert shipped["cadence"] == {"every_hours": 1.0, "grace_hours": 1.0}
    assert client.get("/api/v1/datasets/referral", headers=auth("edinburgh", "publisher")).json()["cadence"] is None
