"""Record ids are unique per publisher (as CloudEvents makes `id` unique per `source`):
an org reusing another org's record id neither collides with it nor learns it exists.
Against a real hub process, on SQLite and PostgreSQL."""
import pytest
import requests

from support.factories import gazetteer_record

pytestmark = pytest.mark.timeout(300)


def call(hub, method, path, key, **kwargs):
    return requests.request(method, f"{hub.url}/api/v1{path}", headers={"Authorization": f"Bearer {key}"},
                            timeout=30, **kwargs)


def test_another_orgs_record_id_is_neither_a_duplicate_nor_revealed(hub, key_for):
    edinburgh, glasgow = key_for("edinburgh", "publisher"), key_for("glasgow", "publisher")
    theirs = gazetteer_record(906700000001)
    first = call(hub, "POST", "/records", edinburgh, json={"records": [theirs]}).json()["results"][0]
    assert first["status"] == "accepted"

    mine = gazetteer_record(906700000002, custodian="glasgow", id=theirs["id"])
    answer = call(hub, "POST", "/records", glasgow, json={"records": [mine]}).json()["results"][0]
    assert answer["status"] == "accepted"  # not "duplicate" of edinburgh's
    assert answer["seq"] != first["seq"]

    again = call(hub, "POST", "/records", glasgow, json={"records": [mine]}).json()["results"][0]
    assert again == {**answer, "status": "duplicate"}  # its own seq, never edinburgh's

    seen_by_glasgow = call(hub, "GET", f"/records/{theirs['id']}", glasgow).json()
    assert seen_by_glasgow["record"]["publisher"] == "glasgow"
    assert seen_by_glasgow["record"]["payload"]["uprn"] == "906700000002"
    assert seen_by_glasgow["seq"] == answer["seq"]
    seen_by_edinburgh = call(hub, "GET", f"/records/{theirs['id']}", edinburgh).json()
    assert seen_by_edinburgh["record"]["payload"]["uprn"] == "906700000001"
    assert seen_by_edinburgh["provenance"]["org"] == "edinburgh"

    stranger = call(hub, "GET", f"/records/{theirs['id']}", key_for("fife", "publisher"))
    assert stranger.status_code == 404
    assert "edinburgh" not in stranger.text and "glasgow" not in stranger.text


def test_a_dry_run_by_record_id_finds_only_the_callers_own_record(hub, key_for):
    record = gazetteer_record(906700000003)
    call(hub, "POST", "/records", key_for("edinburgh", "publisher"), json={"records": [record]})
    body = {"record_id": record["id"], "recipient": "sds", "purpose": "ServiceProvision"}
    stranger = call(hub, "POST", "/policy/decisions", key_for("fife", "governance"), json=body)
    assert stranger.status_code == 404  # not 403: the id's existence elsewhere is not revealed
    own = call(hub, "POST", "/policy/decisions", key_for("edinburgh", "governance"), json=body)
    assert own.status_code == 200, own.text
    assert own.json()["record_id"] == record["id"]


def test_a_feed_shows_each_publisher_only_its_own_record_of_a_shared_id(hub, key_for):
    record = gazetteer_record(906700000004)
    call(hub, "POST", "/records", key_for("edinburgh", "publisher"), json={"records": [record]})
    copy = gazetteer_record(906700000005, custodian="glasgow", id=record["id"])
    call(hub, "POST", "/records", key_for("glasgow", "publisher"), json={"records": [copy]})
    events = call(hub, "GET", "/feeds/gazetteer-address", key_for("glasgow", "publisher"),
                  params={"after": 0}).json()["events"]
    assert [(e["id"], e["source"], e["data"]["uprn"]) for e in events] == [
        (record["id"], "/causeway/orgs/glasgow", "906700000005")]
