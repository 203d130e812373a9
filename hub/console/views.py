"""The console's pages: a Flask blueprint under /console, server-rendered with Jinja2.

Views stay thin: they read the signed-in staff user, call the domain services
(with the user's org and role as the principal, so the API's rules apply) or
the read-only queries in hub.console.queries, and render a template.
"""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, timedelta
from functools import wraps
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface

from causeway_common.cells import csv_cell
from hub.audit import service as audit
from hub.auth import has_operator_view
from hub.errors import HubError
from hub.problems import status_of
from hub.timeutil import iso_utc

from . import queries
from .charts import line_chart
from .service import csrf_token_matches, new_csrf_token, secret_key

console = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
                    static_folder="static", static_url_path="/static")

ALL_STAFF = ("governance", "ops")  # admin may do anything
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

# The navigation: endpoint, label, roles that may open it.
PAGES = [
    ("console.overview", "Overview", ALL_STAFF),
    ("console.agreements", "Agreements", ("governance",)),
    ("console.subjects", "Subjects", ("governance",)),
    ("console.subscriptions", "Subscriptions", ALL_STAFF),
    ("console.agents", "Agents", ALL_STAFF),
    ("console.quality", "Data quality", ALL_STAFF),
    ("console.catalogue", "Catalogue", ALL_STAFF),
    ("console.audit_log", "Audit log", ALL_STAFF),
    ("returns_console.index", "Data returns", ALL_STAFF),
]

class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Signed session cookies, marked Secure whenever the request came over HTTPS."""

    def get_cookie_secure(self, app) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"] or request.is_secure)


def init_console(flask_app, services) -> None:
    """Mount the console on the hub's Flask app."""
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
    from . import agreement_views, operations_views, subject_views  # noqa: F401  (they add their routes to the blueprint)

    flask_app.register_blueprint(console)
    flask_app.before_request(_sign_in_for_other_console_pages)
    # Browsers ask for /favicon.ico on pages that name no icon (the API's, other domains' pages).
    flask_app.add_url_rule("/favicon.ico", "favicon",
                           lambda: redirect(url_for("console.static", filename="favicon.svg"), 301))


def _sign_in_for_other_console_pages():
    """Console pages other domains serve under /console (e.g. /console/returns) see the
    signed-in user as g.principal, with the same session rules."""
    if request.path.startswith("/console/") and request.blueprint not in (None, "console"):
        g.staff = services().accounts.user_for_session(session.get("token"))
        if g.staff is not None:
            g.principal = g.staff.principal


# -- helpers -----------------------------------------------------------------
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


_LOCAL_CONSOLE_PATH = re.compile(r"/console(?:[/?#][\x21-\x7e]*)?")  # printable ASCII, no spaces or CR/LF


def _safe_next(target: str | None) -> str:
    """Only redirect to a console page on this hub after sign-in: a local path, with nothing
    that could end the Location header (CR/LF) or name another host."""
    if target and _LOCAL_CONSOLE_PATH.fullmatch(target) and "\\" not in target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("console.overview")


def _parse_day(text: str | None, default: date | None = None) -> date | None:
    if not text:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        flash(f"{text!s} is not a date (use YYYY-MM-DD); it was ignored.", "error")
        return default


@console.app_template_global()
def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = new_csrf_token()
    return session["csrf"]


@console.app_template_filter("pretty_json")
def pretty_json(value, indent: int | None = 2) -> str:
    """JSON for people to read (autoescaped like any other text)."""
    return json.dumps(value, indent=indent, ensure_ascii=False, separators=None if indent else (", ", ": "))


@console.app_context_processor
def _navigation():
    return {"nav_pages": [(endpoint, label) for endpoint, label, roles in PAGES
                          if allowed(roles) and endpoint.split(".")[0] in current_app.blueprints],
            "staff": staff(), "now_iso": iso_utc(services().clock())}


# -- every request -----------------------------------------------------------
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


# -- signing in and out ------------------------------------------------------
@console.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    next_page = request.values.get("next", "")
    if request.method == "GET":
        if staff() is not None:
            return redirect(_safe_next(next_page))
        return render_template("console/sign_in.html", next_page=next_page, username="")
    username = request.form.get("username", "")
    result = services().accounts.sign_in(username, request.form.get("password", ""), request.remote_addr or "")
    if not result.ok:
        if result.retry_after_seconds:
            message, status = (f"Too many failed sign-ins. Wait {result.retry_after_seconds} seconds, "
                               "then try again."), 429
        else:
            message, status = "That username and password do not match an account.", 401
        response = Response(render_template("console/sign_in.html", next_page=next_page, username=username,
                                            error=message), status=status)
        if status == 429:
            response.headers["Retry-After"] = str(result.retry_after_seconds)
        return response
    session.clear()  # a fresh session, so nothing from before sign-in carries over
    session["token"] = services().accounts.start_session(result.user)
    session["csrf"] = new_csrf_token()
    return redirect(_safe_next(next_page))


@console.post("/sign-out")
def sign_out():
    services().accounts.end_session(session.get("token"))
    session.clear()
    flash("You have signed out.", "info")
    return redirect(url_for("console.sign_in"))


# -- overview ----------------------------------------------------------------
@console.get("/")
@requires(*ALL_STAFF)
def overview():
    now = services().clock()
    engine = services().engine
    labels, series = queries.records_per_hour(engine, visible_org(), now)
    chart = line_chart("Records accepted per hour, by dataset (last 24 hours, UTC)",
                       [label[-2:] + ":00" for label in labels], series, unit="records")
    today = queries.publish_totals(engine, visible_org(), queries.start_of_day(now.date()))
    awaiting = None
    if allowed(("governance",)):
        awaiting = [a for a in services().policy.agreements.list(staff().principal)
                    if a["latest_status"] in ("draft", "approved")]
    from .operations_views import agent_summaries, needs_attention, subscription_statuses

    agents = agent_summaries()
    troubled = [(s, needs_attention(s)) for s in subscription_statuses()]
    return render_template("console/overview.html", chart=chart, today=today, awaiting=awaiting,
                           agents_up=[a for a in agents if a["status"] == "up"],
                           agents_stale=[a for a in agents if a["status"] == "stale"],
                           subscriptions_total=len(troubled),
                           troubled=[(s, reasons) for s, reasons in troubled if reasons])


# -- catalogue ---------------------------------------------------------------
@console.get("/catalogue")
@requires(*ALL_STAFF)
def catalogue():
    return render_template("console/catalogue.html", datasets=services().catalogue.all())


@console.get("/catalogue/<name>")
@requires(*ALL_STAFF)
def dataset(name: str):
    found = services().catalogue.get(name)
    if found is None:
        abort(404, description=f"There is no dataset called {name}.")
    version = request.args.get("version", type=int) or found.latest_version
    if version not in found.schemas:
        abort(404, description=f"Dataset {name} has no schema version {version}.")
    sharing = None
    if allowed(("governance",)):
        sharing = [a for a in services().policy.agreements.list(staff().principal) if name in a["datasets"]]
    return render_template("console/dataset.html", dataset=found, version=version, sharing=sharing,
                           fields=found.fields(version), examples=found.schemas[version].get("examples", []))


# -- audit log ---------------------------------------------------------------
@console.get("/audit")
@requires(*ALL_STAFF)
def audit_log():
    args = request.args
    chosen = queries.AuditFilter(
        action=args.get("action") or None, actor=args.get("actor") or None, target=args.get("target") or None,
        org=(args.get("org") or None) if staff().role == "admin" else None,
        since=_parse_day(args.get("since")), until=_parse_day(args.get("until")),
        before=args.get("before", type=int))
    engine = services().engine
    entries, next_before = queries.audit_page(engine, visible_org(), chosen)
    filters = {k: v for k, v in args.items() if k != "before" and v}
    return render_template("console/audit.html", entries=entries, next_before=next_before, chosen=chosen,
                           filters=filters, actions=queries.audit_actions(engine, visible_org()),
                           orgs=services().orgs.list_orgs() if staff().role == "admin" else [])


@console.post("/audit/verify")
@requires(*ALL_STAFF)
def verify_audit_chain():
    checked, broken = audit.verify(services().engine)
    if broken is None:
        flash(f"The audit chain is intact: all {checked} entries verified.", "success")
    else:
        flash(f"The audit chain is BROKEN at entry {broken.seq}: {broken.reason}. "
              f"{checked} entries before it verified.", "error")
    return redirect(url_for("console.audit_log"))


# -- data quality ------------------------------------------------------------
@console.get("/quality")
@requires(*ALL_STAFF)
def quality():
    today = services().clock().date()
    engine = services().engine
    since = queries.start_of_day(today - timedelta(days=13))
    # Reject counts and failing fields are health metadata (the hub operator sees every org's);
    # error messages quote values, so they stay with their own org.
    counted = None if hub_wide() else visible_org()
    labels, by_publisher = queries.rejects_per_day(engine, counted, today, by="publisher")
    _labels, by_dataset = queries.rejects_per_day(engine, counted, today, by="dataset")
    short = [label[5:] for label in labels]
    return render_template(
        "console/quality.html", today=today,
        publisher_chart=line_chart("Rejected records per day, by publisher (last 14 days)", short, by_publisher,
                                   unit="rejected records"),
        dataset_chart=line_chart("Rejected records per day, by dataset (last 14 days)", short, by_dataset,
                                 unit="rejected records"),
        fields=queries.rejected_fields(engine, counted, since), hub_wide=hub_wide(),
        errors=queries.common_errors(engine, visible_org(), since),
        orgs=services().orgs.list_orgs() if staff().role == "admin" else [])


@console.get("/quality/report.csv")
@requires(*ALL_STAFF)
def quality_report():
    day = _parse_day(request.args.get("day"), services().clock().date())
    org = visible_org() if staff().role != "admin" else (request.args.get("org") or None)
    rows = queries.daily_quality_report(services().engine, org, day)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=queries.QUALITY_REPORT_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: csv_cell(v) for k, v in row.items()})
    filename = f"quality-{org or 'all'}-{day.isoformat()}.csv"
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
