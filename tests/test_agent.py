"""The agent's collector loops against the emulator: started together, they share one discovery."""

from __future__ import annotations

import asyncio

from vpnwatch.agent import Agent
from vpnwatch.clock import SystemClock
from vpnwatch.emulator import Emulator, load_scenario
from vpnwatch.replay import emulator_settings
from vpnwatch.store import Store


async def test_collectors_starting_together_discover_the_subscriptions_once() -> None:
    scenario = load_scenario("quiet")
    clock = SystemClock()
    async with Emulator(scenario, clock=clock) as emu:
        settings = emulator_settings(emu.base_url, scenario, epoch=clock.now())
        agent = Agent(settings, clock=clock, store=Store.open(":memory:"))
        await agent.start()
        try:
            async with asyncio.timeout(30):
                while not agent.ready:
                    await asyncio.sleep(0.05)
        finally:
            await agent.stop()
        queries = [r for r in emu.requests if "microsoft.resourcegraph" in r.path.lower()]
        listings = [r for r in emu.requests if r.path.lower().endswith("/resourcegroups")]
    assert len(agent.collector_status()) == 5
    # one Resource Graph query finds the resource groups; none is listed through ARM
    assert len(queries) == len(scenario.subscription_ids) == 1
    assert listings == []
