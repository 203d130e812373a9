"""Signing in and out of the console: username and password, throttled per account and
address by the account service; a fresh session (and CSRF token) on every sign-in."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Response, flash, redirect, render_template, request, session, url_for

from .blueprint import console, services, staff
from .service import new_csrf_token

_LOCAL_CONSOLE_PATH = re.compile(r"/console(?:[/?#][\x21-\x7e]*)?")  # printable ASCII, no spaces or CR/LF


def _safe_next(target: str | None) -> str:
    """Only redirect to a console page on this hub after sign-in: a local path, with nothing
    that could end the Location header (CR/LF) or name another host."""
    if target and _LOCAL_CONSOLE_PATH.fullmatch(target) and "\\" not in target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("console.overview")


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
