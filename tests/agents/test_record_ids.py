"""Record ids derived on the agent stay exactly what they were (uuid5 in the record-id
namespace): a source re-read after an upgrade must give the same ids, so the hub
answers `duplicate` instead of holding a row twice."""
import uuid

from causeway_common.envelope import RECORD_ID_NAMESPACE, derived_record_id, record_id_deriver


def test_derived_ids_are_uuid5_of_the_joined_parts():
    cases = [("gazetteer", "export.csv#100000001", "3f2a"), ("planning", 42, None), ("tasks", "Ünïcode ✓", 1.5),
             ("", ""), ("referrals", "a\x1fb", "v")]
    for parts in cases:
        expected = uuid.uuid5(RECORD_ID_NAMESPACE, "\x1f".join(str(p) for p in parts))
        assert derived_record_id(*parts) == str(expected)
        assert uuid.UUID(derived_record_id(*parts)).version == 5


def test_ids_derived_with_the_task_hashed_once_are_the_same_ids():
    derive = record_id_deriver("gazetteer")
    for identity, version in [("export.csv#100000001", "3f2a"), (42, None), ("Ünïcode ✓", 1.5), ("", ""), ("a\x1fb", "v")]:
        assert derive(identity, version) == derived_record_id("gazetteer", identity, version)
    assert record_id_deriver("")("", "") == str(uuid.uuid5(RECORD_ID_NAMESPACE, "\x1f\x1f"))
