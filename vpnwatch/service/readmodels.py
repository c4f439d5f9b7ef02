"""What `/readyz` and `/health` answer from: the rendered answers, as one immutable value.

The app renders them when asked (the `HealthCache` keeps that cheap). Under `vpnwatch run` the
agent process also publishes them a few times a second to the front, which answers the probes
from the last publication without waiting for the agent's loop (`vpnwatch.runtime`).
"""

from __future__ import annotations

from vpnwatch.agent import Agent
from vpnwatch.service.health import HealthCache, readiness
from vpnwatch.service.published import Published


class ReadModels:
    def __init__(self, agent: Agent, health: HealthCache) -> None:
        self._agent = agent
        self._health = health

    def publish(self) -> Published:
        """Render the answers from agent state; on the agent's loop."""
        health, health_status = self._health.answer()
        ready = readiness(self._agent)
        return Published(
            health=health,
            health_status=health_status,
            ready=ready.model_dump_json().encode(),
            ready_status=200 if ready.ready else 503,
        )

    def current(self) -> Published:
        return self.publish()
