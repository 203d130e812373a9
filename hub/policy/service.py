"""The policy service: sharing agreements, consent and objection, and the decision point.

Interface used by every channel that hands records to recipients (pull feed,
subscriptions, webhooks, MQTT):

    decision = services.policy.decide(record, recipient, purpose, at)
    decisions = services.policy.decide_many(records, recipient, purpose, at)   # the hot path

`record` is the stored envelope (hub.records.service.envelope_of(row): id, dataset,
schema_version, key, op, publisher, occurred_at, payload, subject?); `at` an aware
datetime. A Decision (hub.policy.decision) has `allowed`, `reasons` (sentences a
person can read), `payload` (projected: only allowed fields, pseudonymised and
generalised; None for deletes, which carry only the key), `key` and `subject` as the
recipient may see them, `agreement_id`, `agreement_version`, `lawful_basis`, and
`denial` (a short reason code) when refused. Deny by default: allowed only when an
active agreement version covers provider, recipient, dataset, purpose, time and
conditions, and, under consent, a current consent exists, or, under public task, no
objection stands. Hub notices (dataset causeway.notice) are allowed only to their
addressee, for any purpose (`decision.notice` is True); they are not disclosures.

decide_many checks once per call whether policy changed anywhere (one small query)
and otherwise decides from in-memory indexes; no query per record.

After handing records over, in the same write transaction:

    with hub.db.write_transaction(engine) as conn:
        services.policy.record_disclosures(conn, [Disclosure.of(record, seq, decision, recipient, purpose, at), ...], channel)
        services.policy.record_denials(conn, count_denials(decisions), recipient, purpose, channel)

(Disclosure and count_denials from hub.policy.decision / hub.policy.disclosure;
hub.policy.disclosure.recipient_feed shows the whole pattern.)
"""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Callable

from sqlalchemy import select
from sqlalchemy.engine import Engine

from hub import db
from hub.audit import service as audit
from hub.auth import Principal
from hub.config import public_url_from_env
from hub.errors import Forbidden, Invalid, InvalidContent, not_found
from hub.records.events import CloudEvents
from hub.timeutil import iso_utc

from . import disclosure, revision
from .agreements import MAX_SOURCE_BYTES, window
from .consent import ConsentRegistry
from .decision import Decision, Disclosure
from .index import ConsentEntry, ObjectionEntry, PolicyIndex, compile_agreement, timestamp
from .registry import AgreementRegistry
from .vocabulary import PUBLIC

__all__ = ["PolicyService", "Decision", "Disclosure"]


class PolicyService:
    def __init__(self, engine: Engine, catalogue, org_exists, events: CloudEvents | None = None,
                 max_source_bytes: int = MAX_SOURCE_BYTES, clock: Callable[[], datetime] = db.utcnow,
                 public_steward: str | None = None):
        self.engine = engine
        self.clock = clock
        self.catalogue = catalogue
        self.events = events or CloudEvents(public_url_from_env())  # what recipient feeds hand out
        self.agreements = AgreementRegistry(engine, catalogue.get, org_exists, max_source_bytes, clock,
                                            public_steward)
        self.consents = ConsentRegistry(engine, org_exists, clock)
        self._addressees: dict[tuple, str | None] = {}
        self._index = PolicyIndex(self._addressee_of)
        self._suspended: list[tuple] = []  # (id, recipients, datasets, purposes, starts, ends) of suspended versions
        self._loaded = -1
        self._lock = threading.Lock()
        self._pinned = threading.local()  # set inside pinned(): this thread's decisions skip the revision query

    # -- keeping the indexes current ---------------------------------------------
    def refresh(self) -> None:
        """Bring the in-memory indexes up to date if policy changed (in any process)."""
        if getattr(self._pinned, "on", False):
            return
        with self.engine.connect() as conn:
            current = revision.current(conn)
            if current == self._loaded:
                return
            with self._lock:
                if current == self._loaded:
                    return
                self._load(conn, self._loaded, current)
                self._loaded = current

    def revision(self) -> int:
        """The policy revision the in-memory indexes stand at, once brought up to date."""
        self.refresh()
        return self._loaded

    @contextmanager
    def pinned(self) -> Iterator[int]:
        """Policy brought up to date once, on entry, for the many questions this thread asks in a
        moment (a delivery round decides, and checks coverage, several times). Whoever acts on the
        answers checks `revision()` again once out, and decides again if it moved."""
        if getattr(self._pinned, "on", False):
            yield self._loaded
            return
        self.refresh()
        self._pinned.on = True
        try:
            yield self._loaded
        finally:
            self._pinned.on = False

    def _load(self, conn, loaded: int, current: int) -> None:
        from .models import agreement_versions

        changed = conn.execute(select(agreement_versions.c.version).where(
            agreement_versions.c.revision > loaded, agreement_versions.c.revision <= current).limit(1)).first()
        if loaded < 0 or changed is not None:
            compiled = [compile_agreement(document, version, key, self._key_field)
                        for document, version, key in self.agreements.load_active(conn)]
            self._index.set_agreements(compiled)
            self._suspended = self._load_suspended(conn)
        consent_rows, objection_rows = self.consents.changed_since(conn, loaded, current)
        for row in consent_rows:
            self._index.put_consent(row.subject, row.controller, ConsentEntry(
                id=row.id, purpose=row.purpose, recipients=frozenset(json.loads(row.recipients)),
                given=_ts(row.given_at, 0.0), expires=_ts(row.expires_at), withdrawn=_ts(row.withdrawn_at)))
        for row in objection_rows:
            self._index.put_objection(row.subject, row.controller, ObjectionEntry(
                id=row.id, purpose=row.purpose, lodged=_ts(row.lodged_at, 0.0), withdrawn=_ts(row.withdrawn_at)))

    @staticmethod
    def _load_suspended(conn) -> list[tuple]:
        from .models import agreement_versions

        found = []
        for agreement_id, text in conn.execute(select(agreement_versions.c.agreement_id, agreement_versions.c.document)
                                               .where(agreement_versions.c.status == "suspended")):
            document = json.loads(text)
            starts, ends = window(document)
            found.append((agreement_id, frozenset(document["recipients"]), frozenset(document["datasets"]),
                          frozenset(document["purposes"]), starts.timestamp(), ends.timestamp()))
        return found

    def _addressee_of(self, dataset: str, version: int) -> str | None:
        """The payload field naming the one org a record of this schema version is for (None: not addressed)."""
        key = (dataset, version)
        if key not in self._addressees:  # schema versions never change once published
            found = self.catalogue.get(dataset, version)
            self._addressees[key] = found.addressee_field(version) if found else None
        return self._addressees[key]

    def _key_field(self, dataset: str) -> str | None:
        found = self.catalogue.get(dataset)
        return found.key_field if found else None

    # -- the decision point -------------------------------------------------------
    def decide(self, record: dict, recipient: str, purpose: str, at: datetime) -> Decision:
        return self.decide_many([record], recipient, purpose, at)[0]

    def decide_many(self, records_: list[dict], recipient: str, purpose: str, at: datetime) -> list[Decision]:
        self.refresh()
        decide = self._index.decide
        moment = at.timestamp()
        return [decide(record, recipient, purpose, moment) for record in records_]

    def public_routes(self) -> dict[tuple[str, str], tuple[str, ...]]:
        """(provider, dataset) an active agreement publishes to the public -> its purposes."""
        self.refresh()
        return {(provider, dataset): tuple(sorted({p for agreement in found for p in agreement.purposes}))
                for (provider, recipient, dataset), found in self._index.routes.items() if recipient == PUBLIC}

    def covering_agreements(self, recipient: str, dataset: str, purpose: str, at: datetime) -> list[tuple[str, int]]:
        """(id, version) of the active agreements in force at `at` that let some provider share
        `dataset` with `recipient` for `purpose` (used to show a subscription `awaiting-agreement`)."""
        self.refresh()
        moment = at.timestamp()
        found = set()
        for (_, to, name), agreements in self._index.routes.items():
            if to == recipient and name == dataset:
                found.update((a.id, a.version) for a in agreements
                             if purpose in a.purposes and a.starts <= moment < a.ends)
        return sorted(found)

    def providers_sharing_with(self, recipient: str, dataset: str, at: datetime) -> set[str]:
        """The providers an active agreement in force at `at` names alongside `recipient` for
        `dataset`, for any purpose (who may see whose figures of a periodic return)."""
        self.refresh()
        moment = at.timestamp()
        return {provider for (provider, to, name), agreements in self._index.routes.items()
                if to == recipient and name == dataset and any(a.starts <= moment < a.ends for a in agreements)}

    def promised_cadences(self, at: datetime) -> dict[tuple[str, str], dict]:
        """(provider, dataset) -> the strictest cadence an agreement in force at `at` declares for
        it: {every_hours, grace_hours, agreement} (for the coverage view)."""
        self.refresh()
        moment, promised = at.timestamp(), {}
        for (provider, _, name), agreements in self._index.routes.items():
            for agreement in agreements:
                declared = agreement.datasets[name].cadence
                if not declared or not agreement.starts <= moment < agreement.ends:
                    continue
                cadence = {"every_hours": float(declared["every_hours"]),
                           "grace_hours": float(declared.get("grace_hours", 0)), "agreement": agreement.id}
                held = promised.get((provider, name))
                if held is None or _allowance(cadence) < _allowance(held):
                    promised[provider, name] = cadence
        return promised

    def active_agreements(self) -> list:
        """The compiled active versions (parties, datasets as passed), by id."""
        self.refresh()
        found = {agreement.id: agreement for agreements in self._index.routes.values() for agreement in agreements}
        return [found[key] for key in sorted(found)]

    def active_agreement(self, agreement_id: str):
        return next((agreement for agreement in self.active_agreements() if agreement.id == agreement_id), None)

    def acknowledge_days(self, provider: str, recipient: str, dataset: str, at: datetime
                         ) -> tuple[int, str, str | None] | None:
        """(working days, agreement id, bank-holiday calendar): the shortest time an agreement in force at
        `at` gives `recipient` to acknowledge `provider`'s records of `dataset` (None: no agreement states one)."""
        self.refresh()
        moment = at.timestamp()
        stated = [(agreement.datasets[dataset].acknowledge_days, agreement.id, agreement.datasets[dataset].bank_holidays)
                  for agreement in self._index.routes.get((provider, recipient, dataset), ())
                  if agreement.datasets[dataset].acknowledge_days and agreement.starts <= moment < agreement.ends]
        return min(stated) if stated else None

    def suspended_agreements(self, recipient: str, dataset: str, purpose: str, at: datetime) -> list[str]:
        """Ids of the suspended agreements that would, in force, let some provider share `dataset` with
        `recipient` for `purpose` at `at` (used to show a subscription `paused` until re-activated)."""
        self.refresh()
        moment = at.timestamp()
        return sorted({agreement_id for agreement_id, recipients, datasets, purposes, starts, ends in self._suspended
                       if recipient in recipients and dataset in datasets and purpose in purposes
                       and starts <= moment < ends})

    record_disclosures = staticmethod(disclosure.record_disclosures)
    record_disclosure_batches = staticmethod(disclosure.record_disclosure_batches)

    def record_denials(self, conn, counts: dict[str, int], recipient: str, purpose: str, channel: str,
                       actor: str = "hub") -> None:
        disclosure.record_denials(conn, counts, recipient, purpose, channel, actor, at=self.clock())
    count_denials = staticmethod(disclosure.count_denials)

    def dry_run(self, body: dict, principal: Principal, at: datetime) -> dict:
        """A decision for governance staff, nothing handed to the recipient; audited, since the
        answer shows the payload as projected.

        A stored record (`record_id`) may be tried only by governance of its publisher (anyone
        else: 404, as for a missing record). An inline record shows only the projection of what
        was sent, to governance of its publisher or of the recipient; the publisher's consent and
        objection ids are named only to the publisher. Either way `at` moves only the agreements'
        validity window: consent and objections count as they stand now, so asking about the
        past cannot bring back a withdrawn consent."""
        principal.require("governance")
        recipient, purpose = body["recipient"], body["purpose"]
        stored = bool(body.get("record_id"))
        if stored:
            from hub.records.service import envelope_of, own_record
            # Only governance of the record's publisher (ids are unique per publisher); admin neither.
            row = None
            if principal.role == "governance":
                with self.engine.connect() as conn:
                    row = conn.execute(own_record(body["record_id"], principal)).first()
            if row is None:
                raise not_found(f"record {body['record_id']}")
            record = envelope_of(row)
        elif isinstance(body.get("record"), dict):
            record = self._inline_record(body["record"], principal)
            if not principal.is_admin and principal.org not in (record["publisher"], recipient):
                raise Forbidden(f"{principal.org} may try decisions only for records it provides or receives")
        else:
            raise Invalid("give either record (an envelope) or record_id (a stored record)")
        now = self.clock()
        self.refresh()
        decision = self._index.decide(record, recipient, purpose, at.timestamp(), state_at=now.timestamp(),
                                      name_controls=principal.org == record["publisher"])
        with db.write_transaction(self.engine) as conn:
            audit.append(conn, at=now, actor=principal.actor, org=principal.org, action="policy.dry-run",
                         target=record["id"] if stored else None,
                         detail={"record": "stored" if stored else "inline", "dataset": record["dataset"],
                                 "publisher": record["publisher"], "recipient": recipient, "purpose": purpose,
                                 "at": iso_utc(at), "decision": "allow" if decision.allowed else "deny",
                                 "denial": decision.denial, "payload_shown": decision.payload is not None,
                                 "agreement": (f"{decision.agreement_id}/v{decision.agreement_version}"
                                               if decision.agreement_id else None)})
        return {"decision": "allow" if decision.allowed else "deny", **decision.as_dict(),
                "record_id": record["id"], "recipient": recipient, "purpose": purpose,
                "at": at.isoformat().replace("+00:00", "Z")}

    def _inline_record(self, given: dict, principal: Principal) -> dict:
        """A hypothetical envelope from what was sent (publisher: the caller's org unless named)."""
        record = {"id": given.get("id", "dry-run"), "dataset": given.get("dataset"),
                  "schema_version": given.get("schema_version", 1), "key": given.get("key"),
                  "op": given.get("op", "upsert"), "publisher": given.get("publisher", principal.org),
                  "occurred_at": given.get("occurred_at"), "payload": given.get("payload"),
                  "subject": given.get("subject")}
        if not isinstance(record["dataset"], str) or self.catalogue.get(record["dataset"]) is None:
            raise InvalidContent(f"record.dataset: unknown dataset {record['dataset']!r}")
        if not isinstance(record["publisher"], str):
            raise InvalidContent("record.publisher: an org slug")
        if record["key"] is None and isinstance(record["payload"], dict):
            key_field = self._key_field(record["dataset"])
            if record["payload"].get(key_field) is not None:
                record["key"] = str(record["payload"][key_field])
        return record

    def subject_disclosures(self, subject: str, principal: Principal) -> dict:
        principal.require("governance")
        with self.engine.connect() as conn:
            found = disclosure.subject_disclosures(conn, subject, None if principal.is_admin else principal.org)
        return {"subject": subject, "disclosures": found}

    def subject_records_on_file(self, subject: str, principal: Principal) -> int:
        """How many of the caller's org's records (admin: anyone's) carry this subject reference."""
        principal.require("governance")
        with self.engine.connect() as conn:
            return disclosure.subject_records(conn, subject, None if principal.is_admin else principal.org)

    def recipient_feed(self, dataset: str, principal: Principal, purpose: str, after: int, limit: int) -> dict:
        return disclosure.recipient_feed(self.engine, self, dataset, principal.org, purpose, after, limit,
                                         actor=principal.actor)


def _ts(moment, default: float = float("inf")) -> float:
    if moment is not None and moment.tzinfo is None:
        from datetime import timezone
        moment = moment.replace(tzinfo=timezone.utc)
    return timestamp(moment, default)


def _allowance(cadence: dict) -> float:
    return cadence["every_hours"] + cadence["grace_hours"]
