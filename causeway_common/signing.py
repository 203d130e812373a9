"""Batch manifests signed with Ed25519.

An agent signs one manifest per batch: the batch id, its own agent id, the time,
and the digest of every record in order. Any record's origin can later be proven
from the stored manifest and signature without a signature per record.
"""
import base64
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa

from .canonical import canonical_json, digest


class SignatureInvalid(Exception):
    pass


def generate_key() -> ECC.EccKey:
    return ECC.generate(curve="ed25519")


def public_key_b64(key: ECC.EccKey) -> str:
    """Raw 32-byte public key, base64."""
    return base64.b64encode(key.public_key().export_key(format="raw")).decode("ascii")


def load_public_key(b64: str) -> ECC.EccKey:
    try:
        raw = base64.b64decode(b64, validate=True)
        return eddsa.import_public_key(raw)
    except (ValueError, TypeError) as exc:
        raise SignatureInvalid("public key must be a base64 raw 32-byte Ed25519 key") from exc


def export_private_key(key: ECC.EccKey, passphrase: str) -> bytes:
    """PKCS#8 PEM, encrypted with the passphrase (scrypt + AES-256-GCM)."""
    return key.export_key(
        format="PEM", passphrase=passphrase, protection="scryptAndAES256-GCM"
    ).encode("ascii")


def import_private_key(pem: bytes, passphrase: str) -> ECC.EccKey:
    return ECC.import_key(pem, passphrase=passphrase)


def build_manifest(records: Iterable[Any], batch_id: str, agent_id: str,
                   created_at: datetime | None = None) -> dict[str, Any]:
    created_at = created_at or datetime.now(timezone.utc)
    return {
        "batch_id": batch_id,
        "agent_id": agent_id,
        "created_at": created_at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
        "record_digests": [digest(r) for r in records],
    }


def sign_manifest(manifest: dict[str, Any], key: ECC.EccKey) -> str:
    signer = eddsa.new(key, "rfc8032")
    return base64.b64encode(signer.sign(canonical_json(manifest))).decode("ascii")


def verify_manifest(manifest: dict[str, Any], signature_b64: str, public_key: ECC.EccKey) -> None:
    """Raises SignatureInvalid unless the signature over the manifest is good."""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        eddsa.new(public_key, "rfc8032").verify(canonical_json(manifest), signature)
    except (ValueError, TypeError) as exc:
        raise SignatureInvalid("manifest signature does not verify with the agent's key") from exc
