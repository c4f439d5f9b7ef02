"""Resources that appear and disappear over time, and the generated benchmark estates."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.network.aio import NetworkManagementClient

from vpnwatch.clock import ManualClock
from vpnwatch.collect.credentials import AsyncStaticTokenCredential
from vpnwatch.emulator import Emulator, ScenarioError, load_scenario
from vpnwatch.emulator.estates import FAULT_KINDS, build_estate, fault_hubs, fault_subscription
from vpnwatch.emulator.scenario import parse_scenario
from vpnwatch.emulator.world import World

CHANGING = Path(__file__).parent / "scenarios" / "changing-estate.yaml"
SUB = "0c0c0c0c-0000-4000-8000-000000000001"


def at(clock: ManualClock, emu: Emulator, seconds: float) -> None:
    assert emu.started_at is not None
    clock.set(emu.started_at + timedelta(seconds=seconds))


async def names(pager: Any) -> set[str]:
    return {item.name async for item in pager}


async def test_resources_appear_and_disappear_on_the_timeline(
    clock: ManualClock, allow_http: Any
) -> None:
    async with Emulator(load_scenario(CHANGING), clock=clock) as emu:
        client = NetworkManagementClient(
            AsyncStaticTokenCredential("emulator-token"),
            SUB,
            base_url=emu.base_url,
            per_call_policies=[allow_http],
        )
        async with client:
            gateways = client.virtual_network_gateways
            connections = client.virtual_network_gateway_connections
            assert await names(gateways.list("rg-hub")) == {"vpngw-hub"}
            assert await names(connections.list("rg-hub")) == {"cn-hub-paris", "cn-hub-lyon"}
            assert await names(client.express_route_circuits.list("rg-hub")) == set()
            with pytest.raises(ResourceNotFoundError):
                await gateways.get("rg-hub", "vpngw-new")
            with pytest.raises(ResourceNotFoundError):  # a gateway not built has no actions
                await gateways.begin_get_bgp_peer_status("rg-hub", "vpngw-new")

            at(clock, emu, 3600)  # cn-hub-lyon deleted
            assert await names(connections.list("rg-hub")) == {"cn-hub-paris"}
            assert await names(gateways.list_connections("rg-hub", "vpngw-hub")) == {"cn-hub-paris"}
            with pytest.raises(ResourceNotFoundError):
                await connections.get("rg-hub", "cn-hub-lyon")

            at(clock, emu, 7200)  # its site retired
            assert await names(client.local_network_gateways.list("rg-hub")) == {"lgw-paris"}

            at(clock, emu, 10800)  # a circuit ordered
            assert await names(client.express_route_circuits.list("rg-hub")) == {"er-new"}

            at(clock, emu, 21600)  # the new gateway and its connection are there
            assert await names(gateways.list("rg-hub")) == {"vpngw-hub", "vpngw-new"}
            new = await gateways.get("rg-hub", "vpngw-new")
            assert new.provisioning_state == "Succeeded"
            created = await connections.get("rg-hub", "cn-new-paris")
            assert created.connection_status == "Connected"


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"at": 10, "kind": "create", "gateway": "vpngw-nope"}, "no gateway named"),
        ({"at": 10, "kind": "delete"}, "names exactly one of"),
        (
            {"at": 10, "kind": "delete", "gateway": "vpngw-hub", "site": "lgw-paris"},
            "names exactly one of",
        ),
    ],
)
def test_a_lifecycle_entry_must_name_one_known_resource(
    entry: dict[str, Any], problem: str
) -> None:
    import yaml

    raw = yaml.safe_load(CHANGING.read_text())
    raw["timeline"] = [entry]
    with pytest.raises(ScenarioError, match=problem):
        parse_scenario(raw)


@pytest.mark.parametrize("shape", ["spread", "hub"])
def test_generated_estates_have_the_promised_shape_and_faults(shape: str) -> None:
    estate = build_estate(shape, faults=60)  # type: ignore[arg-type]
    world = World(estate.scenario)
    topo = world.topology
    assert len(topo.gateways) == 1000 and len(topo.connections) == 4000
    assert len(topo.circuits) == 200
    assert sum(g.active_active for g in topo.gateways) == 500
    zone_redundant = sum(len(g.zones) == 3 for g in topo.gateways)
    assert 330 <= zone_redundant <= 340  # a third
    per_subscription = Counter(c.rg.subscription.id for c in topo.connections)
    if shape == "spread":
        assert len(per_subscription) == 20 and set(per_subscription.values()) == {200}
    else:
        assert per_subscription.most_common(1)[0][1] == 2000
        assert set(list(per_subscription.values())[1:]) == {200}

    faults = estate.faults
    assert len(faults) == 60 and {f.kind for f in faults} == set(FAULT_KINDS)
    assert len({f.gateway for f in faults}) == 60  # one fault per gateway
    assert len({f.subscription for f in faults}) == len(per_subscription)
    assert estate.scenario.duration_seconds > faults[-1].at + faults[-1].duration
    # Each fault does to the wire what it says, while it lasts, and ends.
    for fault in faults:
        during, after = fault.at + 10, fault.at + fault.duration + 10
        if fault.kind == "tunnel_down":
            conn = topo.connection(fault.target)
            assert world.connection_state(conn, during).status == "NotConnected"
            assert world.connection_state(conn, after).status == "Connected"
        elif fault.kind in ("failover", "redundancy_lost"):
            gw = topo.gateway(fault.gateway)
            assert gw.active_active == (fault.kind == "redundancy_lost")
            assert world.timeline.gateway_instance_down(gw.name, 0).contains(during)
        else:
            rows = world.bgp_peers(topo.gateway(fault.gateway), during)
            assert "Idle" in {r.state for r in rows}
            rows = world.bgp_peers(topo.gateway(fault.gateway), after)
            assert "Idle" not in {r.state for r in rows}


def test_fault_hubs_give_each_fault_a_small_hub_of_its_own() -> None:
    storm = {"kind": "api_unavailable", "at": 100, "duration": 50}
    drop = {"kind": "tunnel_down", "connection": "b-vpngw-0000-cn1", "at": 100, "duration": 50}
    raw = fault_hubs("faults", {"a": [storm], "b": []}, duration=600, extra=[drop])
    world = World(parse_scenario(raw))
    topo = world.topology
    by_subscription = Counter(c.rg.subscription.id for c in topo.connections)
    assert by_subscription == {fault_subscription(1): 2, fault_subscription(2): 2}
    assert sorted(g.name for g in topo.gateways) == ["a-vpngw-0000", "b-vpngw-0000"]
    # the hub's faults are its own; the extra entries are as given
    [fault] = world.timeline.api_faults
    assert fault.covers(fault_subscription(1), "/") and not fault.covers(fault_subscription(2), "/")
    states = {c.name: world.connection_state(c, 120).status for c in topo.connections}
    assert states == {
        "a-vpngw-0000-cn0": "Connected",
        "a-vpngw-0000-cn1": "Connected",
        "b-vpngw-0000-cn0": "Connected",
        "b-vpngw-0000-cn1": "NotConnected",
    }
