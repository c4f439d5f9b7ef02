"""ExpressRoute: circuit down, link redundancy, failover to the VPN backup, hybrid loss."""

from __future__ import annotations

from factories import DOWN, UP, at, circuit, connection, gateway, key, keys, rid, settings, vnet_id

from vpnwatch.correlate import Correlator
from vpnwatch.incidents import IncidentType, Severity

ER_GW = gateway("ergw", gateway_type="ExpressRoute", vnet="hub", n=1)
VPN_GW = gateway("vpngw", vnet="hub", n=2)
LONE_ER_GW = gateway("ergw-spoke", gateway_type="ExpressRoute", vnet="spoke", n=3)
ER1, ER2 = rid("expressRouteCircuits", "er1"), rid("expressRouteCircuits", "er2")
HUB = vnet_id("hub")


def er_connection(name: str, gw, circuit_id: str):  # type: ignore[no-untyped-def]
    return connection(name, gw, peer=circuit_id, connection_type="ExpressRoute")


def fleet(**sections: object) -> Correlator:
    corr = Correlator(settings(**sections))  # type: ignore[arg-type]
    corr.process(
        [
            ER_GW,
            VPN_GW,
            LONE_ER_GW,
            er_connection("hub-er1", ER_GW, ER1),
            er_connection("spoke-er2", LONE_ER_GW, ER2),
            connection("v1", VPN_GW),
            connection("v2", VPN_GW),
            circuit("er1"),
            circuit("er2"),
        ],
        at(0),
    )
    return corr


def test_circuit_down_without_vpn_backup_is_the_page() -> None:
    corr = fleet(state={"clear_hold_seconds": 0})
    result = corr.process([circuit("er2", t=30, provider_state="NotProvisioned")], at(30))
    (inc,) = result.opened
    assert inc.key == key(IncidentType.EXPRESSROUTE_DOWN, ER2)
    assert inc.severity is Severity.CRITICAL and "NotProvisioned" in inc.title
    (resolved,) = corr.process([circuit("er2", t=90)], at(90)).resolved
    assert resolved is inc and inc.outage_seconds == 60.0


def test_one_link_down_is_lost_redundancy() -> None:
    corr = fleet(state={"clear_hold_seconds": 0})
    (inc,) = corr.process([circuit("er2", t=30, secondary=False)], at(30)).opened
    assert inc.key == key(IncidentType.EXPRESSROUTE_REDUNDANCY_LOST, ER2)
    assert inc.severity is Severity.WARNING and inc.attributes["links_down"] == "secondary"
    (resolved,) = corr.process([circuit("er2", t=60)], at(60)).resolved
    assert resolved is inc and inc.outage_seconds == 30.0


def test_both_links_down_is_the_circuit_down_not_redundancy() -> None:
    corr = fleet()
    result = corr.process([circuit("er2", t=30, primary=False, secondary=False)], at(30))
    assert keys(result.opened) == {key(IncidentType.EXPRESSROUTE_DOWN, ER2)}
    result = corr.process([circuit("er2", t=60, peering_state="Disabled")], at(60))
    assert keys(corr.open_incidents()) == {key(IncidentType.EXPRESSROUTE_DOWN, ER2)}


def test_circuit_down_with_vpn_up_is_running_on_backup() -> None:
    corr = fleet(state={"clear_hold_seconds": 0})
    result = corr.process([circuit("er1", t=30, circuit_state="Disabled")], at(30))
    (inc,) = result.opened
    assert inc.key == key(IncidentType.EXPRESSROUTE_FAILOVER_TO_VPN, HUB)
    assert inc.severity is Severity.WARNING and "VPN backup" in inc.title
    assert ER1 in inc.resources and VPN_GW.resource_id in inc.resources
    assert ER1 in {e.resource for e in inc.timeline}  # the suppressed expressroute_down
    (resolved,) = corr.process([circuit("er1", t=90)], at(90)).resolved
    assert resolved is inc and inc.outage_seconds == 60.0


def test_circuit_and_vpn_down_is_hybrid_connectivity_lost() -> None:
    corr = fleet(state={"clear_hold_seconds": 0})
    (on_vpn,) = corr.process([circuit("er1", t=30, primary=False, secondary=False)], at(30)).opened
    result = corr.process([connection(n, VPN_GW, t=45, status=DOWN) for n in ("v1", "v2")], at(45))
    (lost,) = result.opened  # not a failover page, not tunnel_down pages
    assert lost.key == key(IncidentType.HYBRID_CONNECTIVITY_LOST, HUB)
    assert lost.severity is Severity.CRITICAL and lost.opened_at == at(45)
    assert on_vpn.parent_key == lost.key
    result = corr.process([connection(n, VPN_GW, t=60, status=UP) for n in ("v1", "v2")], at(60))
    assert result.resolved == [lost] and lost.outage_seconds == 15.0
    assert on_vpn.is_open


def test_healthy_circuits_raise_nothing() -> None:
    corr = fleet()
    assert corr.process([circuit("er1", t=30), circuit("er2", t=30)], at(30)).opened == []
