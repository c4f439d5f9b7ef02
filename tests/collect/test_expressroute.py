"""ExpressRouteCollector against the emulator: circuit, peerings, and both links of the private
peering read from the route-table summary LROs."""

from __future__ import annotations

from collect_helpers import HUB, of_type, run_of

from vpnwatch.clock import ManualClock
from vpnwatch.collect.base import Scope
from vpnwatch.collect.clients import AzureClients
from vpnwatch.collect.expressroute import ExpressRouteCollector
from vpnwatch.emulator import Emulator
from vpnwatch.observations import CircuitObserved

CIRCUIT = (
    f"/subscriptions/{HUB}/resourceGroups/rg-hub-weu/providers/Microsoft.Network"
    "/expressRouteCircuits/er-amsterdam"
)


def _links(circuit: CircuitObserved) -> dict[str, object]:
    private = next(p for p in circuit.peerings if p.name == "AzurePrivatePeering")
    return {link.device_path: link for link in private.links}


async def test_circuit_with_both_links_up(
    emulator: Emulator, clients: AzureClients, clock: ManualClock
) -> None:
    observations = await ExpressRouteCollector(clients, clock, 30).collect(
        Scope(HUB, ("rg-hub-weu",))
    )

    circuit = of_type(observations, CircuitObserved)["er-amsterdam"]
    assert circuit.resource_id == CIRCUIT and circuit.region == "westeurope"
    assert (circuit.circuit_provisioning_state, circuit.service_provider_provisioning_state) == (
        "Enabled",
        "Provisioned",
    )
    assert (circuit.service_provider, circuit.peering_location, circuit.bandwidth_mbps) == (
        "Equinix",
        "Amsterdam",
        1000,
    )
    assert [(p.name, p.state) for p in circuit.peerings] == [
        ("AzurePrivatePeering", "Enabled"),
        ("MicrosoftPeering", "Enabled"),
    ]
    microsoft = circuit.peerings[1]
    assert microsoft.links == ()  # only the private peering's links are read

    links = _links(circuit)
    assert set(links) == {"primary", "secondary"}
    for device_path, neighbor in (("primary", "172.16.0.1"), ("secondary", "172.16.0.5")):
        link = links[device_path]
        assert (link.up, link.state, link.prefixes_received) == (True, "Established", 25)
        assert link.neighbor == neighbor  # the customer edge: first host of the link's /30
    assert circuit.primary_bytes_in > 0 and circuit.secondary_bytes_out > 0

    run = run_of(observations)
    assert run.ok and run.resource_ids == (CIRCUIT,)
    summaries = [r.path for r in emulator.requests if r.method == "POST"]
    assert sorted(p.rsplit("/", 2)[-2:][1] for p in summaries) == ["primary", "secondary"]
    assert all("/peerings/AzurePrivatePeering/routeTablesSummary/" in p for p in summaries)


async def test_primary_link_down_then_back(
    emulator: Emulator, clients: AzureClients, clock: ManualClock
) -> None:
    collector = ExpressRouteCollector(clients, clock, 30)
    scope = Scope(HUB, ("rg-hub-weu",))
    clock.advance(150)

    during = of_type(await collector.collect(scope), CircuitObserved)["er-amsterdam"]
    primary, secondary = _links(during)["primary"], _links(during)["secondary"]
    assert (primary.up, primary.state, primary.prefixes_received) == (False, "Idle", None)
    assert secondary.up and secondary.prefixes_received == 25

    clock.advance(10)  # no traffic over a dead link: its counters stand still
    later = of_type(await collector.collect(scope), CircuitObserved)["er-amsterdam"]
    assert later.primary_bytes_in == during.primary_bytes_in
    assert later.secondary_bytes_in > during.secondary_bytes_in

    clock.advance(100)
    after = of_type(await collector.collect(scope), CircuitObserved)["er-amsterdam"]
    assert all(link.up for link in _links(after).values())
