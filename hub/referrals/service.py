"""Referrals between services, read as journeys.

A referral (dataset `referral`, schema version 3 on) names the org it is for in
`receiving_org`; the decision point hands it to that org only (`Dataset.addressee_field`).
Versions 1 and 2 name no addressee: the hub refuses them at publish (hub.records).
The addressee answers with `referral-status` records naming the referral and the
referring org, which go back to the referrer only, under an agreement that declares the
dataset `direction: recipients-to-providers`.

This service reads both out of the record log (the latest version of each key) and shows
each side what it may see:

- the referrer: its own referrals, and the status updates the decision point lets back to it;
- the addressee: the referrals the decision point lets it receive (as projected), and its
  own status updates.

Whatever it shows the other side is a disclosure, recorded as the feed records it
(channel `referrals`). A referral is overdue when the agreement states a time to
acknowledge (`acknowledge_within: {working_days: N}`) and the addressee has written no
status by then; `overdue_referrals` lists those hub-wide for the alert rules (metadata only).
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.engine import Engine

from hub import db
from hub.audit import service as audit
from hub.auth import Principal
from hub.errors import Forbidden, not_found
from hub.policy.decision import Disclosure
from hub.statistics.suppression import DEFAULT_THRESHOLD
from hub.timeutil import iso_utc

from . import journey
from .log import REFERRAL, Referral, load_referrals
from .report import partnership_report

CHANNEL = "referrals"
READERS = ("publisher", "subscriber", "governance")  # the org's own staff and agents; never admin (payloads)


class ReferralService:
    def __init__(self, engine: Engine, policy, clock: Callable[[], datetime] = db.utcnow):
        self.engine = engine
        self.policy = policy
        self.clock = clock

    # -- due and overdue ---------------------------------------------------
    def due_by(self, referral: Referral, at: datetime) -> tuple[datetime, str] | None:
        """When the addressee must acknowledge it by, and the agreement that says so."""
        stated = self.policy.acknowledge_days(referral.referrer, referral.addressee, REFERRAL, at)
        if stated is None:
            return None
        days, agreement_id, calendar = stated
        return journey.add_working_days(referral.referred_at, days, calendar), agreement_id

    def _overdue(self, referral: Referral, at: datetime) -> tuple[bool, str | None]:
        due = self.due_by(referral, at)
        if due is None:
            return False, None
        return (not referral.statuses and at > due[0]), iso_utc(due[0])

    def overdue_referrals(self, at: datetime | None = None, receiving_org: str | None = None) -> list[dict]:
        """Referrals not acknowledged within their agreement's stated time, hub-wide (or addressed to
        `receiving_org`): who referred, to whom, when, and when it was due. Metadata only, for alerts."""
        at = at or self.clock()
        with self.engine.connect() as conn:
            referrals = load_referrals(conn)
        found = []
        for referral in referrals:
            if receiving_org is not None and referral.addressee != receiving_org:
                continue
            due = self.due_by(referral, at)
            if due is not None and not referral.statuses and at > due[0]:
                found.append({"referral_id": referral.payload["referral_id"], "referring_org": referral.referrer,
                              "receiving_org": referral.addressee, "receiving_team": referral.payload.get("receiving_team"),
                              "referred_at": iso_utc(referral.referred_at), "due_by": iso_utc(due[0]),
                              "agreement_id": due[1]})
        return found

    # -- each side's view ----------------------------------------------------
    def _visible(self, principal: Principal, purpose: str, at: datetime, referrals: list[Referral]):
        """(referral, side, shown payload, shown statuses) for each referral the caller may see,
        and the disclosures the showing makes."""
        shown, disclosures = [], []
        for referral in referrals:
            if referral.referrer == principal.org:
                statuses = []
                for seq, status in referral.statuses:
                    decision = self.policy.decide(status, principal.org, purpose, at)
                    if decision.allowed:
                        statuses.append(decision.payload)
                        disclosures.append(Disclosure.of(status, seq, decision, principal.org, purpose, at))
                shown.append((referral, "sent", referral.payload, statuses))
            elif referral.addressee == principal.org:
                decision = self.policy.decide(referral.envelope, principal.org, purpose, at)
                if decision.allowed:
                    disclosures.append(Disclosure.of(referral.envelope, referral.seq, decision, principal.org,
                                                     purpose, at))
                    shown.append((referral, "received", decision.payload,
                                  [status["payload"] for _, status in referral.statuses]))
        return shown, disclosures

    def _read(self, principal: Principal, purpose: str, pick: Callable[[Referral], bool]):
        if principal.is_admin:
            raise Forbidden("referrals are read by the organisations that send or receive them; "
                            "an admin credential reads no payloads")
        principal.require(*READERS)
        at = self.clock()
        with self.engine.connect() as conn:
            referrals = [r for r in load_referrals(conn) if pick(r)]
        shown, disclosures = self._visible(principal, purpose, at, referrals)
        if disclosures:
            with db.write_transaction(self.engine) as conn:
                self.policy.record_disclosures(conn, disclosures, CHANNEL, actor=principal.actor)
        return shown, at

    def _summary(self, referral: Referral, side: str, payload: dict, statuses: list, at: datetime) -> dict:
        overdue, due_by = self._overdue(referral, at)
        return {
            "referral_id": referral.payload["referral_id"], "side": side,
            "referring_org": referral.referrer, "receiving_org": referral.addressee,
            "receiving_team": payload.get("receiving_team"), "referred_at": referral.payload["referred_at"],
            "state": journey.current_state(statuses), "acknowledged": bool(referral.statuses),
            "due_by": due_by, "overdue": overdue,
        }

    def list(self, principal: Principal, side: str | None = None, overdue: bool | None = None,
             purpose: str = "ServiceProvision") -> dict:
        """The caller's referrals, sent and received (or one side), newest first."""
        shown, at = self._read(principal, purpose, lambda r: principal.org in (r.referrer, r.addressee))
        found = [self._summary(referral, kind, payload, statuses, at) for referral, kind, payload, statuses in shown]
        found = [s for s in found if (side is None or s["side"] == side) and (overdue is None or s["overdue"] == overdue)]
        return {"referrals": sorted(found, key=lambda s: s["referred_at"], reverse=True), "at": iso_utc(at)}

    def timeline(self, referring_org: str, referral_id: str, principal: Principal,
                 purpose: str = "ServiceProvision") -> dict:
        """One referral's current state and its steps, as the caller's side may see them (404 otherwise)."""
        shown, at = self._read(principal, purpose, lambda r: r.referrer == referring_org
                               and r.payload.get("referral_id") == referral_id
                               and principal.org in (r.referrer, r.addressee))
        if not shown:
            raise not_found(f"referral {referral_id} from {referring_org}")
        referral, side, payload, statuses = shown[0]
        steps = [{"step": "referred", "at": referral.payload["referred_at"], "by": referral.referrer}]
        for status in journey.ordered(statuses):
            steps.append({"step": status["status"], "at": status["status_at"], "by": referral.addressee,
                          **{k: status[k] for k in ("decline_reason", "note", "status_id") if status.get(k)}})
        return {**self._summary(referral, side, payload, statuses, at), "referral": payload, "timeline": steps,
                "at": iso_utc(at)}

    # -- partnership figures -------------------------------------------------
    def report_agreements(self, principal: Principal) -> list[dict]:
        """The active referral agreements the caller's org is a party to (whose figures it may see)."""
        return [{"id": agreement.id, "version": agreement.version}
                for agreement in self.policy.active_agreements()
                if REFERRAL in agreement.datasets and principal.org in agreement.providers | agreement.recipients]

    def report(self, agreement_id: str, principal: Principal) -> dict:
        """Partnership figures of an active agreement, for governance of its parties (404 to anyone else)."""
        principal.require("governance")
        agreement = self.policy.active_agreement(agreement_id)
        # The parties' own governance only: an admin credential is the hub's, not a party's.
        if (agreement is None or REFERRAL not in agreement.datasets or principal.is_admin
                or principal.org not in agreement.providers | agreement.recipients):
            raise not_found(f"an active referral agreement {agreement_id} that names {principal.org}")
        at = self.clock()
        with self.engine.connect() as conn:
            referrals = load_referrals(conn)
        figures = partnership_report(agreement, referrals, DEFAULT_THRESHOLD)
        with db.write_transaction(self.engine) as conn:
            audit.append(conn, at=at, actor=principal.actor, org=principal.org, action="referral.report",
                         target=f"{agreement.id}/v{agreement.version}",
                         detail={"suppressed": sum(table["suppressed"] for table in figures["tables"])})
        return {**figures, "generated_at": iso_utc(at)}
