"""The console's blueprint and its guards: who is signed in, which roles may open a page,
the CSRF check on every form, the navigation, and the error pages.

Every view module adds its routes to `console` and guards them with `requires(...)`;
none imports another view module. The package (`hub/console/__init__.py`) imports the
view modules and mounts the blueprint.
"""
from __future__ import annotations

from functools import wraps

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface

from hub.auth import has_operator_view
from hub.errors import HubError
from hub.problems import status_of
from hub.timeutil import iso_utc

from .service import csrf_token_matches, new_csrf_token

console = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
                    static_folder="static", static_url_path="/static")

ALL_STAFF = ("governance", "ops")  # admin may do anything
GOVERNANCE = ("governance",)
OPERATORS = ("ops",)  # and admin: they act on deliveries
# Any staff role of an org sees its returns: the returns' rules entitle the org, not the
# role (hub.returns.service.ReturnService.visible_publishers decides whose figures).
RETURNS_STAFF = ALL_STAFF + ("submitter",)  # council staff who send and submit returns
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

# The navigation: endpoint, label, roles that may open it.
PAGES = [
    ("console.overview", "Overview", ALL_STAFF),
    ("console.agreements", "Agreements", GOVERNANCE),
    ("console.subjects", "Subjects", GOVERNANCE),
    ("console.subscriptions", "Subscriptions", ALL_STAFF),
    ("console.agents", "Agents", ALL_STAFF),
    ("console.coverage", "Coverage", ALL_STAFF),
    ("console.alerts", "Alerts", OPERATORS),
    ("console.quality", "Data quality", ALL_STAFF),
    ("console.returns", "Data returns", RETURNS_STAFF),
    ("console.benchmarks", "Benchmarks", RETURNS_STAFF),
    ("console.referrals", "Referrals", GOVERNANCE),
    ("console.catalogue", "Catalogue", ALL_STAFF),
    ("console.open_data_usage", "Open data", ALL_STAFF),
    ("console.audit_log", "Audit log", ALL_STAFF),
]


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Signed session cookies, marked Secure whenever the request came over HTTPS."""

    def get_cookie_secure(self, app) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"] or request.is_secure)


# -- who is signed in and what they may see ------------------------------------
def services():
    return current_app.extensions["causeway"]


def staff():
    return g.get("staff")


def visible_org() -> str | None:
    """Whose data the signed-in user may see: their own org's, or every org's for admins."""
    user = staff()
    return None if user.role == "admin" else user.org


def hub_wide() -> bool:
    """Whether the signed-in user sees health metadata of every org (subscriptions, agents, reject
    counts): admins, and the hub operator's ops staff."""
    user = staff()
    return user.role == "admin" or has_operator_view(user.principal, services().settings.hub_operator)


def allowed(roles) -> bool:
    user = staff()
    return user is not None and (user.role == "admin" or user.role in roles)


def requires(*roles: str):
    """Only signed-in staff with one of these roles (or admin) may use the view."""
    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if staff() is None:
                return redirect(url_for("console.sign_in", next=request.full_path.rstrip("?")))
            if not allowed(roles):
                abort(403, description=f"This page is for {' or '.join(roles)} staff; you are signed in as {staff().role}.")
            return view(*args, **kwargs)
        return wrapper
    return decorate


@console.app_template_global()
def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = new_csrf_token()
    return session["csrf"]


@console.app_context_processor
def _navigation():
    return {"nav_pages": [(endpoint, label) for endpoint, label, roles in PAGES if allowed(roles)],
            "staff": staff(), "now_iso": iso_utc(services().clock())}


# -- every request -------------------------------------------------------------
@console.before_request
def _load_user_and_check_csrf():
    g.staff = services().accounts.user_for_session(session.get("token"))
    if g.staff is None and "token" in session:
        session.pop("token")
    if request.method not in SAFE_METHODS and request.endpoint != "console.static":
        given = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token")
        if not csrf_token_matches(session.get("csrf"), given):
            abort(403, description="This form had expired or did not come from the console, so nothing was done. "
                                   "Reload the page and try again.")


# -- error pages ---------------------------------------------------------------
def _error_page(status: int, title: str, detail: str):
    return render_template("console/error.html", status=status, title=title, detail=detail), status


@console.errorhandler(HubError)
def _hub_error(error: HubError):
    """A domain error the page did not show beside its form: an error page in the domain's words."""
    return _error_page(status_of(error), error.title, error.detail)


@console.errorhandler(400)
@console.errorhandler(403)
@console.errorhandler(404)
@console.errorhandler(405)
def _http_error(exc):
    return _error_page(exc.code, exc.name, exc.description)
