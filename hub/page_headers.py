"""Headers every page a browser may show carries: the console's (the data returns' pages
among them) and any other HTML the hub sends. (HSTS and WWW-Authenticate are added for every answer
in hub/middleware.py, since some answers never reach Flask.)"""
from flask import Flask, Response, request

CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
                           "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")


def _add_page_headers(response: Response) -> Response:
    if response.mimetype != "text/html" and not request.path.startswith("/console/"):
        return response
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    if not (request.endpoint or "").endswith(".static"):
        response.headers["Cache-Control"] = "no-store"
    return response


def init_page_headers(flask_app: Flask) -> None:
    flask_app.after_request(_add_page_headers)
