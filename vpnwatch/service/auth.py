"""Optional authentication of the read endpoints: the API, the status page, /health, /metrics.

Off by default: the service binds 127.0.0.1, where the host's own users may read. Exposed
further, either a bearer token (`service.auth.bearer_token`; Prometheus sends it with
`authorization: {credentials: ...}`) or, behind an authenticating reverse proxy (oauth2-proxy,
an ingress with SSO), the header naming the user the proxy authenticated
(`service.auth.user_header`, such as `X-Forwarded-User`). The proxy must strip that header from
what clients send, or anyone could name themselves. `/livez`, `/readyz` and the webhook (which
has its own secret) stay open to probes and Azure.
"""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request

from vpnwatch.config import ApiAuthSettings


def authorised(request: Request, settings: ApiAuthSettings) -> bool:
    """True when auth is off, or the request carries the bearer token or a proxy's user."""
    token = settings.bearer_token.get_secret_value() if settings.bearer_token else ""
    if not token and not settings.user_header:
        return True
    if token:
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode(), token.encode()
        ):
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
