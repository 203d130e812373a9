"""Partnership figures for one agreement: referrals, acceptance, attendance and outcomes per
quarter by provider (the service referred to), declines by reason, and each client group the
agreement passes, computed at the hub from the record log, with small counts suppressed
(hub.statistics.suppression: one protected table per question).

Shown to the parties of the agreement only; no payload, subject or referral id leaves.
"""
from __future__ import annotations

from collections import Counter

from hub.statistics.suppression import protect

from . import journey
from .log import Referral


def referral_table(referrals: list[Referral], row_of, threshold: int, title: str, row_label: str) -> dict:
    """Referrals by row and current state (awaiting, received, accepted, declined, ... outcomes)."""
    counts: Counter = Counter()
    for referral in referrals:
        state = journey.current_state([status["payload"] for _, status in referral.statuses])
        counts[row_of(referral), state] += 1
    rows = sorted({row for row, _ in counts})
    return _table(counts, rows, journey.STATES, threshold, title, row_label, "state")


def decline_table(referrals: list[Referral], row_of, threshold: int) -> dict:
    counts: Counter = Counter()
    for referral in referrals:
        for _, status in referral.statuses:
            if status["payload"]["status"] == "declined":
                counts[row_of(referral), status["payload"]["decline_reason"]] += 1
                break
    rows = sorted({row for row, _ in counts})
    return _table(counts, rows, journey.DECLINE_REASONS, threshold, "Declined referrals by reason",
                  "quarter and provider", "reason")


def _table(counts: Counter, rows, columns, threshold: int, title: str, row_label: str, column_label: str) -> dict:
    protected = protect(dict(counts), rows=rows, columns=columns, threshold=threshold)
    return {"title": title, "row_label": row_label, "column_label": column_label,
            "suppressed": protected.suppressed_count, **protected.as_dict()}


def partnership_report(agreement, referrals: list[Referral], threshold: int) -> dict:
    """The agreement's referrals (from its providers to its recipients), as protected tables."""
    covered = [r for r in referrals if r.referrer in agreement.providers and r.addressee in agreement.recipients]

    def quarter_and_provider(referral: Referral) -> str:
        return f"{journey.quarter_of(referral.referred_at)} {referral.addressee}"

    tables = [referral_table(covered, quarter_and_provider, threshold,
                             "Referrals by quarter, provider and state", "quarter and provider"),
              decline_table(covered, quarter_and_provider, threshold)]
    # Only the client groups the agreement passes: a group it does not name stays with the referrer.
    passed = agreement.datasets["referral"].passed
    for field in journey.CLIENT_GROUPS:
        if field in passed:
            tables.append(referral_table(covered, lambda r, f=field: journey.group_value(r.payload, f), threshold,
                                         f"Referrals by {field.replace('_', ' ')} and state", field))
    return {"agreement_id": agreement.id, "agreement_version": agreement.version, "threshold": threshold,
            "tables": tables}
