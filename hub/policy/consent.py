"""Consent (shaped after ISO/IEC TS 27560) and objection records, their withdrawal, and CSV import.

Consent and objection records are kept for the controller org (the provider that
refers to the subject by its own pseudonymous reference). Withdrawing a consent
takes effect at the next disclosure; recipients that already received the
subject's records under it get a `consent.withdrawn` notice naming them.
"""
from __future__ import annotations

import csv
import io
import json
import re
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Callable

from sqlalchemy import and_, insert, select, update
from sqlalchemy.engine import Engine

from hub import db
from hub.audit import service as audit
from hub.auth import Principal
from hub.errors import Conflict, InvalidContent, TooLarge, not_found
from hub.timeutil import iso_utc, parse_iso

from . import revision
from .models import consents, disclosures, objections
from .notices import append_notices, consent_withdrawn

PURPOSE = re.compile(r"^[A-Z][A-Za-z0-9]{1,99}$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
IMPORT_NAMESPACE = uuid.UUID("2b8e61a4-5d0c-4f4e-8c6a-1d9f3e7b0a52")
CSV_COLUMNS = ("subject", "purpose", "recipients", "method", "evidence_ref", "given_at")
CSV_OPTIONAL = ("controller", "expires_at", "withdrawn_at")
MAX_IMPORT_ROWS = 100_000


class ConsentInputError(InvalidContent):
    """A consent or objection with mistakes: every one of them, by field."""

    title = "Consent or objection not valid"
    slug = "consent-invalid"

    def __init__(self, errors: list[dict]):
        self.errors = errors
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=timezone.utc)


def consent_view(row) -> dict:
    return {"id": row.id, "subject": row.subject, "controller": row.controller, "purpose": row.purpose,
            "recipients": json.loads(row.recipients), "method": row.method, "evidence_ref": row.evidence_ref,
            "given_at": iso_utc(row.given_at), "expires_at": iso_utc(row.expires_at) if row.expires_at else None,
            "withdrawn_at": iso_utc(row.withdrawn_at) if row.withdrawn_at else None,
            "recorded_at": iso_utc(row.recorded_at), "recorded_by": row.recorded_by}


def objection_view(row) -> dict:
    return {"id": row.id, "subject": row.subject, "controller": row.controller, "purpose": row.purpose,
            "method": row.method, "evidence_ref": row.evidence_ref, "lodged_at": iso_utc(row.lodged_at),
            "withdrawn_at": iso_utc(row.withdrawn_at) if row.withdrawn_at else None,
            "recorded_at": iso_utc(row.recorded_at), "recorded_by": row.recorded_by}


class ConsentRegistry:
    def __init__(self, engine: Engine, org_exists, clock: Callable[[], datetime] = db.utcnow):
        self.engine = engine
        self.org_exists = org_exists
        self.clock = clock

    # -- checking input ------------------------------------------------------
    def _controller(self, given: str | None, principal: Principal) -> str:
        principal.require("governance")
        controller = given or principal.org
        principal.require_org(controller)
        return controller

    def _clean(self, body: dict, kind: str, org_exists=None) -> dict:
        """Check a consent or objection body; ConsentInputError lists every mistake."""
        org_exists = org_exists or self.org_exists
        errors = []

        def text(name, required=True, limit=200):
            value = body.get(name)
            if value is None or value == "":
                if required:
                    errors.append({"field": name, "message": "is required"})
                return None
            if not isinstance(value, str) or len(value) > limit:
                errors.append({"field": name, "message": f"must be text of at most {limit} characters"})
                return None
            return value.strip()

        def moment(name, required=False):
            value = body.get(name)
            if value in (None, ""):
                if required:
                    errors.append({"field": name, "message": "is required"})
                return None
            try:  # kept as UTC: SQLite would keep the wall-clock time and drop the offset
                return parse_iso(str(value)).astimezone(timezone.utc)
            except ValueError:
                errors.append({"field": name, "message": f"{value!r} is not an RFC 3339 date-time with a time zone"})
                return None

        clean = {"subject": text("subject"), "method": text("method", limit=100),
                 "evidence_ref": text("evidence_ref")}
        purpose = text("purpose", required=(kind == "consent"), limit=100)
        if purpose is not None and not PURPOSE.match(purpose):
            errors.append({"field": "purpose", "message": f"{purpose!r} is not a DPV purpose name such as ServiceProvision"})
        clean["purpose"] = purpose
        if kind == "consent":
            recipients = body.get("recipients")
            if isinstance(recipients, str):
                recipients = [r for r in re.split(r"[\s;,]+", recipients) if r]
            if not isinstance(recipients, list) or not recipients:
                errors.append({"field": "recipients", "message": "name at least one recipient org"})
                recipients = []
            for org in recipients:
                if not isinstance(org, str) or not SLUG.match(org) or not org_exists(org):
                    errors.append({"field": "recipients", "message": f"unknown org {org!r}"})
            clean["recipients"] = sorted(set(r for r in recipients if isinstance(r, str)))
            clean["given_at"] = moment("given_at") or self.clock()
            clean["expires_at"] = moment("expires_at")
            clean["withdrawn_at"] = moment("withdrawn_at")
            if clean["expires_at"] and clean["expires_at"] <= clean["given_at"]:
                errors.append({"field": "expires_at", "message": "expires before the consent was given"})
            if clean["withdrawn_at"] and clean["withdrawn_at"] < clean["given_at"]:
                errors.append({"field": "withdrawn_at", "message": "withdrawn before the consent was given"})
        else:
            clean["lodged_at"] = moment("lodged_at") or self.clock()
        if errors:
            raise ConsentInputError(errors)
        return clean

    # -- consents --------------------------------------------------------------
    def give(self, body: dict, principal: Principal) -> dict:
        controller = self._controller(body.get("controller"), principal)
        clean = self._clean(body, "consent")
        consent_id = str(uuid.uuid4())
        with db.write_transaction(self.engine) as conn:
            rev = revision.bump(conn)
            conn.execute(insert(consents).values(
                id=consent_id, controller=controller, subject=clean["subject"], purpose=clean["purpose"],
                recipients=json.dumps(clean["recipients"]), method=clean["method"],
                evidence_ref=clean["evidence_ref"], given_at=clean["given_at"], expires_at=clean["expires_at"],
                withdrawn_at=clean["withdrawn_at"], recorded_at=self.clock(), recorded_by=principal.actor,
                revision=rev))
            audit.append(conn, at=self.clock(), actor=principal.actor, org=controller, action="consent.record", target=consent_id,
                         detail={"purpose": clean["purpose"], "recipients": clean["recipients"]})
            row = conn.execute(select(consents).where(consents.c.id == consent_id)).one()
        return consent_view(row)

    def withdraw(self, consent_id: str, principal: Principal, at: datetime | None = None) -> dict:
        principal.require("governance")
        at = at or self.clock()
        with db.write_transaction(self.engine) as conn:
            row = _mark_withdrawn(conn, consents, "consent", consent_id, principal, at)
            notices = self._withdrawal_notices(conn, row, at)
            seqs = append_notices(conn, notices, self.clock())
            audit.append(conn, at=self.clock(), actor=principal.actor, org=row.controller, action="consent.withdraw", target=consent_id,
                         detail={"notices": [{"recipient": n["recipient"], "dataset": n["dataset"],
                                              "records": len(n["records"])} for n in notices]})
            row = conn.execute(select(consents).where(consents.c.id == consent_id)).one()
        return {**consent_view(row), "notices": [{"recipient": n["recipient"], "dataset": n["dataset"],
                                                  "records": n["records"], "seq": s} for n, s in zip(notices, seqs)]}

    def _withdrawal_notices(self, conn, consent, at: datetime) -> list[dict]:
        """One notice per recipient and dataset that received the subject's records under
        consent for this purpose, unless another current consent still covers that recipient."""
        recipients = set(json.loads(consent.recipients))
        others = conn.execute(select(consents).where(
            consents.c.subject == consent.subject, consents.c.controller == consent.controller,
            consents.c.purpose == consent.purpose, consents.c.id != consent.id)).all()
        for other in others:
            if (other.withdrawn_at is None and _aware(other.given_at) <= at
                    and (other.expires_at is None or _aware(other.expires_at) > at)):
                recipients -= set(json.loads(other.recipients))
        if not recipients:
            return []
        rows = conn.execute(select(disclosures.c.recipient, disclosures.c.dataset, disclosures.c.record_id).where(
            disclosures.c.subject == consent.subject, disclosures.c.provider == consent.controller,
            disclosures.c.lawful_basis == "consent", disclosures.c.purpose == consent.purpose,
            disclosures.c.recipient.in_(sorted(recipients)))).all()
        grouped: dict[tuple, set] = {}
        for r in rows:
            grouped.setdefault((r.recipient, r.dataset), set()).add(r.record_id)
        return [consent_withdrawn(recipient, dataset, consent.controller, sorted(ids), at)
                for (recipient, dataset), ids in sorted(grouped.items())]

    def import_csv(self, text: str, principal: Principal, controller: str | None = None) -> dict:
        """Import consents from CSV (see docs/governance.md); good rows are kept, bad ones
        answered with their line and field. Rows already imported are reported as duplicates."""
        default_controller = self._controller(controller, principal)
        reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
        with _csv_line_named(reader):
            header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in CSV_COLUMNS if c not in header]
        unknown = [c for c in header if c not in CSV_COLUMNS + CSV_OPTIONAL]
        if missing or unknown:
            detail = []
            if missing:
                detail.append(f"missing column(s) {', '.join(missing)}")
            if unknown:
                detail.append(f"unknown column(s) {', '.join(unknown)}")
            raise InvalidContent(f"CSV header (line 1): {'; '.join(detail)}. "
                                 f"Columns are {', '.join(CSV_COLUMNS)} and optionally {', '.join(CSV_OPTIONAL)}")
        reader.fieldnames = header
        known_orgs: dict[str, bool] = {}  # one look-up per org, not per row

        def org_exists(slug: str) -> bool:
            if slug not in known_orgs:
                known_orgs[slug] = self.org_exists(slug)
            return known_orgs[slug]

        results, good = [], []
        for number, raw in enumerate(_rows_named_on_error(reader), start=2):
            if number - 1 > MAX_IMPORT_ROWS:
                raise TooLarge(f"more than {MAX_IMPORT_ROWS} rows: split the file")
            line = reader.line_num
            row = {k: (v or "").strip() for k, v in raw.items() if k is not None}
            if None in raw:
                results.append({"line": line, "status": "rejected",
                                "errors": [{"field": "", "message": "more values than columns"}]})
                continue
            row_controller = row.get("controller") or default_controller
            errors = []
            if not row.get("given_at"):
                errors.append({"field": "given_at", "message": "is required: when the subject gave consent"})
            if row_controller != default_controller and not principal.is_admin:
                errors.append({"field": "controller", "message": f"your credential cannot record consent for {row_controller}"})
            try:
                clean = self._clean(row, "consent", org_exists)
            except ConsentInputError as exc:
                errors.extend(exc.errors)
            if errors:
                results.append({"line": line, "status": "rejected", "errors": errors})
                continue
            identity = "\x1f".join([row_controller, clean["subject"], clean["purpose"], clean["evidence_ref"],
                                    iso_utc(clean["given_at"])])
            consent_id = str(uuid.uuid5(IMPORT_NAMESPACE, identity))
            good.append((line, consent_id, row_controller, clean))
        imported = duplicates = 0
        if good:
            now = self.clock()
            with db.write_transaction(self.engine) as conn:
                ids = [g[1] for g in good]
                seen = set()
                for start in range(0, len(ids), 500):
                    seen.update(conn.execute(select(consents.c.id).where(consents.c.id.in_(ids[start:start + 500]))).scalars())
                rev = revision.bump(conn)
                rows = []
                for line, consent_id, row_controller, clean in good:
                    if consent_id in seen:
                        duplicates += 1
                        results.append({"line": line, "status": "duplicate", "id": consent_id})
                        continue
                    seen.add(consent_id)
                    rows.append({"id": consent_id, "controller": row_controller, "subject": clean["subject"],
                                 "purpose": clean["purpose"], "recipients": json.dumps(clean["recipients"]),
                                 "method": clean["method"], "evidence_ref": clean["evidence_ref"],
                                 "given_at": clean["given_at"], "expires_at": clean["expires_at"],
                                 "withdrawn_at": clean["withdrawn_at"], "recorded_at": now,
                                 "recorded_by": principal.actor, "revision": rev})
                    results.append({"line": line, "status": "imported", "id": consent_id})
                for start in range(0, len(rows), 1000):
                    conn.execute(insert(consents), rows[start:start + 1000])
                imported = len(rows)
                audit.append(conn, at=now, actor=principal.actor, org=default_controller, action="consent.import",
                             detail={"imported": imported, "duplicates": duplicates,
                                     "rejected": sum(1 for r in results if r["status"] == "rejected")})
        results.sort(key=lambda r: r["line"])
        return {"imported": imported, "duplicates": duplicates,
                "rejected": sum(1 for r in results if r["status"] == "rejected"), "rows": results}

    # -- objections ------------------------------------------------------------
    def object(self, body: dict, principal: Principal) -> dict:
        controller = self._controller(body.get("controller"), principal)
        clean = self._clean(body, "objection")
        objection_id = str(uuid.uuid4())
        with db.write_transaction(self.engine) as conn:
            rev = revision.bump(conn)
            conn.execute(insert(objections).values(
                id=objection_id, controller=controller, subject=clean["subject"], purpose=clean["purpose"],
                method=clean["method"], evidence_ref=clean["evidence_ref"], lodged_at=clean["lodged_at"],
                recorded_at=self.clock(), recorded_by=principal.actor, revision=rev))
            audit.append(conn, at=self.clock(), actor=principal.actor, org=controller, action="objection.record", target=objection_id,
                         detail={"purpose": clean["purpose"]})
            row = conn.execute(select(objections).where(objections.c.id == objection_id)).one()
        return objection_view(row)

    def withdraw_objection(self, objection_id: str, principal: Principal, at: datetime | None = None) -> dict:
        principal.require("governance")
        at = at or self.clock()
        with db.write_transaction(self.engine) as conn:
            row = _mark_withdrawn(conn, objections, "objection", objection_id, principal, at)
            audit.append(conn, at=self.clock(), actor=principal.actor, org=row.controller, action="objection.withdraw", target=objection_id)
            row = conn.execute(select(objections).where(objections.c.id == objection_id)).one()
        return objection_view(row)

    # -- reading ----------------------------------------------------------------
    def for_subject(self, subject: str, principal: Principal) -> dict:
        principal.require("governance")
        consent_query = select(consents).where(consents.c.subject == subject).order_by(consents.c.given_at)
        objection_query = select(objections).where(objections.c.subject == subject).order_by(objections.c.lodged_at)
        if not principal.is_admin:
            consent_query = consent_query.where(consents.c.controller == principal.org)
            objection_query = objection_query.where(objections.c.controller == principal.org)
        with self.engine.connect() as conn:
            return {"subject": subject,
                    "consents": [consent_view(r) for r in conn.execute(consent_query)],
                    "objections": [objection_view(r) for r in conn.execute(objection_query)]}

    def changed_since(self, conn, loaded: int, upto: int):
        """Consent and objection rows written after revision `loaded` (for the decision index)."""
        window = and_(consents.c.revision > loaded, consents.c.revision <= upto)
        owindow = and_(objections.c.revision > loaded, objections.c.revision <= upto)
        return (conn.execution_options(yield_per=10_000).execute(
                    select(consents.c.id, consents.c.subject, consents.c.controller, consents.c.purpose,
                           consents.c.recipients, consents.c.given_at, consents.c.expires_at,
                           consents.c.withdrawn_at).where(window)).all(),
                conn.execute(select(objections).where(owindow)).all())


def _mark_withdrawn(conn, table, what: str, record_id: str, principal: Principal, at: datetime):
    """Withdraw a consent or objection the caller's org controls; returns the row as it was."""
    row = conn.execute(select(table).where(table.c.id == record_id)).first()
    if row is None or (not principal.is_admin and row.controller != principal.org):
        raise not_found(f"{what} {record_id}")
    if row.withdrawn_at is not None:
        raise Conflict(f"{what} {record_id} was already withdrawn at {iso_utc(row.withdrawn_at)}")
    conn.execute(update(table).where(table.c.id == record_id).values(withdrawn_at=at, revision=revision.bump(conn)))
    return row


@contextmanager
def _csv_line_named(reader):
    """A CSV the csv module cannot read (e.g. a field over its 128 KiB limit) is refused
    naming the line its row starts on, not answered with a 500; nothing of the file is imported."""
    start = reader.line_num + 1
    try:
        yield
    except csv.Error as exc:
        raise InvalidContent(f"CSV line {start}: {exc}; nothing was imported: fix that line and send the file again"
                             ) from None


def _rows_named_on_error(reader):
    while True:
        with _csv_line_named(reader):
            row = next(reader, None)
        if row is None:
            return
        yield row
