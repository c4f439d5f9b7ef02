"""vnet2vnet_down: one incident for both sides of a VNet-to-VNet link, naming the gateway at fault
when its other connections or sessions say so, and saying it cannot tell otherwise."""

from __future__ import annotations

import json

from factories import DOWN, UP, at, bgp, connection, gateway, key, keys, rid, settings

from vpnwatch.correlate import CorrelationResult, Correlator
from vpnwatch.incidents import Incident, IncidentType, Severity
from vpnwatch.notify.routing import Router
from vpnwatch.notify.settings import NotifySettings
from vpnwatch.observations import (
    BgpPeerState,
    ConnectionStatus,
    DiagnosticLogObserved,
    LogEvent,
    Observation,
)

HUB = gateway("gw-hub", n=1, active_active=True)
SPOKE = gateway("gw-spoke", n=2, region="eastus", vnet="spoke")
PAIR = key(IncidentType.VNET2VNET_DOWN, f"{HUB.resource_id}|{SPOKE.resource_id}")
ROUTER = Router(
    NotifySettings(
        receivers=[
            {"name": "pager", "kind": "pagerduty", "routing_key": "k" * 32},
            {"name": "chat", "kind": "slack", "url": "http://127.0.0.1:9/slack"},
        ]
    )
)


def link(t: float, hub: ConnectionStatus = UP, spoke: ConnectionStatus = UP) -> list[Observation]:
    """Both sides of the link: each gateway's own Vnet2Vnet connection naming the other."""
    return [
        connection(
            "hub-to-spoke",
            HUB,
            t=t,
            status=hub,
            peer=SPOKE.resource_id,
            connection_type="Vnet2Vnet",
        ),
        connection(
            "spoke-to-hub",
            SPOKE,
            t=t,
            status=spoke,
            peer=HUB.resource_id,
            connection_type="Vnet2Vnet",
        ),
    ]


def others(t: float, hub: ConnectionStatus = UP, spoke: ConnectionStatus = UP) -> list[Observation]:
    return [
        connection("hub-amsterdam", HUB, t=t, status=hub),
        connection("spoke-newyork", SPOKE, t=t, status=spoke),
    ]


def fleet(*extra: Observation, **sections: object) -> Correlator:
    corr = Correlator(settings(**sections))
    corr.process([HUB, SPOKE, *link(0), *others(0), *extra], at(0))
    return corr


def pair_of(incidents: list[Incident]) -> Incident:
    (inc,) = [i for i in incidents if i.key == PAIR]
    return inc


def test_a_link_down_on_both_sides_is_one_incident_that_cannot_tell() -> None:
    corr = fleet()
    result = corr.process(link(15, hub=DOWN, spoke=DOWN), at(15))

    assert keys(result.opened) == {PAIR}  # no tunnel_down per side
    inc = result.opened[0]
    assert inc.severity is Severity.WARNING and inc.classification == "cause_unknown"
    assert "cannot tell which gateway" in inc.title
    assert inc.attributes["gateway_at_fault"] == ""
    assert inc.attributes["fault_evidence"] == "neither gateway shows a fault of its own"
    assert set(inc.resources) >= {HUB.resource_id, SPOKE.resource_id}
    assert inc.parent_key is None and ROUTER.receivers_for(inc) == ["chat"]  # told once


def test_one_side_seen_first_is_the_same_incident_when_the_other_follows() -> None:
    corr = fleet(state={"clear_hold_seconds": 0})
    (inc,) = corr.process(link(15, spoke=DOWN), at(15)).opened
    assert inc.key == PAIR and inc.attributes["sides_down"] == "1 of 2"
    result = corr.process(link(30, hub=DOWN, spoke=DOWN), at(30))
    assert result.opened == [] and inc.attributes["sides_down"] == "2 of 2"
    result = corr.process(link(45), at(45))
    assert result.resolved == [inc] and inc.outage_seconds == 30.0


def test_the_gateway_whose_other_connections_dropped_is_named() -> None:
    corr = fleet()
    drop = [*link(15, hub=DOWN, spoke=DOWN), *others(15, spoke=DOWN)]
    result = corr.process(drop, at(15))

    inc = pair_of(result.opened)
    assert inc.classification == "gateway_fault"
    assert inc.attributes["gateway_at_fault"] == "gw-spoke"
    assert "gateway gw-spoke at fault" in inc.title
    assert "1 of 1 other connections of gw-spoke down" in inc.attributes["fault_evidence"]
    # the spoke (active/standby, two connections, all down) failed over: that is the root,
    # the link its child; nothing else pages
    failover = key(IncidentType.FAILOVER, SPOKE.resource_id)
    assert keys(result.opened) == {PAIR, failover}
    assert inc.parent_key == failover and ROUTER.receivers_for(inc) == []


def test_bgp_sessions_dropping_on_one_side_name_it() -> None:
    session = ("10.1.255.4", "192.168.7.1", BgpPeerState.CONNECTED, 5)
    corr = fleet(bgp(HUB, [session]))
    idle = bgp(HUB, [("10.1.255.4", "192.168.7.1", BgpPeerState.IDLE, 0)], t=15)
    result = corr.process([*link(15, hub=DOWN, spoke=DOWN), idle], at(15))

    inc = pair_of(result.opened)
    assert inc.attributes["gateway_at_fault"] == "gw-hub"
    assert "BGP sessions of gw-hub" in inc.attributes["fault_evidence"]


def test_faults_on_both_sides_cannot_tell() -> None:
    corr = fleet()
    drop = [*link(15, hub=DOWN, spoke=DOWN), *others(15, hub=DOWN, spoke=DOWN)]
    inc = pair_of(corr.process(drop, at(15)).opened)
    assert inc.classification == "cause_unknown"
    assert inc.attributes["fault_evidence"].startswith("both gateways")


def test_an_old_fault_elsewhere_does_not_blame_a_gateway() -> None:
    corr = fleet()
    corr.process(others(15, hub=DOWN), at(15))
    inc = pair_of(corr.process(link(600, hub=DOWN, spoke=DOWN), at(600)).opened)
    assert inc.attributes["gateway_at_fault"] == ""


def test_a_gateway_with_nothing_but_the_link_is_not_paged_on_its_own() -> None:
    """Its tunnels are all the link's: every instance reads down when the far side fails, which
    is the link's incident, not a `gateway_down` of its own."""
    lone = gateway("gw-lone", n=3, active_active=True, vnet="lone")
    pair = key(IncidentType.VNET2VNET_DOWN, f"{HUB.resource_id}|{lone.resource_id}")

    def sides(t: float, status: ConnectionStatus) -> list[Observation]:
        return [
            connection(
                "hub-to-lone",
                HUB,
                t=t,
                status=status,
                peer=lone.resource_id,
                connection_type="Vnet2Vnet",
            ),
            connection(
                "lone-to-hub",
                lone,
                t=t,
                status=status,
                peer=HUB.resource_id,
                connection_type="Vnet2Vnet",
            ),
        ]

    corr = fleet(lone, *sides(0, UP))
    result = corr.process(sides(15, DOWN), at(15))
    assert keys(result.opened) == {pair}
    assert key(IncidentType.GATEWAY_DOWN, lone.resource_id) not in keys(result.opened)


def test_a_far_side_outside_the_monitored_subscriptions() -> None:
    corr = Correlator(settings())
    foreign = rid(
        "virtualNetworkGateways", "gw-partner", sub="99999999-0000-4000-8000-000000000000"
    )
    only_here = connection("hub-to-partner", HUB, peer=foreign, connection_type="Vnet2Vnet")
    corr.process([HUB, only_here, connection("hub-amsterdam", HUB)], at(0))
    down = connection(
        "hub-to-partner", HUB, t=15, status=DOWN, peer=foreign, connection_type="Vnet2Vnet"
    )
    (inc,) = corr.process([down], at(15)).opened
    assert inc.type is IncidentType.VNET2VNET_DOWN
    assert "gw-partner not monitored" in inc.attributes["fault_evidence"]


def test_disabled_it_leaves_each_side_to_tunnel_down() -> None:
    corr = fleet(vnet2vnet={"enabled": False})
    result = corr.process(link(15, hub=DOWN, spoke=DOWN), at(15))
    assert {i.type for i in result.opened} == {IncidentType.TUNNEL_DOWN}
    assert len(result.opened) == 2


def test_an_instance_switch_in_the_log_names_a_gateway_the_link_could_not() -> None:
    corr = fleet()
    inc = pair_of(corr.process(link(15, hub=DOWN, spoke=DOWN), at(15)).opened)
    assert inc.classification == "cause_unknown"
    switch = DiagnosticLogObserved(
        observed_at=at(300),
        source="monitor.logs",
        resource_id=SPOKE.resource_id.upper(),  # the log writes ids upper-case
        at=at(40),
        category="GatewayDiagnosticLog",
        operation="GatewayTenantPrimaryChanged",
        event=LogEvent.INSTANCE_SWITCH,
        instance="GatewayTenantWorker_IN_1",
    )
    result = corr.process([switch, *link(300, hub=DOWN, spoke=DOWN)], at(300))
    assert inc in result.updated
    assert inc.classification == "gateway_fault"
    assert inc.attributes["gateway_at_fault"] == "gw-spoke"
    assert "gw-spoke switched instances" in inc.title
    assert any("GatewayTenantPrimaryChanged" in e.message for e in inc.timeline)


def test_the_link_incident_continues_after_a_restart() -> None:
    records: dict[str, str] = {}
    incidents: dict[str, Incident] = {}

    def save(result: CorrelationResult) -> None:
        for inc in (*result.opened, *result.updated, *result.resolved):
            incidents[inc.id] = inc
        records.update({k: json.dumps(v) for k, v in result.entity_records_changed.items()})

    corr = Correlator(settings(state={"clear_hold_seconds": 0}))
    save(corr.process([HUB, SPOKE, *link(0), *others(0)], at(0)))
    save(corr.process(link(15, hub=DOWN, spoke=DOWN), at(15)))
    (before,) = corr.open_incidents()

    corr = Correlator(  # the process restarts; the gateways are not polled again
        settings(state={"clear_hold_seconds": 0}),
        open_incidents=[i for i in incidents.values() if i.is_open],
        entity_records={k: json.loads(v) for k, v in records.items()},
    )
    assert corr.process(link(30, hub=DOWN, spoke=DOWN), at(30)).opened == []
    result = corr.process(link(45), at(45))
    (after,) = result.resolved
    assert after.id == before.id and after.key == PAIR and after.outage_seconds == 30.0
