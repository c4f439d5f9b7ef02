"""The emulator's HTTP(S) server: authentication, scenario faults, headers, request log.

It binds to loopback only. Start it inside a running event loop (`await emu.start()` or
`async with Emulator(...)`); `emu_thread` runs one in a background thread for sync clients.
What the ARM layer answers is decided in `arm.py`; this module wraps every answer the way ARM
does (request ids, content type, read-quota header) and applies the scenario's API faults
(refusals in `traffic.py`, slow and unanswered requests in `faults.py`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import shutil
import sys
import threading
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aiohttp import web

from vpnwatch.clock import Clock, ManualClock, ScaledClock, SystemClock
from vpnwatch.emulator import maintenance, resourcegraph, resourcehealth
from vpnwatch.emulator.arm import ArmApi, Call, Reply, error
from vpnwatch.emulator.counters import COUNTERS_PATH, CounterSnapshot, RequestCounters
from vpnwatch.emulator.faults import HeldRequests
from vpnwatch.emulator.monitor import MonitorApi
from vpnwatch.emulator.rbac import RoleGrant, is_permissions_call
from vpnwatch.emulator.render import Renderer
from vpnwatch.emulator.scenario import Scenario, ThrottlingSpec, load_scenario
from vpnwatch.emulator.traffic import Refusal, TrafficPolicy, retry_headers
from vpnwatch.emulator.world import World

if TYPE_CHECKING:
    from vpnwatch.emulator.certs import TlsFiles

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
REQUEST_LOG_LIMIT = 200_000
UNCOUNTED = "uncounted"  # refused before reaching a resource (auth, outage): not served


class TlsUnavailable(RuntimeError):
    """https was asked for, but the `emulator` extra (which brings `cryptography`) is not
    installed."""

    def __init__(self) -> None:
        super().__init__(
            "the emulator's https (--tls) needs the 'cryptography' package, which the emulator "
            "extra installs: pip install 'vpnwatch[emulator]'"
        )


def _make_tls_files() -> TlsFiles:
    try:
        from vpnwatch.emulator.certs import make_tls_files
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] != "cryptography":
            raise
        raise TlsUnavailable() from None
    return make_tls_files()


@dataclass(frozen=True, slots=True)
class RequestRecord:
    method: str
    path: str
    status: int
    at: float  # scenario seconds since start


def _require_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise ValueError(f"the emulator only listens on loopback (127.0.0.1, ::1), not {host!r}")


class Emulator:
    """Serves one scenario over ARM's wire format to unmodified Azure SDK clients."""

    def __init__(
        self,
        scenario: Scenario | str | Path,
        *,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = False,
        token: str = "emulator-token",
        page_size: int = 50,
        lro_retry_after_ms: int | None = None,
        throttling: ThrottlingSpec | str | None = None,
        grant: RoleGrant | None = None,
    ) -> None:
        _require_loopback(host)
        self.grant = grant or RoleGrant()  # what the caller's role allows (default: everything)
        self.scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        if isinstance(throttling, str):
            throttling = ThrottlingSpec(model=throttling)  # type: ignore[arg-type]
        self.throttling = throttling or self.scenario.spec.throttling
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.host = host
        self.port = port
        self.tls = tls
        self.token = token
        self.page_size = page_size
        self.lro_retry_after_ms = lro_retry_after_ms
        self.world = World(self.scenario)
        self.started_at: datetime | None = None
        self.cert_path: str | None = None
        self._tls_files: TlsFiles | None = None
        self._runner: web.AppRunner | None = None
        self._api: ArmApi | None = None
        self._monitor: MonitorApi | None = None
        self._health: resourcehealth.ResourceHealthApi | None = None
        self._maintenance: maintenance.MaintenanceApi | None = None
        self._graph: resourcegraph.ResourceGraphApi | None = None
        self._traffic: TrafficPolicy | None = None
        self._held: HeldRequests | None = None
        self._requests: deque[RequestRecord] = deque(maxlen=REQUEST_LOG_LIMIT)
        self._counters = RequestCounters()

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._runner is None:
            raise RuntimeError("the emulator is not started")
        scheme = "https" if self.tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("the emulator is already started")
        self.started_at = self.clock.now()
        renderer = Renderer(self.world, self.started_at)
        self._api = ArmApi(self.world, renderer, self.page_size, self.lro_retry_after_ms)
        self._monitor = MonitorApi(self.world, self.started_at, self.clock.speed)
        self._health = resourcehealth.ResourceHealthApi(
            self.world,
            self.started_at,
            self.page_size,
            self.scenario.spec.noise.resource_health_delay,
        )
        self._maintenance = maintenance.MaintenanceApi(self.world, self.started_at)
        self._graph = resourcegraph.ResourceGraphApi(
            self.world, renderer, self.throttling.resource_graph
        )
        noise = self.scenario.spec.noise
        self._traffic = TrafficPolicy(
            self.world.timeline.api_faults, noise.missed_polls, self.throttling, self.clock.speed
        )
        self._held = HeldRequests(self.world.timeline.api_faults, self.clock.speed)
        ssl_context = None
        if self.tls:
            self._tls_files = _make_tls_files()
            self.cert_path = str(self._tls_files.ca_path)
            ssl_context = self._tls_files.server_context()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, ssl_context=ssl_context)
        await site.start()
        self._runner = runner
        address = runner.addresses[0]
        self.port = int(address[1])

    async def stop(self) -> None:
        if self._held is not None:
            self._held.release()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        if self._tls_files is not None:
            shutil.rmtree(self._tls_files.directory, ignore_errors=True)
            self._tls_files = None

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- observation ---------------------------------------------------------------------

    def elapsed(self) -> float:
        """Scenario seconds since start."""
        if self.started_at is None:
            return 0.0
        return (self.clock.now() - self.started_at).total_seconds()

    @property
    def requests(self) -> list[RequestRecord]:
        return list(self._requests)

    @property
    def counters(self) -> CounterSnapshot:
        """What was served so far, per subscription and kind (see `counters.py`)."""
        return self._counters.snapshot(self.elapsed())

    # --- request handling ----------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        t = self.elapsed()
        path = request.rel_url.path
        if path == COUNTERS_PATH and request.method == "GET":
            return web.json_response(self.counters.to_json())
        body = await request.read() if request.method == "POST" else b""
        assert self._held is not None
        subscription = self._subscription_of(path)
        if self._held.hold_seconds(subscription, path, t) > 0:
            await self._held.hold(subscription, path, t)
            if self._runner is None:  # stopped while holding it: the connection just ends
                raise web.HTTPServiceUnavailable()
            t = self.elapsed()
        reply = self._answer(request, path, t, body)
        self._requests.append(RequestRecord(request.method, path, reply.status, t))
        kind = reply.kind or ("get" if request.method in ("GET", "HEAD") else "post")
        if kind != UNCOUNTED:
            self._counters.count(subscription, kind)
        headers = {
            "x-ms-request-id": str(uuid.uuid4()),
            "x-ms-correlation-request-id": request.headers.get(
                "x-ms-client-request-id", str(uuid.uuid4())
            ),
            **reply.headers,
        }
        if reply.status == 404 and reply.body is not None:
            headers["x-ms-failure-cause"] = "gateway"
        if reply.body is None:
            return web.Response(status=reply.status, headers=headers)
        headers["Content-Type"] = JSON_CONTENT_TYPE
        return web.Response(
            status=reply.status,
            body=json.dumps(reply.body, separators=(",", ":")).encode(),
            headers=headers,
        )

    def _answer(self, request: web.Request, path: str, t: float, body: bytes = b"") -> Reply:
        assert self._api is not None and self._traffic is not None
        assert self._monitor is not None
        auth = request.headers.get("Authorization", "")
        if not auth:
            return _unserved(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
            )
        scheme, _, credential = auth.partition(" ")
        if scheme.lower() != "bearer" or credential.strip() != self.token:
            return _unserved(
                401,
                "AuthenticationFailed",
                "Authentication failed. The access token is not valid for this server.",
            )
        if self._monitor.serves(path):
            reply = self._monitor.handle(
                request.method, path, dict(request.query), body, t, self._traffic
            )
            if reply.status == 429:
                reply.kind = "throttled"
            else:
                reply.kind = "query" if self._monitor.logs.serves(path) else "metrics"
            return reply
        if "api-version" not in request.query:
            return _unserved(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        if is_permissions_call(path):
            return self.grant.permissions_reply(request.method)
        forbidden = self.grant.refuse(request.method, path)
        if forbidden is not None:
            return forbidden
        subscription = self._subscription_of(path)
        refusal = self._traffic.refuse(request.method, path, subscription, t)
        if refusal is not None:
            return _refused(refusal)
        charge, throttled = self._traffic.charge(request.method, subscription, t)
        quota_headers = {charge.header: str(charge.remaining)}
        if throttled is not None:
            return _refused(throttled, quota_headers)
        assert self._health is not None and self._graph is not None
        if resourcehealth.serves(path):
            reply = self._health.handle(request.method, path, dict(request.query), t, self.base_url)
        elif maintenance.serves(path):
            assert self._maintenance is not None
            reply = self._maintenance.handle(request.method, path, t)
        elif resourcegraph.serves(path):
            reply = self._graph.handle(
                request.method,
                body,
                t,
                caller=credential.strip(),
                retry_headers=lambda seconds: retry_headers(seconds, self.clock.speed),
            )
        else:
            call = Call(request.method, path, dict(request.query), t, self.base_url)
            reply = self._api.handle(call)
        reply.headers.update(quota_headers)
        return reply

    @staticmethod
    def _subscription_of(path: str) -> str | None:
        parts = [p for p in path.split("/") if p]
        if len(parts) >= 2 and parts[0].lower() == "subscriptions":
            return parts[1]
        return None


def _unserved(status: int, code: str, message: str) -> Reply:
    reply = error(status, code, message)
    reply.kind = UNCOUNTED
    return reply


def _refused(refusal: Refusal, headers: dict[str, str] | None = None) -> Reply:
    reply = error(
        refusal.status, refusal.code, refusal.message, {**refusal.headers, **(headers or {})}
    )
    reply.kind = "throttled" if refusal.status == 429 else UNCOUNTED
    return reply


# --- running it --------------------------------------------------------------------------


@contextmanager
def emu_thread(scenario: Scenario | str | Path, **kwargs: Any) -> Iterator[Emulator]:
    """Run an emulator on its own event loop in a background thread (for sync SDK clients)."""
    emu = Emulator(scenario, **kwargs)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="vpnwatch-emulator", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(emu.start(), loop).result(timeout=30)
        yield emu
    finally:
        with suppress(Exception):
            asyncio.run_coroutine_threadsafe(emu.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


def clock_for_speed(speed: float) -> Clock:
    if speed == 1:
        return SystemClock()
    if speed == float("inf"):
        return ManualClock()
    return ScaledClock(speed=speed)


async def serve_forever(
    scenario: Scenario | str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    tls: bool = False,
    speed: float = 1.0,
    token: str = "emulator-token",
    page_size: int = 50,
    throttling: ThrottlingSpec | str | None = None,
) -> None:
    """Serve until cancelled; prints the URL on stdout and a status line on stderr."""
    clock = clock_for_speed(speed)
    async with Emulator(
        scenario,
        clock=clock,
        host=host,
        port=port,
        tls=tls,
        token=token,
        page_size=page_size,
        throttling=throttling,
    ) as emu:
        print(
            f"emulator listening on {emu.base_url} (scenario {emu.scenario.name}, speed {speed:g})",
            file=sys.stderr,
            flush=True,
        )
        if emu.cert_path:
            print(f"emulator CA certificate: {emu.cert_path}", file=sys.stderr, flush=True)
        print(emu.base_url, flush=True)
        await asyncio.Event().wait()
