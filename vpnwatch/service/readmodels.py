"""What `/livez`, `/readyz` and `/health` answer from: immutable answers the agent publishes.

When the agent runs on its own thread (`vpnwatch run`, the demo), a publisher on the agent's loop
renders the answers a few times a second and swaps them in with one reference assignment; the
service's loop reads that reference and never touches agent state, so it answers while a
collector or a correlation step holds the agent's loop. Each publication stamps a heartbeat:
`/livez` fails once the agent's loop has not published for `stuck_seconds`.

With the agent on the service's own loop (tests, a replay), the answers are rendered when asked
(the `HealthCache` keeps that cheap), as there is no other thread to wait for.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from vpnwatch.agent import Agent
from vpnwatch.agent.thread import AgentThread
from vpnwatch.service.health import HealthCache, readiness

PUBLISH_SECONDS = 0.1  # wall seconds between two publications on the agent's loop
STUCK_SECONDS = 60.0  # the agent's loop is stuck when it has not published for this long


@dataclass(frozen=True, slots=True)
class Published:
    """One publication: rendered bodies and their status codes, and when it was made."""

    health: bytes
    health_status: int
    ready: bytes
    ready_status: int
    heartbeat: float  # time.monotonic() on the agent's loop when published


class ReadModels:
    def __init__(
        self,
        agent: Agent,
        health: HealthCache,
        *,
        runner: AgentThread | None = None,
        stuck_seconds: float = STUCK_SECONDS,
    ) -> None:
        self._agent = agent
        self._health = health
        self._runner = runner
        self.stuck_seconds = stuck_seconds
        self._current: Published | None = None

    def publish(self) -> Published:
        """Render the answers from agent state; only on the agent's loop."""
        health, health_status = self._health.answer()
        ready = readiness(self._agent)
        published = Published(
            health=health,
            health_status=health_status,
            ready=ready.model_dump_json().encode(),
            ready_status=200 if ready.ready else 503,
            heartbeat=time.monotonic(),
        )
        self._current = published
        return published

    async def publish_forever(self) -> None:
        while True:
            self.publish()
            await asyncio.sleep(PUBLISH_SECONDS)

    def current(self) -> Published | None:
        """The answers to serve now: the last publication when the agent runs on a loop of its
        own (None before the first), else rendered now."""
        runner = self._runner
        if runner is None or runner.on_agent_loop():
            return self.publish()
        return self._current

    def stuck_for(self) -> float | None:
        """Seconds since the agent's loop last published, when that is longer than
        `stuck_seconds` (None: it is not stuck)."""
        published = self.current()
        if published is None:
            return None
        age = time.monotonic() - published.heartbeat
        return age if age > self.stuck_seconds else None
