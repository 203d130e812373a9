"""RFC 9457 problem details: every error an API caller sees is one of these.

The one place a domain error (`hub.errors`) becomes problem+json: its class gives the
status and title, its slug the type, and the details the contract documents become
members of the document. Services never build a `Problem`; the HTTP layer builds one only
for what is HTTP's own (an unknown route, a missing bearer token, a crash)."""
from flask import Response, json

from hub.errors import (
    Conflict,
    Forbidden,
    HubError,
    Invalid,
    InvalidContent,
    NotFound,
    TooLarge,
    TooManyRequests,
    Unauthenticated,
    Unavailable,
)

TYPE_BASE = "https://causeway.example/problems/"

STATUS: dict[type[HubError], tuple[int, str]] = {
    HubError: (400, "Bad Request"),
    Invalid: (400, "Bad Request"),
    InvalidContent: (422, "Unprocessable Content"),
    Unauthenticated: (401, "Unauthorized"),
    Forbidden: (403, "Forbidden"),
    NotFound: (404, "Not Found"),
    Conflict: (409, "Conflict"),
    TooLarge: (413, "Payload Too Large"),
    Unavailable: (503, "Service Unavailable"),
    TooManyRequests: (429, "Too Many Requests"),
}

# The agreement-source limit has always answered with RFC 9110's newer name for 413.
TITLE_OF_TYPE = {"agreement-too-large": "Content Too Large"}

# The details `hub/openapi.yaml` documents as members of a problem (its schema admits no others).
MEMBERS = ("errors", "problems", "log_end", "cursor", "limit_bytes")


class Problem(Exception):
    def __init__(self, status: int, title: str, detail: str, type_: str = "about:blank", **extra):
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_
        self.extra = extra

    def as_dict(self) -> dict:
        return {"type": self.type, "title": self.title, "status": self.status, "detail": self.detail, **self.extra}


def status_of(error: HubError) -> int:
    """The HTTP status a domain error is answered with (its nearest class in `STATUS`)."""
    return _status_and_title(error)[0]


def _status_and_title(error: HubError) -> tuple[int, str]:
    return next(STATUS[cls] for cls in type(error).__mro__ if cls in STATUS)


def problem_for(error: HubError) -> Problem:
    status, title = _status_and_title(error)
    members = {name: error.details[name] for name in MEMBERS if name in error.details}
    if error.slug is None:
        return Problem(status, title, error.detail, **members)
    return Problem(status, TITLE_OF_TYPE.get(error.slug, title), error.detail, TYPE_BASE + error.slug, **members)


def unexpected_problem() -> Problem:
    """The answer to a crash (logged for the operators, never shown to the caller)."""
    return Problem(500, "Internal Server Error", "the hub hit an unexpected error; it has been logged for the operators")


def problem_response(problem: Problem) -> Response:
    return Response(
        json.dumps(problem.as_dict()), status=problem.status, mimetype="application/problem+json"
    )
