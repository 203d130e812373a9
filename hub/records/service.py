"""Publishing into the record log, and reading it back.

A batch is validated record by record (envelope, then payload against the
schema version the record names); good records are appended to the log in one
transaction, bad ones are answered with JSON pointers, and the caller hears
back only after the commit.
"""
from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import timedelta

import orjson
from sqlalchemy import select
from sqlalchemy.engine import Engine

from causeway_common.canonical import canonical_json, canonical_payload_and_digest, digest
from causeway_common.catalogue import Dataset, FieldError, PayloadValidator, dataset_from_documents, load_format_schema
from causeway_common.limits import DEFAULT_MAX_DEPTH
from causeway_common.signing import SignatureInvalid, load_public_key, verify_manifest
from hub import db
from hub.audit import service as audit
from hub.auth import Principal
from hub.errors import Conflict, Forbidden, Invalid, NotFound, TooLarge
from hub.timeutil import iso_utc, parse_iso

from . import log
from .events import CloudEvents
from .models import batches, dataset_schemas, datasets, record_rejects, records

# At most this many reject details (one per error) are kept per batch, so a
# badly broken export cannot flood the table; the counts in the audit entry stay exact.
REJECT_DETAILS_PER_BATCH = 200
_INSERT_BATCH = batches.insert()  # built once: a statement built per batch is re-keyed for SQLAlchemy's cache


class Catalogue:
    """Datasets as stored in the database, with validators compiled once."""

    def __init__(self, engine: Engine, max_depth: int = DEFAULT_MAX_DEPTH):
        self.engine = engine
        self.max_depth = max_depth
        self._datasets: dict[str, Dataset] = {}
        self._lock = threading.Lock()
        self.reload()

    def reload(self) -> None:
        with self.engine.connect() as conn:
            metas = {r.name: r for r in conn.execute(select(datasets))}
            versions: dict[str, dict[int, dict]] = {}
            for row in conn.execute(select(dataset_schemas)):
                versions.setdefault(row.dataset, {})[row.version] = json.loads(row.document)
        loaded = {}
        for name, meta in metas.items():
            loaded[name] = dataset_from_documents(
                name,
                {"title": meta.title, "description": meta.description, "owner": meta.owner,
                 "personal": meta.personal, "key_field": meta.key_field,
                 "periodic": json.loads(meta.periodic) if meta.periodic else None,
                 "cadence": json.loads(meta.cadence) if meta.cadence else None,
                 "open_data": json.loads(meta.open_data) if meta.open_data else None},
                versions.get(name, {}),
                self.max_depth,
            )
        with self._lock:
            self._datasets = loaded

    def get(self, name: str, version: int | None = None) -> Dataset | None:
        found = self._datasets.get(name)
        if found is None or (version is not None and version not in found.schemas):
            self.reload()  # another process may have loaded new schemas since
            found = self._datasets.get(name)
        return found

    def all(self) -> list[Dataset]:
        return sorted(self._datasets.values(), key=lambda d: d.name)


def sync_catalogue(engine: Engine, loaded: dict[str, Dataset], actor: str = "cli", clock=db.utcnow) -> list[str]:
    """Store datasets and schema versions read from schemas/. A stored version is
    never changed (records keep validating against what they named); returns
    what was added or updated."""
    changes = []
    now = clock()
    with db.write_transaction(engine) as conn:
        stored = {(r.dataset, r.version): r.document for r in conn.execute(select(dataset_schemas))}
        known = {r.name for r in conn.execute(select(datasets.c.name))}
        for ds in loaded.values():
            meta = dict(title=ds.title, description=ds.description, owner=ds.owner, personal=ds.personal,
                        key_field=ds.key_field, periodic=json.dumps(ds.periodic) if ds.periodic else None,
                        cadence=json.dumps(ds.cadence) if ds.cadence else None,
                        open_data=json.dumps(ds.open_data) if ds.open_data else None,
                        updated_at=now)
            if ds.name in known:
                conn.execute(datasets.update().where(datasets.c.name == ds.name).values(**meta))
            else:
                conn.execute(datasets.insert().values(name=ds.name, **meta))
                changes.append(f"dataset {ds.name}")
            for version, schema in ds.schemas.items():
                document = canonical_json(schema).decode("utf-8")
                existing = stored.get((ds.name, version))
                if existing is None:
                    conn.execute(dataset_schemas.insert().values(dataset=ds.name, version=version, document=document, loaded_at=now))
                    changes.append(f"schema {ds.name} v{version}")
                elif existing != document:
                    raise ValueError(
                        f"schema {ds.name} version {version} differs from the one already published; "
                        f"published versions are immutable: add version {ds.latest_version + 1} beside it instead")
        if changes:
            audit.append(conn, at=now, actor=actor, org=None, action="catalogue.load", detail={"added": changes})
    return changes


_LEADING_VALUE = re.compile(r'^(?:"(?:[^"\\]|\\.)*"|[-0-9.eE+]+|true|false|null|\{.*?\}|\[.*?\])\s+(?=is (?!a required property)|does |has |should |was )', re.S)


def _without_value(message: str) -> str:
    """A validator message with the offending value left out (for personal datasets,
    whose reject details must not keep personal data)."""
    return _LEADING_VALUE.sub("the value ", message, count=1)


def _nul_error(**fields: str | None) -> FieldError:
    """The error for the first envelope field holding U+0000 (PostgreSQL text cannot hold it)."""
    name = next(name for name, text in fields.items() if text is not None and "\x00" in text)
    return FieldError(f"/{name}", f"{name} holds a NUL character (U+0000), which no stored text may hold")


def _storable(text: str) -> str:
    """Text from a rejected record as the reject details keep it: U+0000 (which PostgreSQL
    text cannot hold) shown as U+FFFD."""
    return text.replace("\x00", "\ufffd")


@dataclass
class PublishOutcome:
    results: list[dict]
    batch_id: str
    accepted: int
    duplicates: int
    rejected: int
    accepted_by_dataset: dict
    rejected_by_dataset: dict


def _unaddressed(dataset: Dataset, version: int) -> str:
    addressed = [v for v in dataset.schemas if v not in dataset.unaddressed_versions]
    return (f"{dataset.name} schema version {version} names no addressee, so the hub cannot tell which "
            f"organisation the record is for: publish schema version {max(addressed)}, whose "
            f"{dataset.addressee_field(max(addressed))} names it")


class RecordService:
    def __init__(self, engine: Engine, catalogue: Catalogue, settings, public_key_of, clock=db.utcnow):
        self.engine = engine
        self.clock = clock  # the hub's clock: received_at and manifest freshness (tests inject one)
        self.catalogue = catalogue
        self.settings = settings
        self.events = CloudEvents(settings.public_url)
        self._public_key_of = public_key_of  # agent id -> base64 public key (or None)
        self._envelope = PayloadValidator(load_format_schema("envelope", settings.schemas_dir), prefix="", max_depth=None)
        # The record limits alone, over a whole record (its payload is one level down): for
        # agent batches whose digests the hub cannot reproduce because a value is beyond them.
        self._limits = PayloadValidator({}, prefix="", max_depth=catalogue.max_depth + 1)
        self._appended: list = []  # called after records were committed to the log (e.g. to wake delivery)

    def on_append(self, callback) -> None:
        """Call `callback()` after every commit that appended records to the log."""
        self._appended.append(callback)

    # -- publish -----------------------------------------------------------
    def _resolve(self, name: str, version: int) -> tuple[Dataset | None, PayloadValidator | None, FieldError | None]:
        """The dataset and payload validator a record naming (name, version) is checked with, or
        the error that refuses every such record."""
        dataset = self.catalogue.get(name, version)
        if dataset is None:
            return None, None, FieldError("/dataset", f"unknown dataset {name!r}")
        if dataset.name.startswith("causeway."):
            return None, None, FieldError("/dataset", f"{dataset.name} is written by the hub itself; no org may publish into it")
        if version not in dataset.schemas:
            return None, None, FieldError("/schema_version",
                                          f"dataset {dataset.name} has no schema version {version} "
                                          f"(published versions: {', '.join(map(str, dataset.schemas))})")
        if version in dataset.unaddressed_versions:
            return None, None, FieldError("/schema_version", _unaddressed(dataset, version))
        return dataset, dataset.validator(version), None

    def _check_record(self, record, principal: Principal, known: tuple[bytes | None, str | None], resolved: dict
                      ) -> tuple[tuple | None, list[FieldError]]:
        """Returns (candidate, []) or (None, errors); a candidate is (id, dataset, schema_version,
        key, op, subject, publisher, occurred_at, digest, payload), the record's log row without
        what the hub adds when it appends. known: the canonical JSON of the record's payload and
        the record's digest, each when the manifest check has just computed it (else None).
        resolved: (dataset, version) -> `_resolve`'s answer, kept for the batch (a batch seldom
        names more than one)."""
        if not isinstance(record, dict):
            return None, [FieldError("", "a record must be a JSON object")]
        errors = self._envelope.errors(record)
        if errors:
            return None, errors
        name, version = record["dataset"], record["schema_version"]
        found = resolved.get((name, version))
        if found is None:
            found = resolved[(name, version)] = self._resolve(name, version)
        dataset, validator, refusal = found
        if refusal is not None:
            return None, [refusal]
        get = record.get
        publisher = get("publisher", principal.org)
        if publisher != principal.org and not principal.is_admin:
            return None, [FieldError("/publisher", f"your credential belongs to {principal.org} and cannot publish for {publisher}")]
        subject = get("subject")
        if dataset.personal and not subject:
            return None, [FieldError("/subject", f"{dataset.name} is personal data: every record needs a pseudonymous subject reference")]
        key = get("key")
        op = record["op"]
        encoded_payload, record_digest = known
        if op == "delete":
            if not key:
                return None, [FieldError("/key", "a delete needs the key of the record it deletes")]
            stored_payload = None
        else:
            payload = get("payload")
            if not isinstance(payload, dict):
                return None, [FieldError("/payload", "an upsert needs a payload object")]
            errors = validator.errors(payload)
            if errors:
                return None, errors
            natural_key = payload.get(dataset.key_field)
            if key is None:
                if natural_key is None:
                    return None, [FieldError("/key", f"no key given and the payload has no {dataset.key_field}")]
                key = str(natural_key)
            elif natural_key is not None and str(natural_key) != key:
                return None, [FieldError("/key", f"key {key!r} differs from the payload's {dataset.key_field} {natural_key!r}")]
            if record_digest is None:
                encoded_payload, record_digest = canonical_payload_and_digest(record)
            elif encoded_payload is None:
                encoded_payload = canonical_json(payload)
            stored_payload = encoded_payload.decode("utf-8")
        if "\x00" in key or "\x00" in publisher or (subject is not None and "\x00" in subject):
            return None, [_nul_error(key=key, subject=subject, publisher=publisher)]
        return (record["id"].lower(), dataset.name, int(version), key, op, subject, publisher, record["occurred_at"],
                record_digest or digest(record), stored_payload), []

    def _check_manifest(self, body: dict, raw_records: list, principal: Principal
                        ) -> tuple[str, str | None, str | None, dict[int, list[FieldError]],
                                   list[tuple[bytes | None, str | None]]]:
        """For agent credentials: the signed manifest must match the batch exactly.

        The one exception: a record holding a value beyond the record limits (a number
        JSON cannot keep exactly, nesting too deep) is one the hub cannot read back as it
        was signed; it is returned with its errors, to be rejected by itself."""
        manifest, signature = body.get("manifest"), body.get("signature")
        if principal.agent_id is None:
            if manifest is not None:
                raise Forbidden("manifests are signed by enrolled agents; this credential is not an agent's")
            return str(uuid.uuid4()), None, None, {}, [(None, None)] * len(raw_records)
        if not isinstance(manifest, dict) or not isinstance(signature, str):
            raise Invalid("an agent's batch must carry a signed manifest: {records, manifest, signature}", slug="manifest-missing")
        public_key = self._public_key_of(principal.agent_id)
        if public_key is None:
            raise Forbidden("this agent is not active; enrol it again")
        try:
            verify_manifest(manifest, signature, load_public_key(public_key))
        except SignatureInvalid as exc:
            raise Invalid(f"{exc}; nothing in this batch was stored", slug="manifest-signature") from exc
        if manifest.get("agent_id") != principal.agent_id:
            raise Invalid("manifest names another agent; nothing in this batch was stored", slug="manifest-mismatch")
        digests = manifest.get("record_digests")
        beyond_limits: dict[int, list[FieldError]] = {}
        if not isinstance(digests, list) or len(digests) != len(raw_records):
            raise self._manifest_mismatch()
        computed = [_encoded_or_none(record) for record in raw_records]
        for index, (signed, record, (_, own)) in enumerate(zip(digests, raw_records, computed)):
            if signed != own:
                errors = self._limits.errors(record)
                if not errors:
                    raise self._manifest_mismatch()
                beyond_limits[index] = errors
        try:
            signed_at = parse_iso(str(manifest.get("created_at")))
        except ValueError:
            raise Invalid("manifest created_at is not an RFC 3339 time") from None
        skew = timedelta(seconds=self.settings.manifest_max_skew_seconds)
        if abs(self.clock() - signed_at) > skew:
            raise Invalid(f"manifest was signed at {manifest.get('created_at')}, more than {skew.seconds} s from the hub's clock; "
                          "check the agent's clock; nothing in this batch was stored", slug="manifest-stale")
        batch_id = manifest.get("batch_id")
        if not isinstance(batch_id, str) or not 1 <= len(batch_id) <= 64:
            raise Invalid("manifest batch_id must be a string of 1 to 64 characters")
        return batch_id, canonical_json(manifest).decode("utf-8"), signature, beyond_limits, computed

    @staticmethod
    def _manifest_mismatch() -> Invalid:
        return Invalid("the records differ from the signed manifest (changed, added, removed or reordered); "
                       "nothing in this batch was stored", slug="manifest-mismatch")

    def publish(self, body: dict, principal: Principal) -> PublishOutcome:
        raw_records = body.get("records")
        if not isinstance(raw_records, list):
            raise Invalid("body must be {\"records\": [...]}")
        if len(raw_records) > self.settings.max_batch_records:
            raise TooLarge(f"{len(raw_records)} records in one batch; the limit is {self.settings.max_batch_records}: split the batch")
        batch_id, manifest, signature, beyond_limits, known = self._check_manifest(body, raw_records, principal)

        results: list[dict | None] = [None] * len(raw_records)
        candidates: list[tuple[int, tuple]] = []
        rejected_by_dataset: dict[str, int] = {}
        reject_details: list[dict] = []
        resolved: dict = {}
        for index, record in enumerate(raw_records):
            if index in beyond_limits:
                candidate, errors = None, beyond_limits[index]
            else:
                candidate, errors = self._check_record(record, principal, known[index], resolved)
            if errors:
                self._reject(index, record, errors, principal, results, rejected_by_dataset, reject_details)
            else:
                candidates.append((index, candidate))

        accepted_by_dataset: dict[str, int] = {}
        duplicates = 0
        now = self.clock()
        rows: list[tuple] = []
        with db.write_transaction(self.engine) as conn:
            if principal.agent_id is not None and conn.execute(select(batches.c.id).where(batches.c.id == batch_id)).first():
                raise Conflict(f"batch id {batch_id} was already used; a signed batch cannot be replayed. "
                               "Nothing in this batch was stored", slug="batch-reused")
            # Ids are unique per publisher: another org's record with the same id is no duplicate.
            seen = log.logged_ids(conn, list({candidate[0] for _, candidate in candidates}))
            seq = log.next_seq(conn)
            received = log.received_value(conn, now)
            for index, (record_id, dataset, version, key, op, subject, publisher, occurred_at, record_digest,
                        payload) in candidates:
                previous = seen.get((publisher, record_id))
                if previous is not None:
                    duplicates += 1
                    results[index] = {"index": index, "id": record_id, "status": "duplicate", "seq": previous}
                    continue
                seen[(publisher, record_id)] = seq
                rows.append((seq, record_id, dataset, version, key, op, subject, publisher, occurred_at, received,
                             batch_id, record_digest, payload, None))
                results[index] = {"index": index, "id": record_id, "status": "accepted", "seq": seq}
                accepted_by_dataset[dataset] = accepted_by_dataset.get(dataset, 0) + 1
                seq += 1
            conn.execute(_INSERT_BATCH, {
                "id": batch_id, "org": principal.org, "credential_id": principal.credential_id,
                "agent_id": principal.agent_id, "received_at": now, "record_count": len(rows), "manifest": manifest,
                "signature": signature, "signature_verified": manifest is not None})
            log.append_rows(conn, rows)
            if reject_details:
                conn.execute(record_rejects.insert(),
                             [{**detail, "batch_id": batch_id, "received_at": now} for detail in reject_details])
            audit.append(conn, at=now, actor=principal.actor, org=principal.org, action="records.publish", target=batch_id,
                         detail={"accepted": accepted_by_dataset, "duplicates": duplicates,
                                 "rejected": rejected_by_dataset, "signed": manifest is not None})
        if rows:
            for callback in self._appended:
                callback()
        return PublishOutcome(results, batch_id, len(rows), duplicates, sum(rejected_by_dataset.values()),
                              accepted_by_dataset, rejected_by_dataset)

    def _reject(self, index: int, record, errors: list[FieldError], principal: Principal, results: list,
                rejected_by_dataset: dict[str, int], reject_details: list[dict]) -> None:
        """Answer a rejected record, count it and keep its details (up to REJECT_DETAILS_PER_BATCH)."""
        record_id = record.get("id") if isinstance(record, dict) else None
        results[index] = {"index": index, "id": record_id, "status": "rejected", "errors": [e.as_dict() for e in errors]}
        name = record.get("dataset") if isinstance(record, dict) and isinstance(record.get("dataset"), str) else "unknown"
        rejected_by_dataset[name] = rejected_by_dataset.get(name, 0) + 1
        key = record.get("key") if isinstance(record, dict) else None
        known = self.catalogue.get(name) if name != "unknown" else None
        for error in errors[:max(0, REJECT_DETAILS_PER_BATCH - len(reject_details))]:
            message = error.message if known is None or not known.personal else _without_value(error.message)
            reject_details.append({
                "publisher": principal.org, "dataset": _storable(name[:100]), "record_index": index,
                "record_id": _storable(record_id[:64]) if isinstance(record_id, str) else None,
                "key": _storable(key[:200]) if isinstance(key, str) else None,
                "path": _storable(error.path[:300]), "message": _storable(message[:500])})

    # -- read --------------------------------------------------------------
    def get_record(self, record_id: str, principal: Principal) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(own_record(record_id, principal)).first()
            if row is None:
                return None
            batch = conn.execute(select(batches).where(batches.c.id == row.batch_id)).first()
        return {
            "record": envelope_of(row),
            "seq": row.seq,
            "received_at": iso_utc(row.received_at),
            "digest": row.digest,
            "purged_at": iso_utc(row.purged_at) if row.purged_at is not None else None,
            "provenance": {
                "org": row.publisher,
                "agent_id": batch.agent_id,
                "batch_id": row.batch_id,
                "signature_verified": bool(batch.signature_verified),
                "manifest": json.loads(batch.manifest) if batch.manifest else None,
                "signature": batch.signature,
            },
        }

    def feed(self, dataset: str, principal: Principal, after: int, limit: int) -> dict:
        if self.catalogue.get(dataset) is None:
            raise NotFound(f"unknown dataset {dataset!r}")
        limit = max(1, min(limit, self.settings.feed_max_limit))
        query = (select(records).where(records.c.dataset == dataset, records.c.seq > after, live_records)
                 .order_by(records.c.seq).limit(limit))
        if not principal.is_admin:
            query = query.where(records.c.publisher == principal.org)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return {"events": [self.events.record(r) for r in rows], "next": rows[-1].seq if rows else after}


# Records still holding what was published: tombstones (payload removed after the
# hub's retention period) are shown by id to their publisher but never delivered or fed.
live_records = records.c.purged_at.is_(None)


def own_record(record_id: str, principal: Principal):
    """The query for a stored record by id as `principal` may see it: its own org's
    (ids are unique per publisher, so another org's record of the same id stays
    invisible); an admin sees the earliest of any publisher."""
    query = select(records).where(records.c.id == record_id.lower()).order_by(records.c.seq).limit(1)
    if not principal.is_admin:
        query = query.where(records.c.publisher == principal.org)
    return query


def _encoded_or_none(record) -> tuple[bytes | None, str | None]:
    """(canonical JSON of the payload, digest) of a record; None for what cannot be encoded."""
    try:
        if isinstance(record, dict) and isinstance(record.get("payload"), dict):
            return canonical_payload_and_digest(record)
        return None, digest(record)
    except (RecursionError, ValueError, TypeError):  # nested beyond what can be encoded
        return None, None


def envelope_of(row) -> dict:
    envelope = {
        "id": row.id, "dataset": row.dataset, "schema_version": row.schema_version, "key": row.key,
        "op": row.op, "publisher": row.publisher, "occurred_at": row.occurred_at,
        "payload": orjson.loads(row.payload) if row.payload is not None else None,
    }
    if row.subject is not None:
        envelope["subject"] = row.subject
    return envelope
