"""The alert a referral raises when its addressee has not acknowledged it in the time its
agreement states: to the receiving org (and the hub operator, as every alert)."""
from __future__ import annotations

from datetime import datetime

from hub.alerts.registry import Condition, Sources, rule


@rule("referral-overdue", "a referral has not been acknowledged within the time its agreement states")
def referral_overdue(sources: Sources, now: datetime, settings) -> list[Condition]:
    return [Condition("referral-overdue", f"{late['referring_org']}/{late['referral_id']}", (late["receiving_org"],),
                      f"A referral from {late['referring_org']} to {late['receiving_org']} has not been acknowledged; "
                      f"it was due by {late['due_by'][:10]}",
                      {"referring_org": late["referring_org"], "referral_id": late["referral_id"],
                       "due_by": late["due_by"], "agreement_id": late["agreement_id"]})
            for late in sources.overdue_referrals(now)]
