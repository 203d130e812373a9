"""The record envelope: {id, dataset, schema_version, key, op, subject?, occurred_at, payload}."""
import uuid

OPERATIONS = ("upsert", "delete")

# Namespace for record ids derived from a source identity (agents re-reading a
# source after a crash must produce the same ids, so the hub answers `duplicate`).
RECORD_ID_NAMESPACE = uuid.UUID("6f1c5d0e-8a0b-4c57-9a3e-3f7c2b1d9e41")


def derived_record_id(*identity_parts: object) -> str:
    """A stable UUID from the parts that identify one version of one source row."""
    return str(uuid.uuid5(RECORD_ID_NAMESPACE, "\x1f".join(str(p) for p in identity_parts)))
