"""The record envelope: {id, dataset, schema_version, key, op, subject?, occurred_at, payload}."""
import hashlib
import uuid
from collections.abc import Callable

OPERATIONS = ("upsert", "delete")

# Namespace for record ids derived from a source identity (agents re-reading a
# source after a crash must produce the same ids, so the hub answers `duplicate`).
RECORD_ID_NAMESPACE = uuid.UUID("6f1c5d0e-8a0b-4c57-9a3e-3f7c2b1d9e41")


_NAMESPACE_BYTES = RECORD_ID_NAMESPACE.bytes
_VARIANT_DIGIT = {digit: "89ab"[int(digit, 16) & 0x3] for digit in "0123456789abcdef"}


def derived_record_id(*identity_parts: object) -> str:
    """A stable UUID from the parts that identify one version of one source row: exactly
    uuid.uuid5(RECORD_ID_NAMESPACE, parts joined by US), built from the hex digest without
    the UUID object, which costs several times more on the agent's per-row path."""
    name = "\x1f".join(map(str, identity_parts)).encode("utf-8")
    return _uuid5_text(hashlib.sha1(_NAMESPACE_BYTES + name, usedforsecurity=False).hexdigest())


def record_id_deriver(first_part: object) -> Callable[[object, object], str]:
    """derived_record_id(first_part, identity, version) as a function of the last two parts,
    with the namespace and the first part (an agent's task name, the same for every row)
    hashed once: each row's id only copies that state and hashes its own parts."""
    prefix = hashlib.sha1(_NAMESPACE_BYTES + f"{first_part}\x1f".encode("utf-8"), usedforsecurity=False)

    def derive(identity: object, version: object) -> str:
        digest = prefix.copy()
        digest.update(f"{identity}\x1f{version}".encode("utf-8"))
        return _uuid5_text(digest.hexdigest())

    return derive


def _uuid5_text(x: str) -> str:
    """The UUID text of a SHA-1 hex digest: version 5 in the 13th digit, the RFC 4122 variant
    (binary 10..) in the 17th."""
    return f"{x[:8]}-{x[8:12]}-5{x[13:16]}-{_VARIANT_DIGIT[x[16]]}{x[17:20]}-{x[20:32]}"
