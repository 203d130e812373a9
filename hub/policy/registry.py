"""Agreements: immutable versions, the lifecycle, every party's approval, and who may see what.

Every change writes a new version (with a readable list of changes) or a status
move (with a history row and an audit entry). Editing an agreement in force makes
a draft of the next version; the version in force stays in force until the new
one is activated, and is then retired as superseded.

A version is approved only when the governance of every provider and every
recipient it names has approved that very version. An org reads the versions
that name it, and acts (approves, activates, suspends, retires) only on those:
being named in another version, older or newer, gives no rights over this one.
Versions that do not name the caller are answered as missing (404).
"""
from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import Callable

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine

from causeway_common.canonical import canonical_json
from hub import db, sealing
from hub.audit import service as audit
from hub.auth import Principal
from hub.errors import Conflict, Forbidden, Invalid, InvalidContent, TooLarge, not_found
from hub.timeutil import iso_utc

from . import revision, special_category
from .agreements import (
    MAX_SOURCE_BYTES,
    AgreementError,
    AgreementSourceTooLarge,
    check_size,
    describe_changes,
    parse_agreement,
)
from .models import agreement_approvals, agreement_history, agreement_parties, agreement_versions, agreements
from .vocabulary import PUBLIC, TRANSITIONS

IN_FORCE = ("active", "suspended")
# Stopping an agreement always says why: the parties, and anyone who asks later, read it in its history.
REASON_NEEDED = {"suspended": "suspending", "retired": "retiring"}


def invalid_agreement(exc: AgreementError) -> InvalidContent:
    return InvalidContent(f"the agreement has {len(exc.problems)} problem(s): {exc}", slug="agreement-invalid",
                          title="Agreement not valid", problems=[p.as_dict() for p in exc.problems])


def parties_of(row) -> set[str]:
    """The orgs a version names (providers and recipients)."""
    document = json.loads(row.document)
    return set(document["providers"]) | set(document["recipients"])


def names(row, principal: Principal, public_steward: str | None = None) -> bool:
    """Whether this version names the caller's org (admin: every version). A version naming
    the public as a recipient names the org that answers for the public (the hub operator)."""
    parties = parties_of(row)
    if principal.is_admin or principal.org in parties:
        return True
    return public_steward is not None and principal.org == public_steward and PUBLIC in parties


def source_too_large(exc: AgreementSourceTooLarge) -> TooLarge:
    return TooLarge(str(exc), slug="agreement-too-large",
                    limit_bytes=exc.limit)


class AgreementRegistry:
    def __init__(self, engine: Engine, dataset_of, org_exists, max_source_bytes: int = MAX_SOURCE_BYTES,
                 clock: Callable[[], datetime] = db.utcnow, public_steward: str | None = None):
        self.engine = engine
        # The org whose governance approves for the public when an agreement publishes openly.
        self.public_steward = public_steward
        self.clock = clock
        self.dataset_of = dataset_of
        self.org_exists = org_exists
        self.max_source_bytes = max_source_bytes

    def _names(self, row, principal: Principal) -> bool:
        return names(row, principal, self.public_steward)

    # -- reading -----------------------------------------------------------
    def _versions(self, conn: Connection, agreement_id: str) -> list:
        return conn.execute(select(agreement_versions).where(agreement_versions.c.agreement_id == agreement_id)
                            .order_by(agreement_versions.c.version)).all()

    def _visible_versions(self, conn: Connection, agreement_id: str, principal: Principal) -> list:
        """The versions the caller may read: those that name its org (admin: all).
        None at all is answered as for a missing agreement: outsiders learn nothing of it."""
        principal.require("governance")
        visible = [row for row in self._versions(conn, agreement_id) if self._names(row, principal)]
        if not visible:
            raise not_found(f"agreement {agreement_id}")
        return visible

    def _approvals(self, conn: Connection, agreement_id: str, version: int) -> list[dict]:
        rows = conn.execute(select(agreement_approvals).where(
            agreement_approvals.c.agreement_id == agreement_id, agreement_approvals.c.version == version)
            .order_by(agreement_approvals.c.at)).all()
        return [{"org": r.org, "side": r.side, "actor": r.actor, "at": iso_utc(r.at)} for r in rows]

    def _version_view(self, conn: Connection, row, with_source: bool = False) -> dict:
        view = {"version": row.version, "status": row.status, "created_at": iso_utc(row.created_at),
                "created_by": row.created_by, "status_changed_at": iso_utc(row.status_changed_at),
                "changes": json.loads(row.changes), "approvals": self._approvals(conn, row.agreement_id, row.version),
                "document": json.loads(row.document)}
        if with_source:
            view["source"] = row.source
        return view

    @staticmethod
    def _summary(agreement_id: str, versions: list) -> dict:
        latest = versions[-1]
        in_force = next((v for v in reversed(versions) if v.status in IN_FORCE), None)
        shown = in_force or latest
        document = json.loads(shown.document)
        return {"id": agreement_id, "title": document["title"], "status": shown.status,
                "version": shown.version, "in_force_version": in_force.version if in_force else None,
                "latest_version": latest.version, "latest_status": latest.status,
                "providers": document["providers"], "recipients": document["recipients"],
                "datasets": sorted(document["datasets"]), "purposes": document["purposes"],
                "lawful_basis": document["lawful_basis"], "valid_from": document["valid_from"],
                "valid_until": document["valid_until"]}

    def list(self, principal: Principal) -> list[dict]:
        """Each agreement as the caller sees it: summarised from the versions that name its org."""
        principal.require("governance")
        with self.engine.connect() as conn:
            if principal.is_admin:
                ids = conn.execute(select(agreements.c.id).order_by(agreements.c.id)).scalars().all()
            else:
                standing = [principal.org] + ([PUBLIC] if principal.org == self.public_steward else [])
                ids = conn.execute(select(agreement_parties.c.agreement_id)
                                   .where(agreement_parties.c.org.in_(standing)).distinct()
                                   .order_by(agreement_parties.c.agreement_id)).scalars().all()
            found = []
            for agreement_id in ids:
                visible = [row for row in self._versions(conn, agreement_id) if self._names(row, principal)]
                if visible:
                    found.append(self._summary(agreement_id, visible))
            return found

    def get(self, agreement_id: str, principal: Principal) -> dict:
        with self.engine.connect() as conn:
            versions = self._visible_versions(conn, agreement_id, principal)
            summary = self._summary(agreement_id, versions)
            shown = next(v for v in versions if v.version == summary["version"])
            latest = versions[-1]
            readable = {v.version for v in versions}
            history = conn.execute(select(agreement_history).where(agreement_history.c.agreement_id == agreement_id)
                                   .order_by(agreement_history.c.id)).all()
            return {**summary,
                    "document": json.loads(shown.document),
                    "approvals": self._approvals(conn, agreement_id, shown.version),
                    "latest": self._version_view(conn, latest) if latest.version != shown.version else None,
                    "history": [{"version": h.version, "event": h.event, "from": h.from_status, "to": h.to_status,
                                 "actor": h.actor, "reason": h.reason, "at": iso_utc(h.at)}
                                for h in history if h.version in readable]}

    def versions(self, agreement_id: str, principal: Principal) -> list[dict]:
        with self.engine.connect() as conn:
            return [self._version_view(conn, row, with_source=True)
                    for row in self._visible_versions(conn, agreement_id, principal)]

    # -- writing -----------------------------------------------------------
    def apply(self, source: str, principal: Principal, mode: str = "any", expected_id: str | None = None) -> dict:
        """Write a new version from YAML. mode: "create" (must be new), "update" (must exist) or "any".
        Re-applying the text of the latest version changes nothing.

        Who may write is checked before the YAML is read, as far as it can be without it
        (the role; for an update, a party to the latest version); the source's size is
        bounded and anchors and aliases are refused, so reading it costs little."""
        principal.require("governance")
        if expected_id is not None:
            with self.engine.connect() as conn:
                self._check_writer(conn, expected_id, principal)
        try:
            check_size(source, self.max_source_bytes)
            document = parse_agreement(source, dataset_of=self.dataset_of, org_exists=self.org_exists)
        except AgreementSourceTooLarge as exc:
            raise source_too_large(exc) from None
        except AgreementError as exc:
            raise invalid_agreement(exc) from None
        agreement_id = document["id"]
        if expected_id is not None and agreement_id != expected_id:
            raise InvalidContent(f"the document's id is {agreement_id!r} but it was sent to agreement {expected_id!r}")
        parties = set(document["providers"]) | set(document["recipients"])
        if not principal.is_admin and principal.org not in parties:
            raise Forbidden(f"{principal.org} is neither a provider nor a recipient in this agreement, so cannot write it")
        now = self.clock()
        with db.write_transaction(self.engine) as conn:
            exists = conn.execute(select(agreements.c.id).where(agreements.c.id == agreement_id)).first()
            if exists and mode == "create":
                raise Conflict(f"agreement {agreement_id} already exists; write its next version instead")
            if not exists and mode == "update":
                raise not_found(f"agreement {agreement_id}")
            versions = self._versions(conn, agreement_id) if exists else []
            latest = versions[-1] if versions else None
            if latest is not None:
                self._check_writer(conn, agreement_id, principal)
                previous = json.loads(latest.document)
                if previous == document:
                    return {"id": agreement_id, "version": latest.version, "status": latest.status, "changed": False,
                            "changes": []}
            else:
                previous = None
                conn.execute(insert(agreements).values(id=agreement_id, created_at=now, created_by=principal.actor,
                                                       pseudonym_key=sealing.for_engine(self.engine).seal(secrets.token_hex(32))))
            version = (latest.version + 1) if latest else 1
            changes = describe_changes(previous, document)
            rev = revision.bump(conn)
            # Drafts not yet in force are superseded by the newer draft.
            for row in versions:
                if row.status in ("draft", "approved"):
                    self._move(conn, row, "retired", principal, rev, f"superseded by draft version {version}")
            conn.execute(insert(agreement_versions).values(
                agreement_id=agreement_id, version=version, status="draft",
                document=canonical_json(document).decode("utf-8"), source=source,
                changes=json.dumps(changes, ensure_ascii=False), created_at=now, created_by=principal.actor,
                status_changed_at=now, revision=rev))
            known = set(conn.execute(select(agreement_parties.c.org)
                                     .where(agreement_parties.c.agreement_id == agreement_id)).scalars())
            new_parties = sorted(parties - known)
            if new_parties:
                conn.execute(insert(agreement_parties), [{"agreement_id": agreement_id, "org": o} for o in new_parties])
            conn.execute(insert(agreement_history).values(
                agreement_id=agreement_id, version=version, event="version", from_status=None, to_status="draft",
                actor=principal.actor, reason="; ".join(changes)[:2000], at=now))
            audit.append(conn, at=now, actor=principal.actor, org=principal.org, action="agreement.version",
                         target=f"{agreement_id}/v{version}", detail={"changes": changes})
        return {"id": agreement_id, "version": version, "status": "draft", "changed": True, "changes": changes}

    def _check_writer(self, conn: Connection, agreement_id: str, principal: Principal) -> None:
        """A new version supersedes the latest: only a party to the latest may write one."""
        versions = self._versions(conn, agreement_id)
        principal.require("governance")
        if not any(self._names(row, principal) for row in versions):
            raise not_found(f"agreement {agreement_id}")
        if not self._names(versions[-1], principal):
            raise Forbidden(f"{principal.org} is not a party to the latest version of {agreement_id}, "
                            "so cannot write the next one")

    def _move(self, conn: Connection, row, to: str, principal: Principal, rev: int, reason: str | None) -> None:
        now = self.clock()
        conn.execute(update(agreement_versions).where(
            agreement_versions.c.agreement_id == row.agreement_id, agreement_versions.c.version == row.version)
            .values(status=to, status_changed_at=now, revision=rev))
        conn.execute(insert(agreement_history).values(
            agreement_id=row.agreement_id, version=row.version, event="status", from_status=row.status,
            to_status=to, actor=principal.actor, reason=reason, at=now))
        audit.append(conn, at=now, actor=principal.actor, org=principal.org, action=f"agreement.{to}",
                     target=f"{row.agreement_id}/v{row.version}", detail={"from": row.status, "reason": reason})

    @staticmethod
    def _default_version(versions: list, to: str):
        latest = versions[-1]
        in_force = next((v for v in reversed(versions) if v.status in IN_FORCE), None)
        if to == "active":
            return latest if latest.status == "approved" or in_force is None else in_force
        if to in ("suspended", "retired") and in_force is not None:
            return in_force
        return latest

    def transition(self, agreement_id: str, to: str, principal: Principal, version: int | None = None,
                   reason: str | None = None) -> dict:
        """approved (this org's approval), active, suspended or retired, of a version that names the caller."""
        if to not in ("approved", "active", "suspended", "retired"):
            raise Invalid(f"cannot move an agreement to {to!r}: use approved, active, suspended or retired")
        with db.write_transaction(self.engine) as conn:
            self._visible_versions(conn, agreement_id, principal)
            versions = self._versions(conn, agreement_id)
            if version is None:
                row = self._default_version(versions, to)
                if not self._names(row, principal):
                    raise not_found(f"a version of agreement {agreement_id} that names {principal.org} "
                                    f"and could become {to}")
            else:
                row = next((v for v in versions if v.version == version), None)
                if row is None or not self._names(row, principal):
                    raise not_found(f"version {version} of agreement {agreement_id}")
            document = json.loads(row.document)
            if to in ("approved", "active"):
                special_category.require_conditions(document, self.dataset_of, row.version, to)
            rev = revision.bump(conn)
            if to == "approved":
                return self._approve(conn, row, document, principal, rev)
            if (row.status, to) not in TRANSITIONS:
                raise Conflict(f"version {row.version} of {agreement_id} is {row.status}; "
                               f"it cannot move to {to} (allowed from {row.status}: "
                               f"{', '.join(sorted(t for f, t in TRANSITIONS if f == row.status)) or 'nothing'})")
            if to in REASON_NEEDED and not (reason or "").strip():
                raise Invalid(f"give a reason for {REASON_NEEDED[to]} agreement {agreement_id}: it is kept in the "
                              "agreement's history and the audit log, for the parties and anyone who asks later",
                              field="reason")
            if to == "active" and not self._fully_approved(conn, row, document):
                missing = self._missing(conn, row, document)
                raise Conflict(f"version {row.version} of {agreement_id} lacks the approval of {', '.join(missing)}",
                               waiting_for_orgs=missing)
            if to == "active" and row.status == "approved":
                for other in versions:
                    if other.version != row.version and other.status in IN_FORCE:
                        self._move(conn, other, "retired", principal, rev, f"superseded by version {row.version}")
            self._move(conn, row, to, principal, rev, reason.strip() if reason else reason)
        return {"id": agreement_id, "version": row.version, "status": to}

    def _approve(self, conn: Connection, row, document: dict, principal: Principal, rev: int) -> dict:
        if principal.role != "governance":
            raise Forbidden("approval is given by a governance credential of a provider or a recipient; "
                            f"a {principal.role} credential cannot approve")
        if row.status != "draft":
            raise Conflict(f"version {row.version} of {row.agreement_id} is {row.status}; only a draft is approved")
        providers = set(document["providers"])
        already = self._approvers(conn, row)
        approvers = set(already)
        for party in self._parties_approved_by(principal, document):
            if party in already:
                continue
            side = "provider" if party in providers else "recipient"
            now = self.clock()
            conn.execute(insert(agreement_approvals).values(
                agreement_id=row.agreement_id, version=row.version, org=party, side=side,
                actor=principal.actor, at=now))
            conn.execute(insert(agreement_history).values(
                agreement_id=row.agreement_id, version=row.version, event="approval", from_status=None,
                to_status=None, actor=principal.actor, reason=f"approved for {party}", at=now))
            audit.append(conn, at=now, actor=principal.actor, org=principal.org, action="agreement.approve",
                         target=f"{row.agreement_id}/v{row.version}", detail={"org": party})
            approvers.add(party)
        missing = self._missing(conn, row, document)
        if not missing:
            self._move(conn, row, "approved", principal, rev, "approved by every provider and every recipient")
            return {"id": row.agreement_id, "version": row.version, "status": "approved", "approved_by": sorted(approvers)}
        return {"id": row.agreement_id, "version": row.version, "status": "draft", "approved_by": sorted(approvers),
                "waiting_for": waiting_for(missing, document), "waiting_for_orgs": missing}

    def _parties_approved_by(self, principal: Principal, document: dict) -> list[str]:
        """The parties this caller's approval stands for: its own org, and the public when
        the caller is the public's steward and the version publishes openly."""
        parties = set(document["providers"]) | set(document["recipients"])
        standing = [principal.org] if principal.org in parties else []
        if PUBLIC in parties and self.public_steward is not None and principal.org == self.public_steward:
            standing.append(PUBLIC)
        return standing

    @staticmethod
    def _approvers(conn: Connection, row) -> set[str]:
        return set(conn.execute(select(agreement_approvals.c.org).where(
            agreement_approvals.c.agreement_id == row.agreement_id,
            agreement_approvals.c.version == row.version)).scalars())

    def _missing(self, conn: Connection, row, document: dict) -> list[str]:
        """The parties named in this version that have not approved it."""
        parties = set(document["providers"]) | set(document["recipients"])
        return sorted(parties - self._approvers(conn, row))

    def _fully_approved(self, conn: Connection, row, document: dict) -> bool:
        return not self._missing(conn, row, document)

    # -- for the decision index ---------------------------------------------
    def load_active(self, conn: Connection) -> list[tuple[dict, int, bytes]]:
        """Active versions that every party named in them approved. (A version is activated only
        once approved so; checking again here keeps one approved under an older, looser rule
        from deciding anything.)"""
        rows = conn.execute(select(agreement_versions.c.agreement_id, agreement_versions.c.document,
                                   agreement_versions.c.version, agreements.c.pseudonym_key)
                            .join(agreements, agreements.c.id == agreement_versions.c.agreement_id)
                            .where(agreement_versions.c.status == "active")).all()
        approvals: dict[tuple, set] = {}
        for a in conn.execute(select(agreement_approvals.c.agreement_id, agreement_approvals.c.version,
                                     agreement_approvals.c.org)
                              .join(agreement_versions, (agreement_versions.c.agreement_id == agreement_approvals.c.agreement_id)
                                    & (agreement_versions.c.version == agreement_approvals.c.version))
                              .where(agreement_versions.c.status == "active")):
            approvals.setdefault((a.agreement_id, a.version), set()).add(a.org)
        sealer = sealing.for_engine(conn.engine)
        active = []
        for r in rows:
            document = json.loads(r.document)
            if set(document["providers"]) | set(document["recipients"]) <= approvals.get((r.agreement_id, r.version), set()):
                active.append((document, r.version, bytes.fromhex(sealer.open(r.pseudonym_key))))
        return active


def waiting_for(missing: list[str], document: dict) -> str:
    """Who must still approve, in words: 'approval by a governance credential of fife (provider), sds (recipient)'."""
    providers = set(document["providers"])
    return "approval by a governance credential of " + ", ".join(
        f"{org} ({'provider' if org in providers else 'recipient'})" for org in missing)
