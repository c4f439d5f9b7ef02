"""The demo's on-call receiver: a small HTTP server on 127.0.0.1 that takes what vpnwatch sends
(PagerDuty events, Slack messages, signed webhooks) and prints one line per page, so a newcomer
sees what on-call would receive. Not for production: it keeps nothing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from vpnwatch.notify.webhook import SIGNATURE_HEADER, verify

log = logging.getLogger("vpnwatch.demo.oncall")


def describe(path: str, body: Any) -> str:
    """One line for whatever a receiver of this path would get."""
    if isinstance(body, dict) and "event_action" in body:  # PagerDuty
        if body["event_action"] == "resolve":
            return f"PAGER   resolved  {body.get('dedup_key')}"
        payload = body.get("payload", {})
        return f"PAGER   {payload.get('severity', '?'):<9} {payload.get('summary')}"
    if isinstance(body, dict) and "blocks" in body:  # Slack
        return f"CHAT    {body.get('text')}"
    if isinstance(body, dict) and "incident" in body:  # the generic webhook
        incident = body["incident"]
        return (
            f"WEBHOOK {body.get('event'):<9} {incident.get('severity')} {incident.get('title')}"
        )
    return f"{path}: {json.dumps(body)[:200]}"


def app(secret: str | None = None) -> Starlette:
    async def receive(request: Request) -> JSONResponse:
        raw = await request.body()
        signature = request.headers.get(SIGNATURE_HEADER)
        signed = signature is not None and secret is not None
        if signed and not verify(secret, raw, signature, now=time.time()):  # type: ignore[arg-type]
            log.warning("rejected a webhook with a bad signature")
            return JSONResponse({"error": "bad signature"}, status_code=401)
        try:
            body = json.loads(raw)
        except ValueError:
            return JSONResponse({"error": "not JSON"}, status_code=400)
        log.warning("%s", describe(request.url.path, body))
        return JSONResponse({"status": "success", "message": "Event processed"}, status_code=202)

    return Starlette(routes=[Route("/{path:path}", receive, methods=["POST"])])


@asynccontextmanager
async def serving(secret: str | None = None) -> AsyncIterator[str]:
    """Run the receiver on an ephemeral 127.0.0.1 port in this event loop; yields its URL."""
    config = uvicorn.Config(
        app(secret), host="127.0.0.1", port=0, lifespan="off", log_config=None,
        access_log=False, log_level="warning",
    )  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(), name="demo-oncall-receiver")
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the demo receiver did not start")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task


def demo_receivers(url: str, secret: str) -> list[dict[str, Any]]:
    """The receivers the demo configures: a pager, a chat channel and a signed webhook."""
    return [
        {"name": "demo-pager", "kind": "pagerduty", "url": f"{url}/pagerduty/v2/enqueue",
         "routing_key": "demo-routing-key"},
        {"name": "demo-chat", "kind": "slack", "url": f"{url}/slack/demo"},
        {"name": "demo-webhook", "kind": "webhook", "url": f"{url}/webhook", "secret": secret},
    ]  # fmt: skip
