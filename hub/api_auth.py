"""Bearer-key resolution for connexion's security middleware.

Connexion runs this before Flask sees the request, outside any Flask context,
so the app's services reach it through the ASGI scope (set by ServicesMiddleware).
"""
SCOPE_KEY = "causeway.services"


def bearer_info(token, request):
    services = request.scope[SCOPE_KEY]
    principal = services.orgs.authenticate(token)
    if principal is None:
        return None  # connexion answers 401
    return principal.as_token_info()


class ServicesMiddleware:
    """Puts the app's services into every request's ASGI scope."""

    def __init__(self, app, services=None):
        self.app = app
        self.services = services

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            scope[SCOPE_KEY] = self.services
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Refuses a request body over the limit with 413, before anything parses it."""

    def __init__(self, app, max_bytes: int = 5 * 1024 * 1024):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                return await self._refuse(send)
        received = 0
        refused = False

        async def counting_receive():
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send):
        import json

        body = json.dumps({
            "type": "about:blank", "title": "Payload Too Large", "status": 413,
            "detail": f"request body is over the hub's limit of {self.max_bytes} bytes: split the batch",
        }).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass
