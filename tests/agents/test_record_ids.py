"""Record ids derived on the agent stay exactly what they were (uuid5 in the record-id
namespace): a source re-read after an upgrade must give the same ids, so the hub
answers `duplicate` instead of holding a row twice."""
import uuid

from causeway_common.envelope import RECORD_ID_NAMESPACE, derived_record_id


def test_derived_ids_are_uuid5_of_the_joined_parts():
    cases = [("gazetteer", "export.csv#100000001", "3f2a"), ("planning", 42, None), ("tasks", "Ünïcode ✓", 1.5),
             ("", ""), ("referrals", "a\x1fb", "v")]
    for parts in cases:
        expected = uuid.uuid5(RECORD_ID_NAMESPACE, "\x1f".join(str(p) for p in parts))
        assert derived_record_id(*parts) == str(expected)
        assert uuid.UUID(derived_record_id(*parts)).version == 5
