"""The staff console: server-rendered pages for governance and operations staff under /console.

  blueprint.py      the blueprint and its guards (sign-in, roles, CSRF), navigation, error pages
  filters.py        template filters, registered on the app by init_console
  queries.py        read-only queries behind the pages
  *_words.py        agreements and rejects said in sentences (summaries, what a change changes, rules)
  *_views.py        the pages, one module per area; each adds its routes to the blueprint
  service.py        staff accounts, sessions and the CSRF token (no Flask)

View modules import the blueprint, filters and queries, never each other; this package
imports every view module, so mounting the console mounts every page.
"""
from __future__ import annotations

from flask import redirect, url_for

from . import (
    agent_config_views,
    agreement_views,
    alert_views,
    benchmark_views,
    coverage_views,
    derived_views,
    filters,
    open_data_views,
    operations_views,
    overview_views,
    referral_views,
    return_calendar_views,
    return_definition_views,
    returns_views,
    row_views,
    sign_in_views,
    subject_views,
    submitter_views,
)
from .blueprint import ConsoleSessionInterface, console
from .service import secret_key

VIEW_MODULES = (agent_config_views, agreement_views, alert_views, benchmark_views, coverage_views, derived_views,
                open_data_views, operations_views, overview_views, referral_views, return_calendar_views,
                return_definition_views, returns_views, row_views, sign_in_views, subject_views, submitter_views)


def init_console(flask_app, services) -> None:
    """Mount the console on the hub's Flask app: session cookies, template filters, every page."""
    settings = services.settings
    flask_app.secret_key = settings.secret_key or secret_key(services.engine)
    flask_app.session_interface = ConsoleSessionInterface()
    flask_app.config.update(
        SESSION_COOKIE_NAME="causeway_console",
        SESSION_COOKIE_PATH="/console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
    )
    filters.register(flask_app)
    flask_app.register_blueprint(console)
    # Browsers ask for /favicon.ico on pages that name no icon (the API's, other domains' pages).
    flask_app.add_url_rule("/favicon.ico", "favicon",
                           lambda: redirect(url_for("console.static", filename="favicon.svg"), 301))
