"""Shipped scenarios load and follow the house rules; broken ones name the bad key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from vpnwatch.emulator import ScenarioError, load_scenario, shipped_scenarios
from vpnwatch.emulator.scenario import SCENARIO_DIR, Recover, parse_scenario
from vpnwatch.emulator.timeline import InstanceOutage, active_standby_outages
from vpnwatch.emulator.world import World, format_timespan

SHIPPED = {
    "quiet",
    "planned-maintenance",
    "unplanned-failover",
    "active-active-instance-loss",
    "expressroute-failover-to-vpn",
    "zone-outage",
    "tunnel-flap",
    "site-down",
    "maintenance-window-failover",
    "large-fleet",
}


def test_every_required_scenario_ships() -> None:
    assert set(shipped_scenarios()) >= SHIPPED


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_scenarios_follow_the_rules(name: str) -> None:
    scenario = load_scenario(name)
    assert scenario.name == name
    assert scenario.description
    assert 0 < scenario.duration_seconds <= 900
    for fault in scenario.timeline:
        assert fault.at >= 60, f"{name}: faults start after at least 60 s of quiet"
        assert fault.at < scenario.duration_seconds
        if not isinstance(fault, Recover) and getattr(fault, "duration", None):
            assert fault.at + fault.duration <= scenario.duration_seconds


def test_quiet_has_the_promised_shape() -> None:
    scenario = load_scenario("quiet")
    world = World(scenario)
    vpn = [g for g in world.topology.gateways if g.is_vpn]
    assert len(vpn) == 3
    assert {g.location for g in vpn} == {"westeurope", "northeurope"}
    assert sum(g.active_active for g in vpn) == 1
    assert len(world.topology.circuits) == 1
    assert not scenario.timeline
    assert scenario.spec.noise.counter_jitter > 0
    assert len(scenario.spec.noise.missed_polls) == 1


def test_large_fleet_is_generated() -> None:
    scenario = load_scenario("large-fleet")
    world = World(scenario)
    assert len(world.topology.gateways) == 1000
    assert len(world.topology.connections) == 4000
    assert len(scenario.subscription_ids) == 2
    zones = {g.zones for g in world.topology.gateways}
    assert zones == {("1",), ("2",), ("3",), ("1", "2", "3")}
    addresses = [s.gateway_ip for s in world.topology.sites]
    assert len(addresses) == len(set(addresses))


def test_agent_and_expect_blocks_pass_through() -> None:
    scenario = load_scenario("maintenance-window-failover")
    window = scenario.agent["maintenance_windows"][0]
    assert (window["start_offset"], window["end_offset"]) == (240, 480)
    assert window["resources"][0].endswith("/virtualNetworkGateways/vpngw-core-neu")
    assert isinstance(scenario.expect, list)


def _write(tmp_path: Path, mutate: Any) -> Path:
    doc = yaml.safe_load((SCENARIO_DIR / "quiet.yaml").read_text())
    mutate(doc)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _rg(doc: dict[str, Any]) -> dict[str, Any]:
    group: dict[str, Any] = doc["topology"]["subscriptions"][0]["resource_groups"][0]
    return group


BROKEN = [
    (
        lambda d: _rg(d)["vpn_gateways"][0].update(skuu="VpnGw2"),
        "topology.subscriptions[0].resource_groups[0].vpn_gateways[0].skuu: unknown key",
    ),
    (
        lambda d: _rg(d)["vpn_gateways"][0].update(zones=["4"]),
        "topology.subscriptions[0].resource_groups[0].vpn_gateways[0].zones",
    ),
    (
        lambda d: _rg(d)["vpn_gateways"][0].update(vnet="vnet-missing"),
        "vpn_gateways[0].vnet: no vnet 'vnet-missing'",
    ),
    (
        lambda d: _rg(d)["vpn_gateways"][0]["connections"][0].update(site="lgw-nowhere"),
        "connections[0].site: no local network gateway named 'lgw-nowhere'",
    ),
    (
        lambda d: d.update(
            timeline=[
                {"at": 90, "kind": "instance_failure", "gateway": "vpngw-ghost", "instance": 0}
            ]
        ),
        "timeline[0].gateway: no gateway named 'vpngw-ghost'",
    ),
    (
        lambda d: d.update(timeline=[{"at": 90, "kind": "meteor_strike"}]),
        "timeline[0]: unknown fault kind",
    ),
    (
        lambda d: d.update(
            timeline=[{"at": 90, "kind": "flap", "connection": "cn-hub-weu-amsterdam", "count": 3}]
        ),
        "timeline[0].period: Field required",
    ),
    (
        lambda d: d.update(
            timeline=[
                {
                    "at": 90,
                    "kind": "bgp_peer_down",
                    "gateway": "vpngw-hub-weu",
                    "neighbor": "10.9.9.9",
                }
            ]
        ),
        "timeline[0].neighbor: '10.9.9.9' is not a BGP neighbor of 'vpngw-hub-weu'",
    ),
    (
        lambda d: d.update(timeline=[{"at": 90, "kind": "recover", "fault": "nothing"}]),
        "timeline[0].fault: no timeline entry has id 'nothing'",
    ),
    (lambda d: d.pop("duration"), "duration: Field required"),
]


@pytest.mark.parametrize(("mutate", "expected"), BROKEN)
def test_a_broken_scenario_names_the_file_and_key(
    tmp_path: Path, mutate: Any, expected: str
) -> None:
    path = _write(tmp_path, mutate)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert str(path) in message
    assert expected in message, message


def test_unknown_scenario_lists_the_shipped_ones() -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario("no-such-scenario")
    assert "quiet" in str(caught.value)


def test_active_standby_failover_waits_for_an_instance() -> None:
    # Both instances down (a zonal gateway in a zone outage): dark until one returns.
    spans = active_standby_outages(
        [InstanceOutage(100, 400, 45)], [InstanceOutage(100, 400, 45)], []
    )
    assert spans.spans == ((100, 400),)
    # A short failure: the takeover still needs its full failover time.
    spans = active_standby_outages([InstanceOutage(100, 110, 45)], [], [])
    assert spans.spans == ((100, 145),)
    # The standby failing changes nothing.
    assert not active_standby_outages([], [InstanceOutage(100, 400, 45)], [])


def test_the_documented_example_is_valid() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "scenarios.md").read_text()
    block = doc.split("## A complete example")[1].split("```yaml")[1].split("```")[0]
    scenario = parse_scenario(yaml.safe_load(block), source="docs/scenarios.md")
    world = World(scenario)
    conn = world.topology.connection("cn-hub-utrecht")
    assert world.connection_state(conn, 100).status == "NotConnected"
    assert world.connection_state(conn, 200).status == "Connected"
    assert world.connection_state(conn, 389).status == "NotConnected"
    assert world.connection_state(conn, 390).status == "Connected"


def test_timespan_format() -> None:
    assert format_timespan(3723.5) == "01:02:03.5000000"
    assert format_timespan(90000) == "1.01:00:00.0000000"
