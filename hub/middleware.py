"""ASGI middleware around connexion's stack: what every request passes through
before (and after) connexion's security and validation and the Flask app.

Order (outermost first): RequestMetrics → ProtocolHeaders → Services → BodyLimit →
PublishRoute (`POST /records`, hub/records/publish_route.py) → connexion's exception handling →
PathGuard → routing → ContractGuard → security, validation → Flask.
"""
from __future__ import annotations

import json
import re
import time

from hub.api_auth import SCOPE_KEY

ROUTE_KEY = "causeway.route"  # a dict shared by every copy of the scope: {"route": label}
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")


async def send_problem(send, status: int, title: str, detail: str, headers=()) -> None:
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


class ServicesMiddleware:
    """Puts the app's services into every request's ASGI scope."""

    def __init__(self, app, services=None):
        self.app = app
        self.services = services

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            scope[SCOPE_KEY] = self.services
        await self.app(scope, receive, send)


class RequestMetricsMiddleware:
    """Times every request, including those refused before Flask sees them (401 from the
    security layer, 413 from the body limit, 400 from the contract's validation).
    The route label is the contract's path template, the Flask rule for other pages,
    or "unmatched"."""

    def __init__(self, app, metrics=None):
        self.app = app
        self.histogram = metrics.request_seconds

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        route = scope[ROUTE_KEY] = {}
        status = 500
        observed = False

        def observe():
            nonlocal observed
            observed = True
            self.histogram.labels(scope["method"], route.get("route", "unmatched"), str(status)).observe(
                time.perf_counter() - started)

        length, sent = None, 0

        async def observing_send(message):
            nonlocal status, length, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                length = next((int(v) for n, v in message.get("headers", ()) if n.lower() == b"content-length"
                               and v.isdigit()), None)
            await send(message)
            # Counted when the last byte is handed over: the caller may be reading the answer (and
            # asking again) before the app, e.g. Flask's thread, sends its closing empty message.
            if message["type"] == "http.response.body" and not observed:
                sent += len(message.get("body", b""))
                if not message.get("more_body") or (length is not None and sent >= length):
                    observe()

        try:
            await self.app(scope, receive, observing_send)
        finally:
            if not observed:
                observe()


class ProtocolHeadersMiddleware:
    """Headers every answer of a kind must carry, wherever in the stack it was made:
    `WWW-Authenticate: Bearer` on 401 (RFC 6750, RFC 9110 §11.6.1) and HSTS over HTTPS."""

    HSTS = (b"strict-transport-security", b"max-age=31536000")

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        https = scope.get("scheme") == "https"

        async def adding_send(message):
            if message["type"] == "http.response.start" and (https or message["status"] == 401):
                headers = list(message.get("headers", []))
                if https:
                    headers.append(self.HSTS)
                if message["status"] == 401 and not any(name.lower() == b"www-authenticate" for name, _ in headers):
                    headers.append((b"www-authenticate", _bearer_challenge(scope)))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, adding_send)


def _bearer_challenge(scope) -> bytes:
    """RFC 6750 §3: name the error when a token was sent and refused."""
    sent_token = any(name == b"authorization" for name, _ in scope.get("headers", []))
    return b'Bearer realm="causeway", error="invalid_token"' if sent_token else b'Bearer realm="causeway"'


class BodyLimitMiddleware:
    """Refuses a request body over the limit with 413, before anything parses it (or checks
    the caller), whether its size is announced (Content-Length) or not
    (Transfer-Encoding: chunked). A chunked body is read here, up to the limit, and handed
    on with its Content-Length: connexion's validation takes a body without one for absent."""

    def __init__(self, app, max_bytes: int = 5 * 1024 * 1024):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        chunked = False
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                if value.isdigit() and int(value) > self.max_bytes:
                    return await self._refuse(send)
                return await self.app(scope, receive, send)  # uvicorn never hands on more than announced
            if name == b"transfer-encoding":
                chunked = True
        if not chunked:
            return await self.app(scope, receive, send)
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                return await self._refuse(send)
            more = message.get("more_body", False)
        headers = [(n, v) for n, v in scope["headers"] if n != b"transfer-encoding"]
        headers.append((b"content-length", str(len(body)).encode()))
        await self.app({**scope, "headers": headers}, replaying(bytes(body), receive), send)

    async def _refuse(self, send):
        await send_problem(send, 413, "Payload Too Large",
                           f"request body is over the hub's limit of {self.max_bytes} bytes: split the batch",
                           headers=[(b"connection", b"close")])


def replaying(body: bytes, receive):
    """An ASGI `receive` that hands on `body`, already read, as one message, then what `receive` says."""
    replayed = False

    async def replay():
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()
    return replay


class PathGuardMiddleware:
    """Before connexion's routing: a path with control characters (a decoded %0A, %00...)
    matches nothing, anywhere; nor does an API path with a trailing slash (the router would
    otherwise redirect it to its neighbour without one)."""

    def __init__(self, app, base_path: str = "/api/v1"):
        self.app = app
        self.base_path = base_path

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            path = scope["path"]
            if _CONTROL_CHARACTER.search(path) or (path.endswith("/") and path.startswith(self.base_path)):
                return await _contract_not_found(send, self.base_path)
        await self.app(scope, receive, send)


class ContractGuardMiddleware:
    """After connexion's routing: a request under the API's base path that matched no
    operation of the contract is answered 404 here, so it can never reach a Flask view
    without passing security and validation (Flask's URL map is more lenient than
    connexion's router, e.g. about a trailing newline). Also names the route for the
    request metrics."""

    def __init__(self, app, base_path: str = "/api/v1", templates: dict | None = None):
        self.app = app
        self.base_path = base_path
        self.prefix = base_path + "/"
        self.templates = templates or {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        operation_id = scope.get("extensions", {}).get("connexion_routing", {}).get("operation_id")
        if operation_id is not None:
            route = scope.get(ROUTE_KEY)
            if route is not None:
                route["route"] = self.templates.get(operation_id, "unmatched")
        elif scope["path"] == self.base_path or scope["path"].startswith(self.prefix):
            return await _contract_not_found(send, self.base_path)
        await self.app(scope, receive, send)


async def _contract_not_found(send, base_path: str) -> None:
    await send_problem(send, 404, "Not Found",
                       f"no operation of the API has this path; the contract is {base_path}/openapi.json")


def operation_routes(contract: dict, base_path: str) -> dict[str, str]:
    """operationId -> path template (the request metrics' route label)."""
    return {operation["operationId"]: base_path + template
            for template, item in contract["paths"].items()
            for method, operation in item.items()
            if method != "parameters" and "operationId" in operation}
