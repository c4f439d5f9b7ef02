"""The front's HTTP app: the probes and `/metrics` from the last publication, the rest proxied.

`/livez`, `/readyz`, `/health` and `/metrics` are answered from what the agent process last
published (`Latest`), with one reference read: nothing in this process does anything that grows
with the fleet, so they answer in constant time whatever the agent is doing. `/livez` turns 503
once the agent process has not published for `STUCK_SECONDS` (its loop is stuck). A caller the
service's auth settings do not admit to `/health` or `/metrics`, a `/metrics` scrape with no
fresh fleet body yet, and every other route go to the child (`ChildProxy`), which answers them
as the app always has.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from operator import attrgetter

from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from vpnwatch.config import ApiAuthSettings
from vpnwatch.runtime.channel import FleetMetrics, Publication
from vpnwatch.service.auth import authorised
from vpnwatch.service.published import Published
from vpnwatch.service.schemas import LivezResponse

STUCK_SECONDS = 60.0  # /livez fails once the agent process has not published for this long
SCRAPED_EVERY_SECONDS = 1.0  # the fewest wall seconds between two `Scraped` sent to the child

_JSON = b"application/json"
_ALIVE = LivezResponse().model_dump_json().encode()
_METRICS = CONTENT_TYPE_PLAIN_0_0_4.encode()
_STARTING = b'{"error":"unavailable","detail":"starting"}'
_READYZ: Callable[[Published], tuple[bytes, int]] = attrgetter("ready", "ready_status")
_HEALTH: Callable[[Published], tuple[bytes, int]] = attrgetter("health", "health_status")


class Latest:
    """The last publication and fleet body received from the agent process."""

    def __init__(self) -> None:
        self.publication: Publication | None = None
        self.received_at = time.monotonic()  # of the last publication (or of start-up)
        self.fleet: FleetMetrics | None = None

    def update(self, message: Publication | FleetMetrics) -> None:
        if isinstance(message, FleetMetrics):
            self.fleet = message
        else:
            self.publication = message
            self.received_at = time.monotonic()

    def silent_for(self) -> float:
        return time.monotonic() - self.received_at


class Front:
    """The ASGI app of the front process."""

    def __init__(
        self,
        latest: Latest,
        auth: ApiAuthSettings,
        proxy: ASGIApp,
        scraped: Callable[[], Awaitable[None]],
        *,
        stuck_seconds: float = STUCK_SECONDS,
    ) -> None:
        self.latest = latest
        self.auth = auth
        self.proxy = proxy
        self.stuck_seconds = stuck_seconds
        self._scraped = scraped
        self._scraped_sent = float("-inf")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # no lifespan, no websockets
        if scope["method"] == "GET":
            path = scope["path"]
            if path == "/livez":
                return await self._livez(send)
            if path == "/readyz":
                return await self._probe(send, _READYZ)
            if path == "/health" and self._admitted(scope):
                return await self._probe(send, _HEALTH)
            if path == "/metrics" and self._admitted(scope) and await self._metrics(send):
                return
        await self.proxy(scope, receive, send)

    def _admitted(self, scope: Scope) -> bool:
        # Not admitted: the child answers, with the 401 that says what to send.
        return authorised(Request(scope), self.auth)

    async def _livez(self, send: Send) -> None:
        silent = self.latest.silent_for()
        if silent <= self.stuck_seconds:
            return await _respond(send, 200, _ALIVE, _JSON)
        status = f"stuck: the agent process has not published for {silent:.0f} s"
        body = LivezResponse(status=status).model_dump_json().encode()
        await _respond(send, 503, body, _JSON)

    async def _probe(self, send: Send, answer: Callable[[Published], tuple[bytes, int]]) -> None:
        """`/readyz` or `/health` (`answer` picks its body and status) from the last
        publication; 503 until there is one."""
        published = self.latest.publication
        if published is None:
            return await _respond(send, 503, _STARTING, _JSON, retry_after=True)
        body, status = answer(published.answers)
        await _respond(send, status, body, _JSON)

    async def _metrics(self, send: Send) -> bool:
        """Serve the published body when it is fresh; False: the child answers (and waits for
        a snapshot)."""
        published, fleet = self.latest.publication, self.latest.fleet
        if (
            published is None
            or published.metrics_events is None
            or fleet is None
            or fleet.version != published.fleet_version
        ):
            return False
        events = published.metrics_events
        length = str(len(events) + len(fleet.body)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", _METRICS),
                    (b"content-length", length),
                ],
            }
        )
        await send({"type": "http.response.body", "body": events, "more_body": True})
        await send({"type": "http.response.body", "body": fleet.body, "more_body": False})
        now = time.monotonic()
        if now - self._scraped_sent >= SCRAPED_EVERY_SECONDS:
            self._scraped_sent = now
            await self._scraped()
        return True


async def _respond(
    send: Send, status: int, body: bytes, content_type: bytes, *, retry_after: bool = False
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if retry_after:
        headers.append((b"retry-after", b"1"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
