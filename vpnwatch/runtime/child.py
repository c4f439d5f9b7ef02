"""The agent process of `vpnwatch run`: collectors, correlator, store, outbox, notification
delivery and the full HTTP app, on one event loop, served on a Unix socket to the front.

Started by the front (`supervisor.py`) as `python -m vpnwatch.runtime.child`, with the channel's
socket and the lifeline pipe inherited. It receives `Boot` (settings, clock), starts the agent
(a failure is one `StartFailed` line for the front to print), serves the app on the socket, then
says `Started` and publishes the probes' answers (and `/metrics`, while scraped) every
`PUBLISH_SECONDS` and after each correlation step, until SIGTERM or the front closes the
channel: then it stops the agent (store closed, outbox kept) and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from vpnwatch.agent import Agent
from vpnwatch.heap import scheduled_full_collections
from vpnwatch.logs import configure
from vpnwatch.runtime.channel import (
    Boot,
    Channel,
    FleetMetrics,
    Publication,
    Scraped,
    Started,
    StartFailed,
)
from vpnwatch.runtime.lifeline import die_with_parent, remove_socket
from vpnwatch.runtime.proxy import CLIENT_HEADER
from vpnwatch.runtime.server import QuietServer
from vpnwatch.service.app import create_app, start_agent
from vpnwatch.service.health import ReadModels
from vpnwatch.service.metrics import ServiceMetrics
from vpnwatch.service.protocol import uvicorn_config
from vpnwatch.startup import StartupError
from vpnwatch.tasks import cancel_and_wait

log = logging.getLogger("vpnwatch.runtime")

PUBLISH_SECONDS = 0.1  # wall seconds between two publications, at most
# The agent process yields the CPU to the front (and to whatever else the host runs) when cores
# are short: a probe's answer waits for no collection pass, a pass waits a little for an
# answer. With cores to spare it changes nothing.
NICENESS = 10


class ThroughFront:
    """ASGI middleware: the client is the caller the front saw (`CLIENT_HEADER`), not the
    front's end of the Unix socket."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers, client = [], None
            for name, value in scope["headers"]:
                if name == CLIENT_HEADER:
                    host, _, port = value.decode("latin-1").rpartition(" ")
                    client = (host, int(port)) if port.isdigit() else None
                else:
                    headers.append((name, value))
            scope = {**scope, "headers": headers, "client": client}
        await self.app(scope, receive, send)


async def main(channel_fd: int, socket_path: str) -> int:
    channel = await Channel.open(socket.socket(fileno=channel_fd))
    boot = await channel.receive()
    assert isinstance(boot, Boot), boot
    settings = boot.settings
    configure(settings.log_level, settings.log_format)
    metrics = ServiceMetrics(settings.service)
    agent = Agent(settings, observer=metrics, clock=boot.clock)
    try:
        await start_agent(agent)
    except StartupError as exc:
        log.debug("start-up failure", exc_info=True)
        await channel.send(StartFailed(str(exc)))
        return 1
    heap = asyncio.create_task(scheduled_full_collections(), name="heap")
    app = create_app(
        settings,
        agent=agent,
        metrics=metrics,
        manage_agent=False,
        clock=boot.clock,
        snapshot_on_loop=True,
    )
    server = QuietServer(uvicorn_config(ThroughFront(app), settings, uds=socket_path))
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _exit_on, server)
    serving = asyncio.create_task(server.serve(), name="uvicorn")
    others: list[asyncio.Task[None]] = []
    try:
        while not server.started:
            if serving.done():
                with contextlib.suppress(SystemExit):
                    serving.result()
                await channel.send(StartFailed(f"the agent's app did not start on {socket_path}"))
                return 1
            await asyncio.sleep(0.01)
        await channel.send(Started())
        stepped = asyncio.Event()
        agent.add_listener(lambda result: stepped.set())
        read_models: ReadModels = app.state.read_models
        others = [
            asyncio.create_task(_publish(channel, read_models, metrics, stepped), name="publish"),
            asyncio.create_task(_listen(channel, metrics, server), name="listen"),
        ]
        await serving
    finally:
        server.should_exit = True
        await cancel_and_wait([*others, heap])
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        await agent.stop()
        channel.close()
    return 0


def _exit_on(server: uvicorn.Server) -> None:
    server.should_exit = True


async def _publish(
    channel: Channel, read_models: ReadModels, metrics: ServiceMetrics, stepped: asyncio.Event
) -> None:
    sent_version = 0
    while True:
        stepped.clear()
        servable = metrics.servable()
        events, version, fleet = servable if servable else (None, 0, b"")
        if servable and version != sent_version:
            await channel.send(FleetMetrics(version, fleet))
            sent_version = version
        await channel.send(
            Publication(
                answers=read_models.publish(),
                metrics_events=events,
                fleet_version=version,
            )
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stepped.wait(), PUBLISH_SECONDS)


async def _listen(channel: Channel, metrics: ServiceMetrics, server: uvicorn.Server) -> None:
    while True:
        try:
            message = await channel.receive()
        except (EOFError, ConnectionError):
            server.should_exit = True  # the front closed the channel: stop
            return
        if isinstance(message, Scraped):
            metrics.scraped()


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vpnwatch.runtime.child")
    parser.add_argument("--channel-fd", type=int, required=True)
    parser.add_argument("--lifeline-fd", type=int, required=True)
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--socket", required=True)
    args = parser.parse_args(argv)
    die_with_parent(args.parent, args.lifeline_fd, args.socket)
    os.nice(NICENESS)
    try:
        return asyncio.run(main(args.channel_fd, args.socket))
    finally:
        remove_socket(args.socket)


if __name__ == "__main__":
    sys.exit(run())
