"""redundancy_lost: an active/active gateway on one instance, escalating when both are down."""

from __future__ import annotations

from factories import DOWN, UP, at, bgp, connection, gateway, key, keys, rid, settings

from vpnwatch.correlate import Correlator
from vpnwatch.incidents import IncidentType, Severity
from vpnwatch.observations import BgpPeerState

AA = gateway("gwaa", active_active=True)
REDUNDANCY = key(IncidentType.REDUNDANCY_LOST, AA.resource_id)
CONNS = ("a", "b")


def fleet(**sections: object) -> Correlator:
    corr = Correlator(settings(**sections))  # type: ignore[arg-type]
    corr.process([AA, *(connection(n, AA) for n in CONNS)], at(0))
    return corr


def poll(corr: Correlator, t: float, tunnels):  # type: ignore[no-untyped-def]
    status = DOWN if all(s is DOWN for s in tunnels) else UP
    return corr.process(
        [connection(n, AA, t=t, status=status, tunnels=tunnels) for n in CONNS], at(t)
    )


def test_one_instance_down_is_a_warning_explaining_its_tunnels() -> None:
    corr = fleet()
    result = poll(corr, 15, [UP, DOWN])
    assert keys(result.opened) == {REDUNDANCY}  # no per-tunnel pages
    (inc,) = result.opened
    assert inc.severity is Severity.WARNING and inc.classification == "instance_down"
    assert f"{AA.resource_id}/instances/activeActive" in inc.resources
    assert inc.attributes["instances_down"] == "activeActive"
    assert {e.resource for e in inc.timeline} >= {
        f"{rid('connections', n)}/tunnels/{n}_20.0.1.2" for n in CONNS
    }


def test_both_instances_down_escalates_the_same_incident() -> None:
    corr = fleet()
    (inc,) = poll(corr, 15, [UP, DOWN]).opened
    result = poll(corr, 30, [DOWN, DOWN])
    assert result.opened == [] and inc in result.updated  # tunnel_down explained, no new page
    assert inc.severity is Severity.CRITICAL and inc.classification == "outage"
    poll(corr, 45, [UP, DOWN])  # one instance back: the outage stays on record
    assert inc.severity is Severity.CRITICAL and inc.classification == "outage"
    poll(corr, 60, [UP, UP])
    (resolved,) = corr.tick(at(120)).resolved
    assert resolved is inc and inc.resolved_at == at(60) and inc.outage_seconds == 45.0


def test_instance_with_bgp_sessions_down_counts() -> None:
    corr = fleet()
    peers = [
        ("10.1.255.4", "192.168.0.1", BgpPeerState.CONNECTED, 8),
        ("10.1.255.5", "192.168.0.1", BgpPeerState.IDLE, 0),
    ]
    result = corr.process([bgp(AA, peers, t=15)], at(15))
    assert keys(result.opened) == {REDUNDANCY}  # bgp_peer_down explained by the instance


def test_a_single_tunnel_down_is_not_lost_redundancy() -> None:
    corr = fleet()
    result = corr.process([connection("a", AA, t=15, tunnels=[UP, DOWN])], at(15))
    assert REDUNDANCY not in keys(result.opened)


def test_active_standby_gateway_is_not_judged() -> None:
    gw = gateway("gw1", n=4)
    corr = Correlator(settings())
    corr.process([gw, connection("s", gw)], at(0))
    result = corr.process([connection("s", gw, t=15, status=DOWN)], at(15))
    assert IncidentType.REDUNDANCY_LOST not in {i.type for i in result.opened}
