"""Requests that read or change agent state run on the agent's event loop.

When the agent runs on a thread of its own (`AgentThread`), every route except the few that
answer from published read models (`ON_SERVICE_LOOP`) is handed to the agent's loop: the API,
the pages and the webhook touch agent state from the one thread that changes it. The request's
`receive` and `send` stay on the service's loop (uvicorn's transport lives there) and are called
through the same bridge the other way. Without a thread of its own, the bridge does nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vpnwatch.agent.thread import AgentThread

# Answered from read models and the rendered /metrics body: never wait for the agent's loop.
ON_SERVICE_LOOP = frozenset({"/livez", "/readyz", "/health", "/metrics"})


class OnAgentLoop:
    """ASGI middleware: runs the rest of the app for a request on the agent's loop."""

    def __init__(self, app: ASGIApp, runner: AgentThread | None) -> None:
        self.app = app
        self.runner = runner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        runner = self.runner
        if (
            runner is None
            or scope["type"] != "http"
            or scope["path"] in ON_SERVICE_LOOP
            or runner.on_agent_loop()
        ):
            await self.app(scope, receive, send)
            return
        here = asyncio.get_running_loop()

        async def receive_here() -> Message:
            return await _on(here, receive())

        async def send_here(message: Message) -> None:
            await _on(here, send(message))

        await runner.call(self.app(scope, receive_here, send_here))


async def _on(loop: asyncio.AbstractEventLoop, coroutine: Any) -> Any:
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, loop))
