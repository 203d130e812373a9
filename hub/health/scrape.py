"""GET /metrics: Prometheus text for scrapers that show a bearer token (the metrics
token, or an ops or admin API key), or for anyone when the operator opened it."""
from __future__ import annotations

import hmac

from flask import Response, request

from hub.problems import Problem, forbidden

SCRAPER_ROLES = ("ops", "admin")


def _authorise(services, header: str) -> None:
    settings = services.settings
    if settings.open_metrics:
        return
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Problem(401, "Unauthorized", "/metrics needs a bearer token: the hub's metrics token "
                                           "(CAUSEWAY_METRICS_TOKEN) or an ops or admin API key")
    if settings.metrics_token and hmac.compare_digest(token.encode(), settings.metrics_token.encode()):
        return
    principal = services.orgs.authenticate(token)
    if principal is None:
        raise Problem(401, "Unauthorized", "the bearer token is neither the metrics token nor a valid API key")
    if principal.role not in SCRAPER_ROLES:
        raise forbidden(f"/metrics is for ops and admin credentials (or the metrics token); yours is {principal.role}")


def metrics_view(services):
    def metrics():
        _authorise(services, request.headers.get("Authorization", ""))
        # content_type, not mimetype: the exposition's type already names its charset.
        return Response(services.metrics.exposition(), content_type=services.metrics.content_type)
    return metrics
