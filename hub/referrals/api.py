"""Thin handlers for referrals: each side's list, one referral's timeline, partnership figures."""
from hub.web import ok, principal, services


def list_referrals(side=None, overdue=None, purpose="ServiceProvision"):
    return ok(services().referrals.list(principal(), side, overdue, purpose))


def get_referral(referring_org, referral_id, purpose="ServiceProvision"):
    return ok(services().referrals.timeline(referring_org, referral_id, principal(), purpose))


def referral_report(agreement_id):
    return ok(services().referrals.report(agreement_id, principal()))
