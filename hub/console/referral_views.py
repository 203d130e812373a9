"""Referral pages: the referrals an org sent and received with their state and whether they
are overdue, one referral's timeline, and the partnership figures of an agreement.

Each side sees exactly what the referrals service shows an API key of its org and role: the
referrer its referral and the updates let back to it, the addressee the referral as the
agreement projects it (a disclosure, recorded) and its own updates.
"""
from __future__ import annotations

from flask import render_template, request

from hub.referrals.journey import DECLINE_REASONS

from .blueprint import GOVERNANCE, console, requires, services, staff


@console.get("/referrals")
@requires(*GOVERNANCE)
def referrals():
    if staff().role == "admin":  # referrals carry people's details: only the two sides read them
        return render_template("console/referrals_admin.html")
    side = request.args.get("side") if request.args.get("side") in ("sent", "received") else None
    overdue = True if request.args.get("overdue") == "yes" else None
    referrals_ = services().referrals
    view = referrals_.list(staff().principal, side, overdue)
    return render_template("console/referrals.html", view=view, side=side, overdue=overdue,
                           reports=referrals_.report_agreements(staff().principal))


@console.get("/referrals/<referring_org>/<referral_id>")
@requires(*GOVERNANCE)
def referral(referring_org: str, referral_id: str):
    view = services().referrals.timeline(referring_org, referral_id, staff().principal)
    return render_template("console/referral.html", view=view, reasons=DECLINE_REASONS)


@console.get("/referrals/figures/<agreement_id>")
@requires(*GOVERNANCE)
def referral_figures(agreement_id: str):
    view = services().referrals.report(agreement_id, staff().principal)
    return render_template("console/referral_figures.html", view=view)
