"""ConnectionCollector against the emulator: tunnels per instance, and what a fault changes."""

from __future__ import annotations

from datetime import timedelta

from collect_helpers import HUB, SPOKE, of_type, run_of

from vpnwatch.clock import ManualClock
from vpnwatch.collect.base import Scope
from vpnwatch.collect.clients import AzureClients
from vpnwatch.collect.connections import ConnectionCollector
from vpnwatch.collect.gateways import GatewayCollector
from vpnwatch.emulator import Emulator
from vpnwatch.observations import ConnectionObserved, ConnectionStatus, GatewayObserved

NETWORK = f"/subscriptions/{HUB}/resourceGroups/rg-hub-weu/providers/Microsoft.Network"


async def test_one_tunnel_per_gateway_instance(
    emulator: Emulator, clients: AzureClients, clock: ManualClock
) -> None:
    scope = Scope(HUB, ("rg-hub-weu",))
    gateways = of_type(await GatewayCollector(clients, clock, 300).collect(scope), GatewayObserved)
    observations = await ConnectionCollector(clients, clock, 15).collect(scope)

    connections = of_type(observations, ConnectionObserved)
    assert set(connections) == {  # four connections at two per page
        "cn-aa-amsterdam",
        "cn-aa-frankfurt",
        "cn-zonal-utrecht",
        "cn-er-amsterdam",
    }
    amsterdam = connections["cn-aa-amsterdam"]
    assert amsterdam.connection_type == "IPsec"
    assert amsterdam.gateway_id == f"{NETWORK}/virtualNetworkGateways/vpngw-hub-aa"
    assert amsterdam.peer_id == f"{NETWORK}/localNetworkGateways/lgw-amsterdam"
    assert amsterdam.status is ConnectionStatus.CONNECTED and amsterdam.bgp_enabled
    # Azure names each tunnel after the public IP of the instance that carries it.
    instance_ips = [i.public_ip_address for i in gateways["vpngw-hub-aa"].instances]
    assert [t.gateway_public_ip for t in amsterdam.tunnels] == instance_ips
    assert [t.name for t in amsterdam.tunnels] == [f"cn-aa-amsterdam_{ip}" for ip in instance_ips]
    for tunnel in amsterdam.tunnels:
        assert tunnel.status is ConnectionStatus.CONNECTED
        assert tunnel.ingress_bytes > 0 and tunnel.egress_bytes > 0
        assert tunnel.last_connection_established is not None
        assert tunnel.last_connection_established < clock.now()
    assert amsterdam.ingress_bytes == sum(t.ingress_bytes for t in amsterdam.tunnels)

    utrecht = connections["cn-zonal-utrecht"]
    assert len(utrecht.tunnels) == 1
    assert utrecht.tunnels[0].gateway_public_ip == (
        gateways["vpngw-zonal"].instances[0].public_ip_address
    )
    assert not utrecht.bgp_enabled

    expressroute = connections["cn-er-amsterdam"]
    assert expressroute.connection_type == "ExpressRoute"
    assert expressroute.peer_id == f"{NETWORK}/expressRouteCircuits/er-amsterdam"
    assert expressroute.tunnels == ()

    run = run_of(observations)
    assert run.ok and set(run.resource_ids) == {c.resource_id for c in connections.values()}


async def test_a_list_without_status_costs_one_get_per_connection(
    emulator: Emulator, clients: AzureClients, clock: ManualClock
) -> None:
    # Azure's connection list carries no status (as the emulator's does not): every tunnel
    # is still reported, through one GET by name per connection.
    observations = await ConnectionCollector(clients, clock, 15).collect(
        Scope(HUB, ("rg-hub-weu",))
    )

    connections = of_type(observations, ConnectionObserved)
    assert len(connections) == 4
    assert all(c.status is ConnectionStatus.CONNECTED for c in connections.values())
    vpn = [c for c in connections.values() if c.connection_type != "ExpressRoute"]
    assert vpn and all(c.tunnels for c in vpn)
    paths = [r.path for r in emulator.requests]
    assert paths[:2] == [f"{NETWORK}/connections"] * 2  # the list and its second page
    assert sorted(paths[2:]) == sorted(f"{NETWORK}/connections/{name}" for name in connections)
    assert run_of(observations).requests == 6
    counts = emulator.counters.of(HUB)
    assert (counts["list"], counts["get"]) == (2, 4)


async def test_instance_failure_and_zone_outage_change_the_tunnels(
    emulator: Emulator, clients: AzureClients, clock: ManualClock
) -> None:
    collector = ConnectionCollector(clients, clock, 15)
    hub, spoke = Scope(HUB, ("rg-hub-weu",)), Scope(SPOKE, ("rg-spoke-neu",))
    before = of_type(await collector.collect(hub), ConnectionObserved)["cn-aa-amsterdam"]

    clock.advance(150)  # instance 1 of vpngw-hub-aa and zone 2 of North Europe are down
    during = of_type(await collector.collect(hub), ConnectionObserved)["cn-aa-amsterdam"]
    spoke_during = of_type(await collector.collect(spoke), ConnectionObserved)["cn-spoke-dublin"]

    assert during.observed_at == clock.now()
    assert during.status is ConnectionStatus.CONNECTED  # the other instance still carries it
    assert [t.status for t in during.tunnels] == [
        ConnectionStatus.CONNECTED,
        ConnectionStatus.NOT_CONNECTED,
    ]
    assert during.tunnels[0].ingress_bytes > before.tunnels[0].ingress_bytes

    clock.advance(10)  # still down: the dead tunnel's counters stand still, the live one's grow
    later = of_type(await collector.collect(hub), ConnectionObserved)["cn-aa-amsterdam"]
    assert later.tunnels[1].ingress_bytes == during.tunnels[1].ingress_bytes
    assert later.tunnels[0].ingress_bytes > during.tunnels[0].ingress_bytes
    assert spoke_during.status is ConnectionStatus.NOT_CONNECTED  # its only zone is out
    assert [t.status for t in spoke_during.tunnels] == [ConnectionStatus.NOT_CONNECTED]

    clock.advance(90)  # both faults ended at 220 s
    after = of_type(await collector.collect(hub), ConnectionObserved)["cn-aa-amsterdam"]
    assert [t.status for t in after.tunnels] == [ConnectionStatus.CONNECTED] * 2
    recovered = after.tunnels[1].last_connection_established
    assert recovered == clock.epoch + timedelta(seconds=220)
    untouched = after.tunnels[0].last_connection_established
    assert untouched == before.tunnels[0].last_connection_established


async def test_every_page_of_the_lists_is_charged_to_each_pass(
    emulator: Emulator, clients: AzureClients, clock: ManualClock
) -> None:
    # four connections at two per page: the list costs two reads every pass, whatever the
    # planner picks, and the planner's ration counts both (in a hub, 2,000 connections in four
    # groups are 40 pages every pass)
    scope = Scope(HUB, ("rg-hub-weu",))
    observations = await ConnectionCollector(clients, clock, 15).collect(scope)
    listed = sum(1 for r in emulator.requests if r.path.lower().endswith("/connections"))
    demand = clients.planner.demand("arm.connections", HUB)
    assert demand is not None and demand.items == 4
    assert demand.fixed_reads == 2 == listed
    assert run_of(observations).requests == 2 + 4  # the pages, then a GET per connection
