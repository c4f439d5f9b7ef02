"""Optional authentication of the read endpoints: the API, the status page, /health, /metrics.

Off by default: the service binds 127.0.0.1, where the host's own users may read. Exposed
further, either a bearer token (`service.auth.bearer_token`; Prometheus sends it with
`authorization: {credentials: ...}`) or, behind an authenticating reverse proxy (oauth2-proxy,
an ingress with SSO), the header naming the user the proxy authenticated
(`service.auth.user_header`, such as `X-Forwarded-User`). The proxy must strip that header from
what clients send, or anyone could name themselves. `/livez`, `/readyz` and the webhook (which
has its own secret) stay open to probes and Azure.

Changes (creating or expiring a silence) need more than reading: a caller these settings
authenticate. With `service.auth` off nobody is authenticated, so writes are refused even on
127.0.0.1: any local user may look, but no one may mute on-call's pages anonymously. The older
`notify.api_token` (deprecated) still admits writes while `service.auth` is off.
"""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request

from vpnwatch.config import ApiAuthSettings


def auth_enabled(settings: ApiAuthSettings) -> bool:
    token = settings.bearer_token.get_secret_value() if settings.bearer_token else ""
    return bool(token or settings.user_header)


def _bearer(request: Request) -> str:
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    return presented.strip() if scheme.lower() == "bearer" else ""


def authorised(request: Request, settings: ApiAuthSettings) -> bool:
    """True when auth is off, or the request carries the bearer token or a proxy's user."""
    token = settings.bearer_token.get_secret_value() if settings.bearer_token else ""
    if not token and not settings.user_header:
        return True
    if token and hmac.compare_digest(_bearer(request).encode(), token.encode()):
        return True
    if settings.user_header:
        return bool(request.headers.get(settings.user_header, "").strip())
    return False


async def require_reader(request: Request) -> None:
    """A route dependency: 401 unless `authorised`."""
    settings: ApiAuthSettings = request.app.state.settings.service.auth
    if not authorised(request, settings):
        how = []
        if settings.bearer_token is not None:
            how.append("an Authorization: Bearer token (service.auth.bearer_token)")
        if settings.user_header:
            how.append(f"the {settings.user_header} header from the authenticating proxy")
        raise HTTPException(
            status_code=401,
            detail="authentication required: send " + " or ".join(how),
            headers={"WWW-Authenticate": "Bearer"},
        )


async def require_writer(request: Request) -> None:
    """A route dependency for changes: 401 or 403 unless the caller is authenticated (see the
    module's docstring). Runs after `require_reader`, so with `service.auth` on it has passed."""
    settings = request.app.state.settings
    auth: ApiAuthSettings = settings.service.auth
    legacy = settings.notify.api_token.get_secret_value() if settings.notify.api_token else ""
    if auth_enabled(auth):
        if authorised(request, auth):
            return
    elif legacy:
        if hmac.compare_digest(_bearer(request).encode(), legacy.encode()):
            return
        raise HTTPException(
            status_code=401,
            detail="send Authorization: Bearer <notify.api_token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    else:
        raise HTTPException(
            status_code=403,
            detail="changes need an authenticated caller, and API authentication is off: set "
            "service.auth.bearer_token (or service.auth.user_header behind an authenticating "
            "proxy)",
        )
    await require_reader(request)  # raises its 401, naming what to send
