"""Vnet2Vnet connections through the real SDK: both sides, two subscriptions, one fate."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from collect_helpers import TOKEN, RecordingObserver, emulator_settings, of_type

from vpnwatch.clock import ManualClock
from vpnwatch.collect.base import Scope
from vpnwatch.collect.clients import AzureClients
from vpnwatch.collect.connections import ConnectionCollector
from vpnwatch.emulator import Emulator, load_scenario
from vpnwatch.observations import ConnectionObserved, ConnectionStatus

HUB = "6f1d3c2a-0000-4000-8000-00000000f001"
SPOKE = "6f1d3c2a-0000-4000-8000-00000000f002"
HUB_NET = f"/subscriptions/{HUB}/resourceGroups/rg-hub-weu/providers/Microsoft.Network"
SPOKE_NET = f"/subscriptions/{SPOKE}/resourceGroups/rg-spoke-use/providers/Microsoft.Network"


@pytest.fixture
async def emulator(clock: ManualClock) -> AsyncIterator[Emulator]:
    scenario = load_scenario("vnet2vnet-across-subscriptions")
    async with Emulator(scenario, clock=clock, token=TOKEN, page_size=2) as emu:
        yield emu


@pytest.fixture
async def clients(emulator: Emulator, observer: RecordingObserver) -> AsyncIterator[AzureClients]:
    settings = emulator_settings(emulator.base_url, subscriptions=[HUB, SPOKE])
    async with AzureClients(settings, observer=observer) as made:
        yield made


async def _both_sides(
    clients: AzureClients, clock: ManualClock
) -> tuple[ConnectionObserved, ConnectionObserved]:
    collector = ConnectionCollector(clients, clock, 15)
    hub = of_type(await collector.collect(Scope(HUB, ("rg-hub-weu",))), ConnectionObserved)
    spoke = of_type(await collector.collect(Scope(SPOKE, ("rg-spoke-use",))), ConnectionObserved)
    return hub["cn-hub-weu-to-spoke-use"], spoke["cn-spoke-use-to-hub-weu"]


async def test_each_side_names_the_other_gateway(
    emulator: Emulator, clients: AzureClients, clock: ManualClock
) -> None:
    hub_side, spoke_side = await _both_sides(clients, clock)

    assert hub_side.connection_type == spoke_side.connection_type == "Vnet2Vnet"
    assert hub_side.gateway_id == f"{HUB_NET}/virtualNetworkGateways/vpngw-hub-weu"
    assert hub_side.peer_id == f"{SPOKE_NET}/virtualNetworkGateways/vpngw-spoke-use"
    assert spoke_side.gateway_id == hub_side.peer_id
    assert spoke_side.peer_id == hub_side.gateway_id
    assert hub_side.status is spoke_side.status is ConnectionStatus.CONNECTED
    # one tunnel per instance of the gateway that owns the connection
    assert len(hub_side.tunnels) == 1 and len(spoke_side.tunnels) == 2
    assert all(t.status is ConnectionStatus.CONNECTED for t in spoke_side.tunnels)


async def test_a_failed_gateway_drops_both_sides(
    emulator: Emulator, clients: AzureClients, clock: ManualClock
) -> None:
    assert emulator.started_at is not None
    clock.set(emulator.started_at + timedelta(seconds=130))  # the hub has no instance up
    hub_side, spoke_side = await _both_sides(clients, clock)
    assert hub_side.status is ConnectionStatus.NOT_CONNECTED
    assert spoke_side.status is ConnectionStatus.NOT_CONNECTED
    assert all(t.status is ConnectionStatus.NOT_CONNECTED for t in spoke_side.tunnels)

    clock.set(emulator.started_at + timedelta(seconds=300))  # the standby carries them
    hub_side, spoke_side = await _both_sides(clients, clock)
    assert hub_side.status is spoke_side.status is ConnectionStatus.CONNECTED
    restored = emulator.started_at + timedelta(seconds=270)
    for tunnel in (*hub_side.tunnels, *spoke_side.tunnels):
        assert tunnel.last_connection_established is not None
        assert abs((tunnel.last_connection_established - restored).total_seconds()) <= 1


async def test_one_side_changing_puts_the_far_side_first_in_its_next_pass(
    emulator: Emulator, clients: AzureClients, clock: ManualClock
) -> None:
    assert emulator.started_at is not None
    collector = ConnectionCollector(clients, clock, 15)
    clock.set(emulator.started_at + timedelta(seconds=60))
    await _both_sides(clients, clock)  # every connection read once, nothing changed since
    clock.set(emulator.started_at + timedelta(seconds=75))
    await collector.collect(Scope(SPOKE, ("rg-spoke-use",)))
    assert clients.planner.plans()[("arm.connections", SPOKE.lower())].hot == 0

    clock.set(emulator.started_at + timedelta(seconds=130))
    await collector.collect(Scope(HUB, ("rg-hub-weu",)))  # the hub's side reads down
    await collector.collect(Scope(SPOKE, ("rg-spoke-use",)))
    plan = clients.planner.plans()[("arm.connections", SPOKE.lower())]
    hot = {rid.rsplit("/", 1)[-1] for rid in plan.read[: plan.hot]}
    assert hot == {"cn-spoke-use-to-hub-weu", "cn-spoke-use-newyork"}
