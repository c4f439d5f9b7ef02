"""The demo's on-call receiver: a small HTTP server on 127.0.0.1 that takes what vpnwatch sends
(PagerDuty events, Slack messages, signed webhooks), prints one line per message and keeps the
last few in an `Inbox` that the demo's status page shows, so a newcomer sees what on-call would
receive. Not for production: it keeps nothing beyond that bounded list in memory."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from vpnwatch.clock import Clock, SystemClock
from vpnwatch.notify.webhook import SIGNATURE_HEADER, verify

log = logging.getLogger("vpnwatch.demo.oncall")
INBOX_SIZE = 30


@dataclass(frozen=True, slots=True)
class Received:
    """One message as on-call would see it."""

    at: datetime  # on the demo's clock, like every time on its pages
    channel: str  # pager, chat, webhook, other
    event: str  # trigger, update, resolve; "" when the message does not say
    severity: str
    text: str
    incident_path: str | None  # `/incidents/<id>`, from the link the message carries

    def line(self) -> str:
        """The line the demo prints."""
        if self.channel == "pager":
            shown = "resolved" if self.event == "resolve" else self.severity or "?"
            return f"PAGER   {shown:<9} {self.text}"
        if self.channel == "chat":
            return f"CHAT    {self.text}"
        if self.channel == "webhook":
            return f"WEBHOOK {self.event:<9} {self.severity} {self.text}"
        return self.text


_SLACK_LINK = re.compile(r"<(https?://[^|>]+)\|open incident>")


def _incident_path(link: Any) -> str | None:
    path = urlsplit(link).path if isinstance(link, str) else ""
    return path if path.startswith("/incidents/") else None


def receive(path: str, body: Any, at: datetime) -> Received:
    """What a receiver of this path would get, read from the body it was sent."""
    if isinstance(body, dict) and "event_action" in body:  # PagerDuty
        payload = body.get("payload") or {}
        resolve = body["event_action"] == "resolve"
        return Received(
            at, "pager", str(body["event_action"]), str(payload.get("severity", "")),
            str(body.get("dedup_key") if resolve else payload.get("summary")),
            _incident_path(body.get("client_url")),
        )  # fmt: skip
    if isinstance(body, dict) and "blocks" in body:  # Slack
        link = _SLACK_LINK.search(json.dumps(body["blocks"]))
        return Received(
            at, "chat", "", "", str(body.get("text")), _incident_path(link and link.group(1))
        )
    if isinstance(body, dict) and isinstance(body.get("incident"), dict):  # the webhook
        incident = body["incident"]
        return Received(
            at, "webhook", str(body.get("event", "")), str(incident.get("severity", "")),
            str(incident.get("title")), _incident_path(incident.get("link")),
        )  # fmt: skip
    return Received(at, "other", "", "", f"{path}: {json.dumps(body)[:200]}", None)


class Inbox:
    """The last `size` messages the receiver took, for the demo's status page."""

    def __init__(self, clock: Clock | None = None, size: int = INBOX_SIZE) -> None:
        self.clock = clock or SystemClock()
        self._messages: deque[Received] = deque(maxlen=size)
        self.total = 0

    def add(self, path: str, body: Any) -> Received:
        message = receive(path, body, self.clock.now())
        self._messages.append(message)
        self.total += 1
        return message

    def latest(self) -> list[Received]:
        """Newest first."""
        return list(reversed(self._messages))


def app(secret: str | None = None, inbox: Inbox | None = None) -> Starlette:
    inbox = inbox if inbox is not None else Inbox()

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
        log.warning("%s", inbox.add(request.url.path, body).line())
        return JSONResponse({"status": "success", "message": "Event processed"}, status_code=202)

    return Starlette(routes=[Route("/{path:path}", receive, methods=["POST"])])


@asynccontextmanager
async def serving(secret: str | None = None, inbox: Inbox | None = None) -> AsyncIterator[str]:
    """Run the receiver on an ephemeral 127.0.0.1 port in this event loop; yields its URL.
    What it takes is kept in `inbox` (when given) as well as printed."""
    config = uvicorn.Config(
        app(secret, inbox), host="127.0.0.1", port=0, lifespan="off", log_config=None,
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
