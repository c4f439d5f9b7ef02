"""Vnet2Vnet connections in the emulator: the wire shape, the pair's shared fate, the format."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_emulator_contract import WIRE, shape_problems

from vpnwatch.clock import ManualClock
from vpnwatch.emulator import Emulator, ScenarioError, load_scenario
from vpnwatch.emulator.scenario import SCENARIO_DIR, parse_scenario
from vpnwatch.emulator.world import World

HUB = "6f1d3c2a-0000-4000-8000-00000000f001"
SPOKE = "6f1d3c2a-0000-4000-8000-00000000f002"
CROSS = "vnet2vnet-across-subscriptions"


def _document() -> dict[str, Any]:
    loaded = yaml.safe_load((SCENARIO_DIR / f"{CROSS}.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _connections(doc: dict[str, Any], sub: int) -> list[dict[str, Any]]:
    gateways = doc["topology"]["subscriptions"][sub]["resource_groups"][0]["vpn_gateways"]
    connections: list[dict[str, Any]] = gateways[0]["connections"]
    return connections


async def test_a_vnet2vnet_connection_has_the_connection_example_shape(
    clock: ManualClock, arm: Any
) -> None:
    """Azure's connection example is site-to-site; a Vnet2Vnet body keeps every key of it except
    `localNetworkGateway2`, and names the far gateway in `virtualNetworkGateway2` with the same
    reference shape as `virtualNetworkGateway1` (SDK-NOTES: references are `{id, properties}`;
    the GET body in MicrosoftDocs/azure-docs,
    articles/vpn-gateway/vpn-gateway-vnet-vnet-rm-ps.md)."""
    wrapper = json.loads(
        (WIRE / "connections/VirtualNetworkGatewayConnectionGet.json").read_text(encoding="utf-8")
    )
    example = copy.deepcopy(wrapper["responses"]["200"]["body"])
    example["properties"].pop("localNetworkGateway2")
    example["properties"]["connectionType"] = "Vnet2Vnet"
    async with Emulator(load_scenario(CROSS), clock=clock) as emu:
        url = arm.url(emu, "rg-hub-weu", "/connections/cn-hub-weu-to-spoke-use", HUB)
        body = await arm.get(url)
        listed = await arm.get(arm.url(emu, "rg-spoke-use", "/connections", SPOKE))

    assert shape_problems(example, body, "$", [0]) == []
    props = body["properties"]
    assert props["connectionType"] == "Vnet2Vnet"
    assert "localNetworkGateway2" not in props
    far = props["virtualNetworkGateway2"]
    assert set(far) == set(props["virtualNetworkGateway1"]) == {"id", "properties"}
    assert far["id"].startswith(f"/subscriptions/{SPOKE}/")  # the far side's subscription
    assert far["id"].endswith("/virtualNetworkGateways/vpngw-spoke-use")
    assert [t["connectionStatus"] for t in props["tunnelConnectionStatus"]] == ["Connected"]
    # as in every list: no status, and the far gateway still named
    (spoke_side,) = [c for c in listed["value"] if c["name"] == "cn-spoke-use-to-hub-weu"]
    assert "connectionStatus" not in spoke_side["properties"]
    assert spoke_side["properties"]["virtualNetworkGateway2"]["id"].endswith("vpngw-hub-weu")


def _status(world: World, name: str, t: float) -> str:
    return world.connection_state(world.topology.connection(name), t).status


def test_a_one_sided_link_never_connects() -> None:
    doc = _document()
    _connections(doc, 1).pop()  # the spoke never created its connection back
    world = World(parse_scenario(doc))
    assert _status(world, "cn-hub-weu-to-spoke-use", 60) == "NotConnected"
    assert _status(world, "cn-hub-weu-amsterdam", 60) == "Connected"


def test_a_link_fault_or_a_deleted_side_drops_both() -> None:
    doc = _document()
    doc["timeline"] = [
        {"at": 100, "kind": "tunnel_down", "connection": "cn-spoke-use-to-hub-weu", "duration": 50},
        {"at": 300, "kind": "delete", "connection": "cn-hub-weu-to-spoke-use"},
    ]
    world = World(parse_scenario(doc))
    for t, want in ((90, "Connected"), (120, "NotConnected"), (200, "Connected")):
        assert _status(world, "cn-hub-weu-to-spoke-use", t) == want, t
        assert _status(world, "cn-spoke-use-to-hub-weu", t) == want, t
    assert _status(world, "cn-spoke-use-to-hub-weu", 320) == "NotConnected"
    assert _status(world, "cn-spoke-use-newyork", 320) == "Connected"


def test_one_instance_of_an_active_active_side_keeps_the_link_up() -> None:
    doc = _document()
    doc["timeline"] = [
        {
            "at": 100,
            "kind": "instance_failure",
            "gateway": "vpngw-spoke-use",
            "instance": 1,
            "duration": 100,
        },
    ]
    world = World(parse_scenario(doc))
    spoke = world.connection_state(world.topology.connection("cn-spoke-use-to-hub-weu"), 150)
    assert spoke.status == "Connected"
    assert [t.connected for t in spoke.tunnels] == [True, False]
    assert _status(world, "cn-hub-weu-to-spoke-use", 150) == "Connected"


def test_bgp_over_a_vnet2vnet_link_peers_with_every_far_instance() -> None:
    doc = _document()
    subs = doc["topology"]["subscriptions"]
    subs[0]["resource_groups"][0]["vpn_gateways"][0]["asn"] = 65071
    subs[1]["resource_groups"][0]["vpn_gateways"][0]["asn"] = 65072
    _connections(doc, 0)[1]["bgp"] = True
    _connections(doc, 1)[1]["bgp"] = True
    world = World(parse_scenario(doc))
    hub = world.topology.gateway("vpngw-hub-weu")
    spoke = world.topology.gateway("vpngw-spoke-use")

    rows = world.bgp_peers(hub, 60)
    assert {r.neighbor for r in rows} == {spoke.bgp_address(0), spoke.bgp_address(1)}
    assert {r.state for r in rows} == {"Connected"} and {r.asn for r in rows} == {65072}
    assert all(r.routes == (str(spoke.vnet.address_space),) for r in rows)
    # the hub fails: its rows are Unknown, the spoke's sessions to it Connecting
    assert {r.state for r in world.bgp_peers(hub, 130)} == {"Unknown"}
    assert {r.state for r in world.bgp_peers(spoke, 130)} == {"Connecting"}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda c: c.update(peer_gateway="vpngw-nowhere"), "no VPN gateway named 'vpngw-nowhere'"),
        (lambda c: c.update(peer_gateway="vpngw-hub-weu"), "cannot connect to itself"),
        (lambda c: c.update(site="lgw-amsterdam-dc"), "its site or its peer_gateway"),
        (lambda c: c.update(bgp=True), "need an asn for BGP"),
    ],
)
def test_bad_vnet2vnet_connections_are_named(change: Any, problem: str) -> None:
    doc = _document()
    change(_connections(doc, 0)[1])
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(doc, source="mine.yaml")
    assert any(problem in p for p in caught.value.problems), caught.value.problems


def test_the_shipped_vnet2vnet_scenarios_are_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "scenarios.md").read_text()
    shipped = sorted(p.stem for p in SCENARIO_DIR.glob("vnet2vnet-*.yaml"))
    assert CROSS in shipped
    for name in shipped:
        assert f"| `{name}` |" in doc, name
    scenario = load_scenario(CROSS)
    assert set(scenario.subscription_ids) == {HUB, SPOKE}
    assert scenario.duration_seconds <= 15 * 60
