"""The decision point's in-memory indexes, and the decision itself.

Built from the database when policy changes (agreements rarely, consents often and
incrementally); a decision is then dictionary look-ups and a projection, with no
query per record.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from . import decision as codes
from .agreements import window
from .conditions import compile_condition
from .decision import Decision
from .projection import Projection, projection_of, pseudonym
from .special_category import passed_fields
from .vocabulary import NOTICE_DATASET

_FAR_FUTURE = float("inf")
RETURNING = "recipients-to-providers"


def _no_addressee(dataset: str, version: int) -> str | None:
    return None


@dataclass(frozen=True, slots=True)
class CompiledDataset:
    projection: Projection
    key_pseudonymised: bool
    conditions: tuple  # ((text, evaluator), ...)
    cadence: dict | None = None  # {every_hours, grace_hours?}: what the providers promised, for coverage
    # Flows back from the recipients to the providers (e.g. referral-status to the referrer).
    returning: bool = False
    acknowledge_days: int | None = None  # working days the addressee has to acknowledge (referrals)
    bank_holidays: str | None = None  # whose bank holidays are not working days (None: hub.referrals.journey's default)
    passed: frozenset = frozenset()  # every field the recipients receive in some form
    aggregate: dict | None = None  # counts only (hub.opendata.aggregates): no record is routed for it


@dataclass(frozen=True, slots=True)
class CompiledAgreement:
    id: str
    version: int
    lawful_basis: str
    purposes: frozenset
    starts: float
    ends: float
    providers: frozenset
    recipients: frozenset
    datasets: dict  # name -> CompiledDataset
    key: bytes
    retention_days: int | None = None

    @property
    def label(self) -> str:
        return f"agreement {self.id} v{self.version}"


@dataclass(frozen=True, slots=True)
class ConsentEntry:
    id: str
    purpose: str
    recipients: frozenset
    given: float
    expires: float
    withdrawn: float


@dataclass(frozen=True, slots=True)
class ObjectionEntry:
    id: str
    purpose: str | None
    lodged: float
    withdrawn: float


def compile_agreement(document: dict, version: int, key: bytes, key_field_of) -> CompiledAgreement:
    starts, ends = window(document)
    datasets = {}
    for name, spec in document["datasets"].items():
        datasets[name] = CompiledDataset(
            projection=projection_of(spec),
            key_pseudonymised=key_field_of(name) in spec.get("pseudonymise", ()),
            conditions=tuple((text, compile_condition(text)) for text in spec.get("conditions", ())),
            cadence=spec.get("cadence"),
            returning=spec.get("direction") == RETURNING,
            acknowledge_days=(spec.get("acknowledge_within") or {}).get("working_days"),
            bank_holidays=(spec.get("acknowledge_within") or {}).get("bank_holidays"),
            passed=frozenset(passed_fields(spec)),
            aggregate=spec.get("aggregate"),
        )
    return CompiledAgreement(
        id=document["id"], version=version, lawful_basis=document["lawful_basis"],
        purposes=frozenset(document["purposes"]), starts=starts.timestamp(), ends=ends.timestamp(),
        providers=frozenset(document["providers"]), recipients=frozenset(document["recipients"]),
        datasets=datasets, key=key, retention_days=document.get("retention_days"))


def timestamp(moment: datetime | None, default: float = _FAR_FUTURE) -> float:
    return default if moment is None else moment.timestamp()


class PolicyIndex:
    """Active agreement versions by route (provider, recipient, dataset), consents and
    objections by (subject, controller)."""

    def __init__(self, addressee_of=_no_addressee):
        # (dataset, schema version) -> the payload field naming the one org a record is for, or None
        # (datasets whose schema marks a field x-causeway-addressee: referral, referral-status).
        self.addressee_of = addressee_of
        self.routes: dict[tuple, tuple[CompiledAgreement, ...]] = {}
        self.consents: dict[tuple, dict[str, ConsentEntry]] = {}
        self.objections: dict[tuple, dict[str, ObjectionEntry]] = {}
        self._sentences: dict[tuple, str] = {}

    def set_agreements(self, active: list[CompiledAgreement]) -> None:
        routes: dict[tuple, list] = {}
        for agreement in sorted(active, key=lambda a: a.id):
            for dataset, spec in agreement.datasets.items():
                if spec.aggregate is not None:  # an aggregate's recipients get counts, never records
                    continue
                senders, receivers = ((agreement.recipients, agreement.providers) if spec.returning
                                      else (agreement.providers, agreement.recipients))
                for provider in senders:
                    for recipient in receivers:
                        routes.setdefault((provider, recipient, dataset), []).append(agreement)
        self.routes = {route: tuple(found) for route, found in routes.items()}  # swapped whole

    def put_consent(self, subject: str, controller: str, entry: ConsentEntry) -> None:
        key = (subject, controller)
        entries = dict(self.consents.get(key, {}))
        entries[entry.id] = entry
        self.consents[key] = entries  # replaced, never changed in place: readers need no lock

    def put_objection(self, subject: str, controller: str, entry: ObjectionEntry) -> None:
        key = (subject, controller)
        entries = dict(self.objections.get(key, {}))
        entries[entry.id] = entry
        self.objections[key] = entries

    # -- the decision ------------------------------------------------------
    def decide(self, record: dict, recipient: str, purpose: str, at: float, state_at: float | None = None,
               name_controls: bool = True) -> Decision:
        """Decide at `at`. `state_at` (a dry run: now) is the moment whose consent and objection
        state counts; `name_controls=False` words the reasons without the ids of the
        controller's consent and objection records (for a caller that is not the controller)."""
        dataset = record["dataset"]
        if dataset == NOTICE_DATASET:
            return _decide_notice(record, recipient)
        provider = record["publisher"]
        candidates = self.routes.get((provider, recipient, dataset))
        if not candidates:
            return Decision(False, [f"no active agreement lets {provider} share {dataset} with {recipient}"],
                            denial=codes.NO_AGREEMENT)
        deleting = record["op"] == "delete"
        payload = record.get("payload")
        subject = record.get("subject")
        addressee_field = self.addressee_of(dataset, record.get("schema_version"))
        if addressee_field is not None:
            # An addressed record goes to its addressee only (deny by default: a delete names none).
            addressee = payload.get(addressee_field) if isinstance(payload, dict) else None
            if addressee != recipient:
                return Decision(False, [f"this {dataset} record is addressed to "
                                        f"{addressee or 'no organisation'}, not to {recipient}"],
                                denial=codes.NOT_ADDRESSEE)
        reasons: list[str] = []
        denial = codes.NO_AGREEMENT
        for agreement in candidates:
            if purpose not in agreement.purposes:
                reasons.append(f"{agreement.label} does not cover the purpose {purpose} "
                               f"(it covers {', '.join(sorted(agreement.purposes))})")
                denial = codes.PURPOSE
                continue
            if not agreement.starts <= at < agreement.ends:
                reasons.append(f"{agreement.label} is not in force at that time")
                denial = codes.OUTSIDE_WINDOW
                continue
            spec = agreement.datasets[dataset]
            if deleting:
                # A recipient must learn of deletions to erase its copy; a delete
                # carries only the key, so conditions and consent are not asked.
                return self._allow(agreement, spec, record, provider, recipient, purpose, None,
                                   ["a deletion is passed on to every recipient the agreement covers"])
            env = None
            failed = None
            for text, evaluator in spec.conditions:
                if env is None:
                    env = {"provider": provider, "recipient": recipient, "purpose": purpose, "dataset": dataset}
                if not evaluator(payload, env):
                    failed = text
                    break
            if failed is not None:
                reasons.append(f"{agreement.label}: the record does not meet the condition `{failed}`")
                denial = codes.CONDITION
                continue
            basis = agreement.lawful_basis
            if spec.returning:
                # Coming back to the org that sent the original (a referral's status to its referrer):
                # no new recipient learns of the person, so consent and objection are not asked again.
                because = [f"it returns to {recipient}, which made the original disclosure"]
            elif basis == "consent":
                if not subject:
                    reasons.append(f"{agreement.label} relies on consent, but the record names no data subject")
                    denial = codes.NO_SUBJECT
                    continue
                consent = self._consent(subject, provider, recipient, purpose, at if state_at is None else state_at)
                if consent is None:
                    reasons.append(f"{agreement.label} relies on consent, and the subject has no current consent "
                                   f"for {purpose} covering {recipient}")
                    denial = codes.NO_CONSENT
                    continue
                because = [f"consent {consent.id} covers it" if name_controls
                           else f"a current consent recorded by {provider} covers it"]
            elif basis == "public-task":
                objection = (self._objection(subject, provider, purpose, at if state_at is None else state_at)
                             if subject else None)
                if objection is not None:
                    which = f"objection {objection.id}" if name_controls else f"objection recorded by {provider}"
                    reasons.append(f"{agreement.label} relies on public task, and the subject's {which} stands")
                    denial = codes.OBJECTION
                    continue
                because = ["no objection from the subject stands"] if subject else []
            else:
                because = []
            return self._allow(agreement, spec, record, provider, recipient, purpose, payload, because)
        return Decision(False, reasons, denial=denial)

    def _allow(self, agreement: CompiledAgreement, spec: CompiledDataset, record: dict, provider: str,
               recipient: str, purpose: str, payload: dict | None, because: list[str]) -> Decision:
        key = record.get("key")
        if key is not None and spec.key_pseudonymised:
            key = pseudonym(agreement.key, key)
        subject = record.get("subject")
        route = (agreement.id, agreement.version, provider, record["dataset"], recipient, purpose)
        sentence = self._sentences.get(route)
        if sentence is None:
            if len(self._sentences) > 100_000:
                self._sentences.clear()
            sentence = self._sentences[route] = (f"{agreement.label} lets {provider} share {record['dataset']} "
                                                 f"with {recipient} for {purpose} ({agreement.lawful_basis})")
        return Decision(
            True,
            [sentence, *because],
            payload=spec.projection.apply(payload, agreement.key) if payload is not None else None,
            agreement_id=agreement.id, agreement_version=agreement.version, lawful_basis=agreement.lawful_basis,
            retention_days=agreement.retention_days, key=key, subject=pseudonym(agreement.key, subject) if subject else None)

    def _consent(self, subject: str, controller: str, recipient: str, purpose: str, at: float):
        for entry in self.consents.get((subject, controller), {}).values():
            if (entry.purpose == purpose and recipient in entry.recipients
                    and entry.given <= at < entry.expires and at < entry.withdrawn):
                return entry
        return None

    def _objection(self, subject: str, controller: str, purpose: str, at: float):
        for entry in self.objections.get((subject, controller), {}).values():
            if (entry.purpose is None or entry.purpose == purpose) and entry.lodged <= at < entry.withdrawn:
                return entry
        return None


def _decide_notice(record: dict, recipient: str) -> Decision:
    payload = record.get("payload") or {}
    if payload.get("recipient") == recipient:
        return Decision(True, [f"a notice addressed to {recipient}"], payload=payload, key=record.get("key"),
                        notice=True)
    return Decision(False, ["a notice goes only to its addressee"], denial=codes.NOT_ADDRESSEE, notice=True)
