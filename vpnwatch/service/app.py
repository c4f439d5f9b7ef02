"""The HTTP service: health, API, metrics, webhooks and the status page, on the agent's loop.

Agent and app share one event loop: in the agent process of `vpnwatch run` (whose front answers
the probes; `vpnwatch.runtime`), in the demo (`serve_one_loop`), in tests and replays. `running`
serves an app in the current event loop on an ephemeral loopback port, for tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import Depends, FastAPI
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vpnwatch import __version__
from vpnwatch.agent import Agent
from vpnwatch.clock import Clock
from vpnwatch.config import Settings
from vpnwatch.heap import scheduled_full_collections
from vpnwatch.service import api, health, incidentpage, notify_api, resourcepage, statuspage
from vpnwatch.service.alert_schema import CommonAlertPayload
from vpnwatch.service.auth import require_reader
from vpnwatch.service.demo import DemoStory
from vpnwatch.service.metrics import PROMETHEUS_CONTENT_TYPE, ServiceMetrics
from vpnwatch.service.protocol import uvicorn_config
from vpnwatch.service.schemas import ErrorResponse
from vpnwatch.service.webhooks import replay_unprocessed, webhook_router
from vpnwatch.startup import StartupError, one_line, startup_line
from vpnwatch.tasks import cancel_and_wait

log = logging.getLogger("vpnwatch.service")

# How long a worker thread (a store write, the /metrics snapshot) may keep the interpreter
# while the event loop waits for it. Python's default is 5 ms, and a request meets that wait
# at each of its few turns of the loop; at 1 ms a request waits a few milliseconds at most.
SWITCH_INTERVAL_SECONDS = 0.001

UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorResponse, "description": "An unexpected failure; retry shortly"}
}


class ErrorGuard:
    """Turns an unexpected exception into a JSON 503 (never a bare 500), and logs it.

    A monitor that answers 500 looks broken to the load balancer in front of it; a 503 with a
    reason says "retry", which is what a transient failure inside vpnwatch means.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception as exc:
            log.exception(
                "unexpected failure serving %s %s", scope.get("method"), scope.get("path")
            )
            if started:
                raise
            body = ErrorResponse(error="unavailable", detail=f"unexpected {type(exc).__name__}")
            response = JSONResponse(
                body.model_dump(), status_code=503, headers={"Retry-After": "5"}
            )
            await response(scope, receive, send)


_UNPARSABLE = "There was an error parsing the body"


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == _UNPARSABLE:
        # FastAPI answers 400 for a body that is not even text (bad UTF-8), but 422 for one that
        # is not JSON; both are the same mistake, and every JSON route documents its 422.
        error = {"type": "json_invalid", "loc": ["body"], "msg": "the body is not UTF-8 JSON"}
        return await request_validation_exception_handler(
            request, RequestValidationError([{**error, "input": None}])
        )
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    body = ErrorResponse(error=code, detail=str(exc.detail))
    return JSONResponse(body.model_dump(), status_code=exc.status_code, headers=exc.headers)


def create_app(
    settings: Settings,
    *,
    agent: Agent | None = None,
    metrics: ServiceMetrics | None = None,
    manage_agent: bool = True,
    clock: Clock | None = None,
    demo: DemoStory | None = None,
    snapshot_on_loop: bool = False,
) -> FastAPI:
    """The FastAPI app serving `agent` (built from `settings` when not given).

    `metrics` is the `RequestObserver` the agent's Azure clients report to; pass the same object
    to the `Agent` you build yourself to get the Azure request metrics. With `manage_agent=False`
    the caller starts and stops the agent (a replay stepping a `ManualClock`). `clock` is the
    time source of an agent built here (the demo shares a `ScaledClock` with its emulator).
    `snapshot_on_loop` builds the `/metrics` snapshots on the loop, not in a worker thread (the
    agent process, whose loop answers no probe).
    """
    metrics = metrics or ServiceMetrics(settings.service)
    if agent is None:
        agent = Agent(settings, observer=metrics, clock=clock)
    metrics.bind(agent, snapshot_on_loop=snapshot_on_loop)
    read_models = health.ReadModels(agent, health.HealthCache(agent))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(switch_interval, SWITCH_INTERVAL_SECONDS))
        if manage_agent:
            await agent.start()
        try:
            await replay_unprocessed(agent)
            yield
        finally:
            if manage_agent:
                await agent.stop()
            await asyncio.to_thread(metrics.shutdown)  # a final OTLP push may block
            sys.setswitchinterval(switch_interval)

    # /docs and /redoc load Swagger UI and ReDoc from the package, not from a CDN: a monitoring
    # host often has no internet, and the API docs must still render there.
    app = FastAPIOffline(
        title="vpnwatch",
        version=__version__,
        summary="Monitoring agent for Azure VPN gateways, ExpressRoute and BGP",
        lifespan=lifespan,
    )
    app.state.agent = agent
    app.state.metrics = metrics
    app.state.settings = settings
    app.state.read_models = read_models
    app.state.demo = demo  # the demo's banner on every page; None when watching Azure
    app.add_middleware(ErrorGuard)
    app.add_exception_handler(StarletteHTTPException, _http_error)

    readers = [Depends(require_reader)]
    app.include_router(health.router, responses=UNAVAILABLE)
    app.include_router(api.router, responses=UNAVAILABLE, dependencies=readers)
    app.include_router(notify_api.router, responses=UNAVAILABLE, dependencies=readers)
    app.include_router(webhook_router(settings.service.webhook))
    app.include_router(statuspage.router, responses=UNAVAILABLE, dependencies=readers)
    app.include_router(incidentpage.router, responses=UNAVAILABLE, dependencies=readers)
    app.include_router(resourcepage.router, responses=UNAVAILABLE, dependencies=readers)

    @app.get(
        "/metrics",
        tags=["metrics"],
        dependencies=readers,
        summary="Prometheus metrics",
        response_class=Response,
        responses={
            200: {"content": {"text/plain": {}}, "description": "Prometheus text format 0.0.4"},
            **UNAVAILABLE,
        },
    )
    async def prometheus_metrics() -> Response:
        body = await metrics.render_async()
        return Response(body, media_type=PROMETHEUS_CONTENT_TYPE)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, summary=app.summary, routes=app.routes
        )
        alert = CommonAlertPayload.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(alert.pop("$defs", {}))
        components["CommonAlertPayload"] = alert
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


async def serve_one_loop(
    settings: Settings, *, clock: Clock | None = None, demo: DemoStory | None = None
) -> None:
    """Run the agent and its HTTP service on one event loop on `service.host:service.port` until
    interrupted: the demo, where a small estate and a person at a browser need no front.

    The agent starts before the port is bound, so a store it cannot open is one `StartupError`
    naming the cause, not a traceback from inside the server's lifespan."""
    log.info("%s", startup_line(settings))
    metrics = ServiceMetrics(settings.service)
    agent = Agent(settings, observer=metrics, clock=clock)
    await start_agent(agent)
    heap = asyncio.create_task(scheduled_full_collections(), name="heap")
    try:
        app = create_app(
            settings, agent=agent, metrics=metrics, manage_agent=False, clock=clock, demo=demo
        )
        server = uvicorn.Server(
            uvicorn_config(app, settings, settings.service.host, settings.service.port)
        )
        with contextlib.suppress(SystemExit):  # uvicorn exits when it cannot bind: said below
            await server.serve()
    finally:
        await cancel_and_wait([heap])
        await agent.stop()
    if not server.started:
        raise StartupError(
            f"the service did not start on {settings.service.host}:{settings.service.port} "
            "(is the port in use? see the line above)"
        )


async def start_agent(agent: Agent) -> None:
    """`agent.start()`, a failure turned into a one-line `StartupError`."""
    try:
        await agent.start()
    except Exception as exc:
        with contextlib.suppress(Exception):
            await agent.stop()
        raise StartupError(f"the agent could not start: {one_line(exc)}") from exc


@asynccontextmanager
async def running(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve `app` under uvicorn in this event loop; yields its base URL (`http://host:port`)."""
    settings: Settings = app.state.settings
    server = uvicorn.Server(uvicorn_config(app, settings, host, port))
    task = asyncio.create_task(server.serve(), name="uvicorn")
    while not server.started:
        if task.done():
            with contextlib.suppress(SystemExit):
                task.result()
            raise RuntimeError(f"the service did not start on {host}:{port}; see the log")
        await asyncio.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()
    try:
        yield f"http://{host}:{bound[1]}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
