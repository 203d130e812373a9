"""GET /metrics: Prometheus text for scrapers that show a bearer token (the metrics
token, an admin key, or an ops key of the hub operator), or for anyone when the operator
opened it. The figures are hub-wide (every org's datasets and subscriptions), so an ops key
of any other org is refused: it sees its own org's health through the API and console."""
from __future__ import annotations

import hmac

from flask import Response, request

from hub.auth import has_operator_view
from hub.errors import Forbidden, Unauthenticated


def _authorise(services, header: str) -> None:
    settings = services.settings
    if settings.open_metrics:
        return
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("/metrics needs a bearer token: the hub's metrics token "
                              "(CAUSEWAY_METRICS_TOKEN), an admin key or the hub operator's ops key")
    if settings.metrics_token and hmac.compare_digest(token.encode(), settings.metrics_token.encode()):
        return
    principal = services.orgs.authenticate(token)
    if principal is None:
        raise Unauthenticated("the bearer token is neither the metrics token nor a valid API key")
    if not (principal.is_admin or has_operator_view(principal, settings.hub_operator)):
        raise Forbidden("/metrics shows every org's figures: it is for the metrics token, admin keys and the hub "
                        f"operator's ops keys; yours is {principal.org}'s {principal.role} key")


def metrics_view(services):
    def metrics():
        _authorise(services, request.headers.get("Authorization", ""))
        # content_type, not mimetype: the exposition's type already names its charset.
        return Response(services.metrics.exposition(), content_type=services.metrics.content_type)
    return metrics
