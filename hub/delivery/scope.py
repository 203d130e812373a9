"""Who sees and acts on which subscription.

An org's subscriber, ops and governance credentials read its own subscriptions (subscriber
and ops act on them); admin reads and acts on all. The hub operator's ops read every org's
subscriptions as health metadata only: no filter (it names payload values), no error text
(it can quote the endpoint), and a webhook URL cut to scheme and host. Anyone else is told
a subscription does not exist.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from hub.auth import Principal, has_operator_view
from hub.errors import Forbidden, not_found

READERS = ("subscriber", "ops", "governance")
# Keys of a subscription's view or status that only its own org (and admin) may read.
OWN_ORG_ONLY = ("filter", "last_error")


def origin(url: str | None) -> str | None:
    """https://host:port of a URL: no credentials, path or query string."""
    if not url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}"


def metadata_only(answer: dict) -> dict:
    """A subscription's view or status as the hub operator may read it."""
    shown = {k: v for k, v in answer.items() if k not in OWN_ORG_ONLY}
    if "url" in shown:
        shown["url"] = origin(shown["url"])
    if (shown.get("status_reason") or "").startswith("disabled"):
        shown["status_reason"] = "disabled"  # the rest quotes the endpoint's failure
    return shown


class SubscriptionScope:
    def __init__(self, hub_operator: str | None):
        self.hub_operator = hub_operator

    def reads_all(self, principal: Principal) -> bool:
        """Admin, or the hub operator's ops (metadata only)."""
        return principal.is_admin or has_operator_view(principal, self.hub_operator)

    def readable(self, row, sub_id: str, principal: Principal):
        """The row, if the caller may read it; otherwise 404."""
        if row is not None and (row.org == principal.org or self.reads_all(principal)):
            return row
        raise not_found(f"subscription {sub_id}")

    def actionable(self, row, sub_id: str, principal: Principal):
        """The row, if the caller may act on it: its own org or admin. The hub operator, who can
        see it, is told why not (403); anyone else that it does not exist (404)."""
        self.readable(row, sub_id, principal)
        if row.org != principal.org and not principal.is_admin:
            raise Forbidden(f"subscription {sub_id} belongs to {row.org}: the hub operator sees other orgs' "
                            "subscriptions as metadata; their dead letters, feeds and actions need an admin credential")
        return row

    def shown(self, row, principal: Principal, answer: dict) -> dict:
        if row.org == principal.org or principal.is_admin:
            return answer
        return metadata_only(answer)

    def list_org(self, principal: Principal, org: str | None) -> str | None:
        """Whose subscriptions a list shows (None: every org's)."""
        principal.require(*READERS)
        if self.reads_all(principal):
            return org
        if org is not None and org != principal.org:
            raise Forbidden(f"your credential belongs to {principal.org} and lists only its subscriptions")
        return principal.org
