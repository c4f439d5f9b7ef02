"""The estate changes under a running agent, with no restart: a gateway built mid-scenario is
found by rediscovery (Resource Graph) and watched, its tunnel drop opens an incident; a deleted
gateway leaves the inventory, `/health` and `/metrics`, and never reads `up` once it is gone.

The real agent, SDK clients and service against the emulator on a stepped clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from vpnwatch.agent import Agent
from vpnwatch.clock import ManualClock
from vpnwatch.correlate.entities import Health
from vpnwatch.emulator import Emulator, load_scenario
from vpnwatch.replay import REPLAY_EPOCH, emulator_settings
from vpnwatch.service.app import create_app
from vpnwatch.service.metrics import ServiceMetrics

SCENARIO = Path(__file__).parent / "scenarios" / "growing-estate.yaml"
STEP = 15.0
BUILT_AT, DROPPED_AT = 600.0, 1500.0
OLD = ("vpngw-old", "cn-old-lyon")
NEW = ("vpngw-branch", "cn-branch-paris", "cn-branch-nice")


@dataclass
class Watched:
    emulator: Emulator
    clock: ManualClock
    agent: Agent
    http: httpx.AsyncClient

    @property
    def t(self) -> float:
        return (self.clock.now() - REPLAY_EPOCH).total_seconds()

    async def step(self) -> None:
        self.clock.advance(STEP)
        await self.agent.run_due()

    def entities_named(self, *names: str) -> dict[str, Health]:
        """Effective health of every entity under a resource of one of `names`."""
        state = self.agent.correlator.state  # type: ignore[union-attr]
        now = self.clock.now()
        return {
            eid: state.health_of(eid, now)
            for eid in state.entities
            if any(f"/{name}".lower() in eid.lower() for name in names)
        }

    def open_incidents_on(self, name: str) -> list[str]:
        incidents = self.agent.correlator.open_incidents()  # type: ignore[union-attr]
        suffix = f"/{name}"
        return [i.key for i in incidents if any(r.lower().endswith(suffix) for r in i.resources)]

    async def health(self) -> dict:
        response = await self.http.get("/health")
        assert response.status_code == 200
        return response.json()

    async def metrics(self) -> str:
        response = await self.http.get("/metrics")
        assert response.status_code == 200
        return response.text


@asynccontextmanager
async def watching(tmp_path: Path) -> AsyncIterator[Watched]:
    clock = ManualClock(REPLAY_EPOCH)
    scenario = load_scenario(str(SCENARIO))
    async with Emulator(scenario, clock=clock, port=0) as emulator:
        settings = emulator_settings(
            emulator.base_url, scenario, epoch=REPLAY_EPOCH, store_path=str(tmp_path / "s.db")
        )
        metrics = ServiceMetrics(settings.service)
        agent = Agent(settings, clock=clock, observer=metrics)
        app = create_app(settings, agent=agent, metrics=metrics, manage_agent=False)
        await agent.open()
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                await agent.run_due()
                yield Watched(emulator, clock, agent, http)
        finally:
            await agent.stop()
            metrics.shutdown()


def gateways_counted(health: dict) -> int:
    return sum(health["entities_by_kind"]["gateway"].values())


async def test_a_built_gateway_is_watched_and_a_deleted_one_dropped_without_restart(
    tmp_path: Path,
) -> None:
    async with watching(tmp_path) as w:
        while w.t < BUILT_AT - STEP:
            await w.step()
        before = w.entities_named(*OLD)
        assert before and set(before.values()) == {Health.UP}
        assert w.entities_named(*NEW) == {}
        health_before = await w.health()
        assert gateways_counted(health_before) == 2  # vpngw-hub, vpngw-old
        assert "vpngw-old" in await w.metrics()

        seen_old_up_after_delete: list[tuple[float, str]] = []
        dropped_at: float | None = None
        watched_at: float | None = None
        while w.t < DROPPED_AT - STEP:
            await w.step()
            for eid, health in w.entities_named(*OLD).items():
                if health is Health.UP:
                    seen_old_up_after_delete.append((w.t, eid))
            if dropped_at is None and not w.entities_named(*OLD):
                dropped_at = w.t
            new = w.entities_named(*NEW)
            if watched_at is None and new and set(new.values()) == {Health.UP}:
                watched_at = w.t
        health_after = await w.health()
        metrics_after = await w.metrics()
        state = w.agent.correlator.state  # type: ignore[union-attr]
        connections = {c.name for c in state.connections.values()}

        # the deleted gateway: gone from the inventory, the counts and the series, never `up`
        assert seen_old_up_after_delete == []
        assert dropped_at is not None and dropped_at <= BUILT_AT + 300  # the next gateway pass
        assert "cn-old-lyon" not in connections
        assert "vpngw-old" not in metrics_after and "cn-old-lyon" not in metrics_after
        assert gateways_counted(health_after) == 2  # vpngw-hub, vpngw-branch

        # the new gateway: found by the rediscovery (15 min after the first), read, counted
        assert watched_at is not None and watched_at <= 900 + STEP
        assert {"cn-branch-paris", "cn-branch-nice"} <= connections
        assert "vpngw-branch" in metrics_after and "cn-branch-nice" in metrics_after

        # ... and watched: its tunnel drop opens an incident
        await w.step()
        while w.t < DROPPED_AT + 120 and not w.open_incidents_on("cn-branch-nice"):
            await w.step()
        assert w.open_incidents_on("cn-branch-nice"), "the new connection's drop went unseen"
        assert w.t <= DROPPED_AT + 60
        graph = [r for r in w.emulator.requests if "microsoft.resourcegraph" in r.path.lower()]
        listings = [r for r in w.emulator.requests if r.path.lower().endswith("/resourcegroups")]
    assert len(graph) >= 2 and listings == []  # discovered through Resource Graph, twice or more
