"""RFC 9457 problem details: every error a caller sees is one of these."""
from flask import Response, json


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


def problem_response(problem: Problem) -> Response:
    return Response(
        json.dumps(problem.as_dict()), status=problem.status, mimetype="application/problem+json"
    )


def not_found(what: str) -> Problem:
    return Problem(404, "Not Found", f"{what} does not exist or is not visible to your organisation")


def forbidden(detail: str) -> Problem:
    return Problem(403, "Forbidden", detail)
