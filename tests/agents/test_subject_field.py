"""A personal dataset's schema marks fields that must hold the subject pseudonym
(`x-causeway-pseudonym`); an agent mapping writes the keyed-hash subject into
such a field with `{subject: true}`, and the hub refuses a raw identifier there.
A real agent run against a real hub process."""
import hashlib
import hmac
import json

import pytest
import requests

from agents.outbox import Outbox
from support.agents import enrol, run_agent, write_config
from support.factories import referral_record

pytestmark = pytest.mark.e2e

SUBJECT_KEY = "edinburgh-pseudonymisation-key-for-tests"
HEADER = "CaseRef,ClientNo,Service,Reason,Referred"
ROWS = ["EDI-EMP-2026-00001,C000001,SDS careers guidance,Ready for careers guidance,2026-11-02T09:30:00Z",
        "EDI-EMP-2026-00002, c000002 ,SDS careers guidance,Wants an apprenticeship,2026-11-02T10:00:00Z"]


def referral_task(folder, person_ref) -> dict:
    return {"name": "referrals", "direction": "publish", "dataset": "referral", "schema_version": 3,
            "connector": {"kind": "spreadsheet", "options": {"folder": str(folder), "settle_seconds": 0,
                                                             "format": "csv", "delimiter": ",", "encoding": "utf-8"}},
            "mapping": {"subject": {"from": "ClientNo", "hash_key_env": "CAUSEWAY_SUBJECT_KEY"}, "fields": {
                "referral_id": {"from": "CaseRef", "required": True}, "personal_details_ref": person_ref,
                "referring_org": {"const": "edinburgh"}, "receiving_org": {"const": "sds"}, "receiving_service": "Service",
                "reason_for_referral": "Reason", "referred_at": "Referred"}},
            "schedule": {"interval_seconds": 300}}


def run(hub, tmp_path, person_ref):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "referrals.csv").write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    state = tmp_path / "state"
    enrol(hub, state)
    config = write_config(tmp_path / "agent.yaml", hub.url, state, [referral_task(drop, person_ref)])
    result = run_agent(config, "run", "--once", CAUSEWAY_SUBJECT_KEY=SUBJECT_KEY)
    assert result.returncode == 0, result.stdout + result.stderr
    return Outbox(state / "outbox.sqlite")


def pseudonym(client_no: str) -> str:
    return hmac.new(SUBJECT_KEY.encode(), client_no.encode(), hashlib.sha256).hexdigest()


def test_the_subject_pseudonym_fills_the_marked_field_and_the_raw_number_stays_home(hub, tmp_path):
    outbox = run(hub, tmp_path, {"subject": True})
    assert outbox.rejects() == []
    records = {r["key"]: r for r in hub.records("referral")}
    assert set(records) == {"EDI-EMP-2026-00001", "EDI-EMP-2026-00002"}
    for key, client_no in (("EDI-EMP-2026-00001", "C000001"), ("EDI-EMP-2026-00002", "C000002")):
        payload = json.loads(records[key]["payload"])
        assert payload["personal_details_ref"] == records[key]["subject"] == pseudonym(client_no)
        assert client_no not in records[key]["payload"] and client_no.lower() not in records[key]["payload"]


def test_a_raw_client_number_in_the_marked_field_never_reaches_the_hub(hub, tmp_path):
    outbox = run(hub, tmp_path, "ClientNo")
    assert hub.records("referral") == []
    rejects = outbox.rejects()
    assert len(rejects) == 2
    assert all(r["stage"] == "validation" and r["errors"][0]["path"] == "/payload/personal_details_ref"
               and "must be a subject pseudonym" in r["errors"][0]["message"] for r in rejects)


@pytest.mark.parametrize("value", ["C000001", "CASE-0001-2026", "A" * 64, "0" * 63, "0" * 65])
def test_the_hub_rejects_a_marked_field_not_in_the_pseudonym_format(hub, value):
    key = hub.key("edinburgh", "publisher")
    good = referral_record("EDI-EMP-2026-00010", subject=pseudonym("C000010"))
    good["payload"]["personal_details_ref"] = pseudonym("C000010")
    raw = referral_record("EDI-EMP-2026-00011", subject=pseudonym("C000011"))
    raw["payload"]["personal_details_ref"] = value
    answer = requests.post(f"{hub.url}/api/v1/records", json={"records": [good, raw]}, timeout=10,
                           headers={"Authorization": f"Bearer {key}"}).json()
    assert [r["status"] for r in answer["results"]] == ["accepted", "rejected"]
    assert answer["results"][1]["errors"] == [{"path": "/payload/personal_details_ref", "message": (
        "must be a subject pseudonym (the keyed HMAC-SHA256 of the person's id, 64 lowercase hex characters, "
        "as an agent mapping field `{subject: true}` gives), never a raw identifier")}]
