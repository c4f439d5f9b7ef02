"""Resources created and deleted while the collectors run: no restart, nothing stale kept."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from collect_helpers import emulator_settings, of_type, run_of

from vpnwatch.clock import ManualClock
from vpnwatch.collect.base import Scope
from vpnwatch.collect.clients import AzureClients
from vpnwatch.collect.connections import ConnectionCollector
from vpnwatch.collect.gateways import GatewayCollector
from vpnwatch.emulator import Emulator, load_scenario
from vpnwatch.observations import ConnectionObserved, GatewayObserved

CHANGING = Path(__file__).parents[1] / "emulator" / "scenarios" / "changing-estate.yaml"
SUB = "0c0c0c0c-0000-4000-8000-000000000001"


async def test_a_gateway_built_later_is_read_and_a_deleted_connection_is_not(
    clock: ManualClock,
) -> None:
    async with Emulator(load_scenario(CHANGING), clock=clock) as emu:
        settings = emulator_settings(emu.base_url, subscriptions=[SUB])
        async with AzureClients(settings) as clients:
            gateways = GatewayCollector(clients, clock, 300)
            connections = ConnectionCollector(clients, clock, 15)
            scope = Scope(SUB)

            first_gateways = await gateways.collect(scope)
            first_connections = await connections.collect(scope)
            clock.set(emu.started_at + timedelta(hours=6))  # type: ignore[operator]
            later_gateways = await gateways.collect(scope)
            later_connections = await connections.collect(scope)

    assert set(of_type(first_gateways, GatewayObserved)) == {"vpngw-hub"}
    assert set(of_type(later_gateways, GatewayObserved)) == {"vpngw-hub", "vpngw-new"}
    assert set(of_type(first_connections, ConnectionObserved)) == {"cn-hub-paris", "cn-hub-lyon"}
    later = of_type(later_connections, ConnectionObserved)
    assert set(later) == {"cn-hub-paris", "cn-new-paris"}
    assert later["cn-new-paris"].tunnels  # read by name, with its tunnel
    # The run says which resources exist now, so the deleted one can be dropped downstream.
    ids = run_of(later_connections).resource_ids
    assert not any(i.endswith("/cn-hub-lyon") for i in ids)
    assert run_of(later_gateways).ok and run_of(later_connections).ok
