"""Under the older hourly limits (12,000 reads and 1,200 writes an hour per subscription) the
planner rations every collector, not only connections: each spends within its part of the share,
the connection promise says what is left for connections, and nothing older than its promise
reads `up`.

The real agent and SDK clients against the emulator with hourly throttling, on a scaled clock:
every wait (the budget's, the LRO polls') is a real one in scenario time.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from vpnwatch.agent import Agent
from vpnwatch.clock import ScaledClock
from vpnwatch.correlate.entities import Health
from vpnwatch.emulator import Emulator
from vpnwatch.emulator.scenario import parse_scenario
from vpnwatch.replay import emulator_settings
from vpnwatch.store import Store

SUB = "6f1d3c2a-0000-4000-8000-0000000a0001"
SPEED = 60.0  # scenario seconds per wall second
RUN_SECONDS = 1200.0  # scenario seconds
HOURLY_READS, HOURLY_WRITES = 12_000 / 3600, 1_200 / 3600
SHARE = 0.5


def _scenario():  # type: ignore[no-untyped-def]
    """12 gateways (BGP, half active/active) with 4 connections each, 3 circuits: at the
    default intervals far more than the hourly share affords (48 connections every 15 s alone
    are 3.2 reads/s against 1.67)."""
    return parse_scenario(
        {
            "name": "hourly-small",
            "duration": 3600,
            "topology": {
                "generate": [
                    {
                        "subscription": SUB,
                        "subscription_name": "hourly",
                        "name_prefix": "h",
                        "regions": ["westeurope"],
                        "gateways": 12,
                        "connections_per_gateway": 4,
                        "sites_per_region": 6,
                        "active_active_every": 2,
                        "zones": [["1", "2", "3"]],
                        "circuits": 3,
                        "routes_per_site": 2,
                    }
                ]
            },
            "timeline": [],
        },
        source="hourly-small",
    )


@pytest.mark.slow
async def test_every_collector_stays_within_its_ration_under_the_hourly_model() -> None:
    scenario = _scenario()
    clock = ScaledClock(SPEED, epoch=datetime.now(UTC))
    async with Emulator(scenario, clock=clock, port=0, throttling="hourly") as emu:
        assert emu.started_at is not None
        settings = emulator_settings(emu.base_url, scenario, epoch=emu.started_at)
        collectors = settings.collectors.model_copy(
            update={
                "lro_poll_interval_seconds": 2.0 / SPEED,
                "retry_backoff_seconds": 0.8 / SPEED,
                "budget": settings.collectors.budget.model_copy(update={"model": "hourly"}),
            }
        )
        settings = settings.model_copy(update={"collectors": collectors})
        agent = Agent(settings, clock=clock, store=Store.open(":memory:"))
        start = emu.counters
        await agent.start()
        stale_up: list[str] = []
        try:
            while (clock.now() - emu.started_at).total_seconds() < RUN_SECONDS:
                await asyncio.sleep(0.5)
                stale_up.extend(_stale_up(agent, clock))
            clients = agent._clients  # the agent's own budget and planner
            assert clients is not None
            rations = clients.planner.rations(SUB)
            reads = clients.budget.average_rates(SUB, "reads")
            writes = clients.budget.average_rates(SUB, "writes")
            promise = clients.planner.promise("arm.connections", SUB)
            served = emu.counters.minus(start)
        finally:
            await agent.stop()

    assert served.total("throttled") == 0
    # every collector that reads ARM resource by resource, or the subscription whole, is rationed
    assert {
        "arm.connections",
        "arm.bgp",
        "arm.expressroute",
        "arm.gateways",
        "arm.resourcehealth",
    } <= set(rations)
    for lane, ration in rations.items():
        # what it spent, averaged over the run, within its part (and a first pass's lists)
        assert reads.get(lane, 0.0) <= ration.reads_per_second * 1.2 + 0.02, lane
        assert writes.get(lane, 0.0) <= ration.writes_per_second * 1.2 + 0.005, lane
    assert sum(reads.values()) <= HOURLY_READS * SHARE
    assert sum(writes.values()) <= HOURLY_WRITES * SHARE
    # the writes (BGP status, route-table summaries) are what the hourly share runs out of first
    assert rations["arm.bgp"].period > rations["arm.connections"].period > 15
    assert rations["arm.expressroute"].period >= rations["arm.bgp"].period
    # the connection promise follows the ration, not the configured 15 s
    assert promise is not None and promise >= rations["arm.connections"].period
    assert not stale_up, stale_up[:5]


def _stale_up(agent: Agent, clock: ScaledClock) -> list[str]:
    """Entities older than what was promised for them that still read `up`."""
    if agent.correlator is None:
        return []
    state = agent.correlator.state
    now = clock.now()
    out = []
    for entity in state.entities.values():
        if entity.last_observed is None:
            continue
        age = (now - entity.last_observed).total_seconds()
        if age > state.stale_after(entity.entity_id) and state.effective(entity, now) is Health.UP:
            out.append(entity.entity_id)
    return out
