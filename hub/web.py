"""Helpers the thin API handlers share."""
from connexion import context
from flask import Response, current_app, jsonify, request

from hub.auth import Principal


def services():
    return current_app.extensions["causeway"]


def principal() -> Principal:
    return Principal.from_token_info(context.context["token_info"])


def ok(data, status: int = 200, content_type: str = "application/json"):
    """A JSON response. Handlers return Flask responses so connexion need not guess
    between the success and problem+json content types the contract lists."""
    response = jsonify(data)
    response.status_code = status
    response.mimetype = content_type
    return response


def wants_csv(fmt: str | None) -> bool:
    """format=csv, or (without `format`) an Accept header preferring text/csv."""
    if fmt:
        return fmt == "csv"
    best = request.accept_mimetypes.best_match(["application/json", "text/csv"])
    return best == "text/csv"


def csv_response(text: str, filename: str) -> Response:
    return Response(text, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'})
