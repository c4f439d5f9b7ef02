"""Every shipped scenario's topology, read back through discovery and all four collectors."""

from __future__ import annotations

import pytest
from collect_helpers import emulator_settings

from vpnwatch.clock import ManualClock
from vpnwatch.collect import build_collectors, discover
from vpnwatch.collect.clients import AzureClients
from vpnwatch.emulator import Emulator, load_scenario, shipped_scenarios
from vpnwatch.observations import (
    BgpStatusObserved,
    CircuitObserved,
    CollectionRun,
    ConnectionObserved,
    GatewayObserved,
    Observation,
    ResourceUnknown,
)

MAX_GATEWAYS = 40  # the benchmark fleets belong to bench/, not to a unit test


def _small_scenarios() -> list[str]:
    small = []
    for name in shipped_scenarios():
        spec = load_scenario(name).spec
        count = sum(
            len(rg.vpn_gateways) + len(rg.expressroute_gateways)
            for sub in spec.topology.subscriptions
            for rg in sub.resource_groups
        )
        if count <= MAX_GATEWAYS:
            small.append(name)
    return small


@pytest.mark.parametrize("name", _small_scenarios())
async def test_topology_at_start_matches_what_is_observed(name: str) -> None:
    clock = ManualClock()
    async with Emulator(load_scenario(name), clock=clock, port=0, page_size=3) as emu:
        settings = emulator_settings(emu.base_url, subscriptions=[], discover_all=True)
        observations: list[Observation] = []
        async with AzureClients(settings) as clients:
            scopes = await discover(clients, settings.targets)
            for collector in build_collectors(settings, clients, clock):
                for scope in scopes:
                    observations.extend(await collector.collect(scope))
        topology = emu.world.topology

    runs = [o for o in observations if isinstance(o, CollectionRun)]
    assert runs and all(r.ok for r in runs), [r.reason for r in runs if not r.ok]
    assert not [o for o in observations if isinstance(o, ResourceUnknown)]

    gateways = {o.resource_id: o for o in observations if isinstance(o, GatewayObserved)}
    assert set(gateways) == {g.resource_id for g in topology.gateways}
    for gw in topology.gateways:
        seen = gateways[gw.resource_id]
        assert seen.active_active == gw.active_active
        assert [i.public_ip_address for i in seen.instances] == [
            c.public_ip.address for c in gw.ip_configurations
        ]
        assert seen.zones == tuple(sorted(gw.zones))

    connections = {o.resource_id: o for o in observations if isinstance(o, ConnectionObserved)}
    assert set(connections) == {c.resource_id for c in topology.connections}
    for conn in topology.connections:
        tunnels = connections[conn.resource_id].tunnels
        expected = 0 if conn.circuit is not None else conn.gateway.tunnels_per_connection
        assert len(tunnels) == expected
        assert {t.gateway_public_ip for t in tunnels} <= {
            c.public_ip.address for c in conn.gateway.ip_configurations
        }

    bgp = {o.gateway_id for o in observations if isinstance(o, BgpStatusObserved)}
    assert bgp == {g.resource_id for g in topology.gateways if g.is_vpn and g.bgp_enabled}

    circuits = {o.resource_id: o for o in observations if isinstance(o, CircuitObserved)}
    assert set(circuits) == {c.resource_id for c in topology.circuits}
    for circuit in topology.circuits:
        private = [p for p in circuits[circuit.resource_id].peerings if p.links]
        assert len(private) == (1 if circuit.private_peering is not None else 0)
