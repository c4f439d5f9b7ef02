"""Every route the front does not answer itself goes to the agent process's app, streamed.

The request goes over the child's Unix socket as it came (method, path, query, headers, body),
minus the hop-by-hop headers, plus one header the front sets: the caller's address
(`CLIENT_HEADER`), which the child's app takes as the client (`ThroughFront`). A caller's own
`CLIENT_HEADER` is dropped, so nobody can name another address; the socket lives in a directory
only vpnwatch's user can enter, so nothing but the front reaches the child. Authentication
(`service/auth.py`: a bearer token, or a proxy's user header) is decided by the child on the
headers as the front received them.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from vpnwatch.service.schemas import ErrorResponse

log = logging.getLogger("vpnwatch.runtime.proxy")

CHILD_URL = "http://vpnwatch-agent"  # the Host header is the caller's; this names no host
CLIENT_HEADER = b"x-vpnwatch-client"  # "host port" of the caller, as the front saw it

# RFC 9110 7.6.1: meant for one connection, never forwarded.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)

# The front's server sets these on every answer itself.
OWN_HEADERS = frozenset({b"date", b"server"})

# The child answers most routes in milliseconds; a slow one (a P2S read waits for an Azure
# long-running operation) still answers within its own limits, well inside this.
TIMEOUT = httpx.Timeout(300.0, connect=5.0)


class ChildProxy:
    """An ASGI app forwarding each request to the child's app on `socket_path`."""

    def __init__(self, socket_path: str) -> None:
        self._client = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=socket_path),
            timeout=TIMEOUT,
        )
        for name in list(self._client.headers):  # forward the caller's headers, add none
            del self._client.headers[name]

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [
            (name, value)
            for name, value in scope["headers"]
            if name not in HOP_BY_HOP and name != CLIENT_HEADER
        ]
        client = scope.get("client")
        if client:
            headers.append((CLIENT_HEADER, f"{client[0]} {client[1]}".encode()))
        has_body = any(
            name in (b"content-length", b"transfer-encoding") for name, _ in scope["headers"]
        )
        target = scope.get("raw_path") or scope["path"].encode()
        if query := scope["query_string"]:
            target += b"?" + query
        request = self._client.build_request(
            scope["method"],
            httpx.URL(CHILD_URL, raw_path=target),
            headers=headers,
            content=_body(receive) if has_body else None,
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TransportError as exc:
            log.warning(
                "the agent process did not answer %s %s: %r", scope["method"], scope["path"], exc
            )
            body = ErrorResponse(error="unavailable", detail="the agent process is not answering")
            await JSONResponse(body.model_dump(), status_code=503, headers={"Retry-After": "5"})(
                scope, receive, send
            )
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [
                        (name.lower(), value)
                        for name, value in response.headers.raw
                        if name.lower() not in HOP_BY_HOP and name.lower() not in OWN_HEADERS
                    ],
                }
            )
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        if chunk := message.get("body", b""):
            yield chunk
        if not message.get("more_body", False):
            return
