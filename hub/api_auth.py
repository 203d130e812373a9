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
