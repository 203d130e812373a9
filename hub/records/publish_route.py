"""`POST /records` answered in front of connexion's stack: the hot path of publishing.

A batch of 1,000 records is parsed once, checked and appended by `hub.records.api.answer_publish`
in one worker thread, and answered, without passing connexion's routing, security and validation
layers and the WSGI bridge to Flask (about a sixth of the hub's time per record went there).

Only a request that connexion's stack would hand to the handler unchanged is answered here: the
contract's one path with no query, `Content-Type: application/json`, a bearer key the hub knows
(checked by the same `hub.api_auth.bearer_info` connexion calls, before the body is read), and a
body that is valid JSON matching the contract's request body (`BODY_SCHEMA`). Anything else (no
key or an unknown one, another content type, a query, a malformed body) is handed on, body and
all, to connexion's stack, which refuses it as it always has (401, 415, 400). The handler's own
refusals (403, the batch's 400/409/413) are the same problem+json the Flask handlers make. The
body limit, request metrics and protocol headers around it are unchanged (hub/middleware.py).
"""
from __future__ import annotations

import logging

import orjson
from starlette.concurrency import run_in_threadpool

from hub.api_auth import SCOPE_KEY, bearer_info
from hub.auth import Principal
from hub.errors import HubError
from hub.middleware import ROUTE_KEY, replaying
from hub.problems import problem_for, unexpected_problem

from .api import answer_publish

log = logging.getLogger("causeway.hub")

# The contract's request body of `POST /records` (hub/openapi.yaml), which `_as_contracted` checks;
# tests/hub/records/test_publish_route.py holds the two together.
BODY_SCHEMA = {"type": "object", "required": ["records"],
               "properties": {"records": {"type": "array"}, "manifest": {"type": "object"},
                              "signature": {"type": "string"}}}
_JSON = b"application/json"
_PROBLEM = b"application/problem+json"


def _as_contracted(body) -> bool:
    """Whether the parsed body is one the contract's request body schema (`BODY_SCHEMA`) admits."""
    return (isinstance(body, dict) and isinstance(body.get("records"), list)
            and isinstance(body.get("manifest", {}), dict) and isinstance(body.get("signature", ""), str))


class PublishRoute:
    """ASGI middleware answering `POST {base_path}/records` itself when it can (see the module)."""

    def __init__(self, app, base_path: str = "/api/v1"):
        self.app = app
        self.path = base_path + "/records"

    async def __call__(self, scope, receive, send):
        if (scope["type"] != "http" or scope["path"] != self.path or scope["method"] != "POST"
                or scope.get("query_string")):
            return await self.app(scope, receive, send)
        caller = _caller(scope)
        if caller is None:
            return await self.app(scope, receive, send)
        body = await _read_body(receive)
        if body is None:
            return  # the client went away
        answer = await run_in_threadpool(_answer, scope, body, caller)
        if answer is None:
            return await self.app(scope, replaying(body, receive), send)
        route = scope.get(ROUTE_KEY)
        if route is not None:
            route["route"] = self.path
        status, content_type, content = answer
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", content_type), (b"content-length", str(len(content)).encode())]})
        await send({"type": "http.response.body", "body": content})


def _caller(scope) -> Principal | None:
    """The caller, when the request is JSON with one bearer key the hub knows; else None."""
    content_type = authorization = None
    authorizations = 0
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = value if content_type is None else b""
        elif name == b"authorization":
            authorization, authorizations = value, authorizations + 1
    if content_type != _JSON or authorizations != 1:
        return None
    parts = authorization.decode("latin-1").split(maxsplit=1)  # as connexion's bearer handler reads it
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None
    info = bearer_info(parts[1], _ScopeRequest(scope))
    return Principal.from_token_info(info) if info is not None else None


class _ScopeRequest:
    """What `bearer_info` reads of connexion's request: its ASGI scope."""

    def __init__(self, scope):
        self.scope = scope


async def _read_body(receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _answer(scope, raw: bytes, caller: Principal) -> tuple[int, bytes, bytes] | None:
    """(status, content type, body) of the answer, or None for a body connexion's stack must refuse."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not _as_contracted(body):
        return None
    try:
        return 200, _JSON, orjson.dumps(answer_publish(scope[SCOPE_KEY], body, caller))
    except HubError as error:
        problem = problem_for(error)
    except Exception:
        log.exception("unhandled error on POST %s", scope["path"])
        problem = unexpected_problem()
    return problem.status, _PROBLEM, orjson.dumps(problem.as_dict())
