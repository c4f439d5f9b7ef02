"""bgp_peer_down and route_withdrawal."""

from __future__ import annotations

from factories import DOWN, UP, at, bgp, connection, gateway, key, keys, settings, site

from vpnwatch.correlate import Correlator
from vpnwatch.incidents import Incident, IncidentType, Severity
from vpnwatch.observations import BgpPeerState, ConnectionStatus

GW = gateway("gw1")
SITE_A = site("site-a", bgp_address="192.168.0.1")
SITE_B = site("site-b", bgp_address="192.168.0.2")
LOCAL = "10.1.255.4"
PEER_A = f"{GW.resource_id}/bgpPeers/{LOCAL}/192.168.0.1"
PEER_B = f"{GW.resource_id}/bgpPeers/{LOCAL}/192.168.0.2"
CONNECTED, IDLE = BgpPeerState.CONNECTED, BgpPeerState.IDLE


def fleet(**sections: object) -> Correlator:
    corr = Correlator(settings(**sections))  # type: ignore[arg-type]
    corr.process(
        [
            GW,
            SITE_A,
            SITE_B,
            connection("ca", GW, peer=SITE_A.resource_id),
            connection("cb", GW, peer=SITE_B.resource_id),
            bgp(GW, [(LOCAL, "192.168.0.1", CONNECTED, 10), (LOCAL, "192.168.0.2", CONNECTED, 3)]),
        ],
        at(0),
    )
    return corr


def peers(t: float, a: tuple[BgpPeerState, int], b: tuple[BgpPeerState, int] = (CONNECTED, 3)):  # type: ignore[no-untyped-def]
    return bgp(GW, [(LOCAL, "192.168.0.1", *a), (LOCAL, "192.168.0.2", *b)], t=t)


def test_peer_down_opens_warning_and_resolves() -> None:
    corr = fleet(state={"clear_hold_seconds": 0})
    (inc,) = corr.process([peers(30, (IDLE, 0))], at(30)).opened
    assert inc.key == key(IncidentType.BGP_PEER_DOWN, PEER_A)
    assert inc.severity is Severity.WARNING and inc.opened_at == at(30)
    assert inc.attributes["neighbor"] == "192.168.0.1"
    (resolved,) = corr.process([peers(60, (CONNECTED, 10))], at(60)).resolved
    assert resolved is inc and inc.outage_seconds == 30.0


def test_every_peer_of_the_gateway_down_is_critical() -> None:
    corr = fleet()
    result = corr.process([peers(30, (IDLE, 0), (BgpPeerState.UNKNOWN, 0))], at(30))
    assert keys(result.opened) == {
        key(IncidentType.BGP_PEER_DOWN, PEER_A),
        key(IncidentType.BGP_PEER_DOWN, PEER_B),
    }
    assert {i.severity for i in result.opened} == {Severity.CRITICAL}


def test_peer_behind_a_down_connection_is_explained_by_it() -> None:
    corr = fleet()
    result = corr.process(
        [connection("ca", GW, t=30, status=DOWN, peer=SITE_A.resource_id), peers(30, (IDLE, 0))],
        at(30),
    )
    (inc,) = result.opened
    assert inc.type is IncidentType.TUNNEL_DOWN
    assert PEER_A in {e.resource for e in inc.timeline}


def test_route_withdrawal_against_the_baseline_and_back() -> None:
    corr = fleet(
        bgp={"route_withdrawal_share": 0.5, "route_withdrawal_min_routes": 4},
        state={"clear_hold_seconds": 0},
    )
    corr.process([peers(30, (CONNECTED, 12))], at(30))
    result = corr.process([peers(60, (CONNECTED, 5))], at(60))
    (inc,) = result.opened
    assert inc.key == key(IncidentType.ROUTE_WITHDRAWAL, PEER_A)
    assert inc.attributes["baseline_routes"] == "12" and inc.opened_at == at(60)
    # the baseline stays the one measured before the drop, however long it lasts
    for t in range(90, 400, 30):
        assert corr.process([peers(t, (CONNECTED, 5))], at(t)).resolved == []
    result = corr.process([peers(400, (CONNECTED, 6))], at(400))  # 6 is not below 12 * 0.5
    assert result.resolved == [inc] and inc.outage_seconds == 340.0


def test_small_peers_and_reset_sessions_are_not_withdrawals() -> None:
    corr = fleet()
    corr.process([peers(30, (CONNECTED, 10), (CONNECTED, 0))], at(30))  # B: 3 -> 0, below min
    corr.process([peers(60, (IDLE, 0))], at(60))
    result = corr.process([peers(90, (CONNECTED, 2))], at(90))  # relearning after a reset
    assert IncidentType.ROUTE_WITHDRAWAL not in {i.type for i in corr.open_incidents()}
    assert IncidentType.ROUTE_WITHDRAWAL not in {i.type for i in result.opened}


def test_peer_escalates_when_the_last_other_peer_goes_down() -> None:
    corr = fleet()
    (inc,) = corr.process([peers(30, (IDLE, 0))], at(30)).opened
    assert inc.severity is Severity.WARNING
    result = corr.process([peers(60, (IDLE, 0), (IDLE, 0))], at(60))
    assert inc in result.updated
    assert inc.severity is Severity.CRITICAL and inc.classification == "all_peers_down"
    assert inc.opened_at == at(30)


def test_a_session_seen_down_before_its_tunnels_came_back_waits_for_the_next_bgp_poll() -> None:
    corr = fleet(state={"clear_hold_seconds": 0})

    def tunnels(t: float, status: ConnectionStatus = UP) -> list[Incident]:
        conns = [
            connection(n, GW, t=t, status=status, peer=s.resource_id)
            for n, s in (("ca", SITE_A), ("cb", SITE_B))
        ]
        return corr.process(conns, at(t)).opened

    (failover,) = tunnels(15, DOWN)
    assert failover.type is IncidentType.FAILOVER
    assert corr.process([peers(20, (IDLE, 0))], at(20)).opened == []  # explained by the failover
    opened = tunnels(25)  # back; the failover resolves at once
    assert not failover.is_open
    for t in (30, 40, 50):  # session A last seen down at 20, before its tunnels came back
        opened += tunnels(t)
    assert opened == [] and corr.open_incidents() == []
    result = corr.process([peers(60, (IDLE, 0))], at(60))  # still down, tunnels up: a page
    (inc,) = result.opened
    assert inc.key == key(IncidentType.BGP_PEER_DOWN, PEER_A)
    assert inc.severity is Severity.WARNING and inc.opened_at == at(20)
