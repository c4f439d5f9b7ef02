"""redundancy_lost: an active/active gateway on one instance; gateway_down when every one is."""

from __future__ import annotations

from factories import DOWN, UP, at, bgp, connection, gateway, key, keys, rid, settings

from vpnwatch.correlate import CorrelationResult, Correlator, Health
from vpnwatch.incidents import Incident, IncidentType, Severity
from vpnwatch.observations import BgpPeerState, BgpStatusObserved, Observation

AA = gateway("gwaa", active_active=True)
REDUNDANCY = key(IncidentType.REDUNDANCY_LOST, AA.resource_id)
GATEWAY_DOWN = key(IncidentType.GATEWAY_DOWN, AA.resource_id)
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
    assert poll(corr, 15, [UP, DOWN]).opened == []  # not down min_down_seconds yet
    result = poll(corr, 35, [UP, DOWN])
    assert keys(result.opened) == {REDUNDANCY}  # no per-tunnel pages
    (inc,) = result.opened
    assert inc.opened_at == at(15)
    assert inc.severity is Severity.WARNING and inc.classification == "instance_down"
    assert f"{AA.resource_id}/instances/activeActive" in inc.resources
    assert inc.attributes["instances_down"] == "activeActive"
    assert {e.resource for e in inc.timeline} >= {
        f"{rid('connections', n)}/tunnels/{n}_20.0.1.2" for n in CONNS
    }


def test_both_instances_down_is_the_gateway_down_with_lost_redundancy_under_it() -> None:
    """On-call reads the type first: every instance down is an outage of the gateway."""
    corr = fleet()
    poll(corr, 15, [UP, DOWN])
    (inc,) = poll(corr, 35, [UP, DOWN]).opened
    result = poll(corr, 40, [DOWN, DOWN])
    (down,) = result.opened  # tunnel_down explained: one new page, for the gateway
    assert down.key == GATEWAY_DOWN and down.type is IncidentType.GATEWAY_DOWN
    assert down.severity is Severity.CRITICAL and down.classification == "outage"
    assert down.opened_at == at(40) and "every instance down" in down.title
    assert inc.parent_key == GATEWAY_DOWN
    poll(corr, 45, [UP, DOWN])  # one instance back: the gateway serves again
    (back,) = corr.tick(at(110)).resolved
    assert back is down and down.resolved_at == at(45) and down.outage_seconds == 5.0
    assert inc.is_open and inc.severity is Severity.WARNING
    poll(corr, 60, [UP, UP])
    (resolved,) = corr.tick(at(120)).resolved
    assert resolved is inc and inc.resolved_at == at(60) and inc.outage_seconds == 45.0


def test_instance_with_bgp_sessions_down_counts() -> None:
    corr = fleet()
    peers = [
        ("10.1.255.4", "192.168.0.1", BgpPeerState.CONNECTED, 8),
        ("10.1.255.5", "192.168.0.1", BgpPeerState.IDLE, 0),
    ]
    assert corr.process([bgp(AA, peers, t=15)], at(15)).opened == []  # not for 20 s yet
    result = corr.process([bgp(AA, peers, t=35)], at(35))
    assert keys(result.opened) == {REDUNDANCY}  # bgp_peer_down explained by the instance
    assert result.opened[0].opened_at == at(15)


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


# one BGP session per instance: 10.1.255.4 is `default`'s address, 10.1.255.5 `activeActive`'s
CONNECTED, IDLE = BgpPeerState.CONNECTED, BgpPeerState.IDLE
SECOND_PEER = f"{AA.resource_id}/bgpPeers/10.1.255.5/192.168.0.1"
SECOND_INSTANCE = f"{AA.resource_id}/instances/activeActive"


def bgp_poll(corr: Correlator, t: float, second: BgpPeerState) -> CorrelationResult:
    peers = [
        ("10.1.255.4", "192.168.0.1", CONNECTED, 8),
        ("10.1.255.5", "192.168.0.1", second, 8 if second is CONNECTED else 0),
    ]
    return corr.process([bgp(AA, peers, t=t)], at(t))


def test_a_three_second_instance_blip_seen_by_one_poll_opens_nothing() -> None:
    corr = fleet()
    bgp_poll(corr, 0, CONNECTED)
    opened: list[Incident] = []
    opened += poll(corr, 12, [UP, UP]).opened
    opened += poll(corr, 15, [UP, DOWN]).opened  # the only poll that sees the instance down
    opened += bgp_poll(corr, 16, IDLE).opened  # and the BGP poll during the blip
    assert corr.state.health_of(SECOND_INSTANCE, at(16)) is Health.DOWN
    for t in range(18, 60, 3):  # back at 18; BGP is not polled again before 60
        opened += poll(corr, t, [UP, UP]).opened
    opened += bgp_poll(corr, 60, CONNECTED).opened
    opened += corr.tick(at(120)).opened
    assert opened == []  # no redundancy_lost, no tunnel_down, no bgp_peer_down
    assert corr.open_incidents() == []


def test_an_instance_down_min_down_seconds_opens_from_when_it_was_first_seen_down() -> None:
    corr = fleet()
    bgp_poll(corr, 0, CONNECTED)
    steps: list[CorrelationResult] = [poll(corr, 15, [UP, DOWN]), bgp_poll(corr, 16, IDLE)]
    steps += [poll(corr, t, [UP, DOWN]) for t in (20, 25, 30, 34)]  # 19 s: still pending
    assert [i for r in steps for i in r.opened] == []
    result = poll(corr, 35, [UP, DOWN])
    (inc,) = result.opened
    assert inc.key == REDUNDANCY and inc.opened_at == at(15) and inc.outage_seconds == 20.0
    assert inc.severity is Severity.WARNING and inc.classification == "instance_down"
    # its tunnels and BGP session never paged on their own: their evidence is in its timeline
    timeline = {e.resource for e in inc.timeline}
    assert SECOND_PEER in timeline
    assert {f"{rid('connections', n)}/tunnels/{n}_20.0.1.2" for n in CONNS} <= timeline
    bgp_poll(corr, 46, IDLE)
    poll(corr, 50, [UP, DOWN])
    assert keys(corr.open_incidents()) == {REDUNDANCY}


def test_a_pending_instance_loss_opens_on_a_tick_once_due() -> None:
    corr = fleet()
    poll(corr, 15, [UP, DOWN])
    assert corr.tick(at(34)).opened == []
    (inc,) = corr.tick(at(35)).opened
    assert inc.key == REDUNDANCY and inc.opened_at == at(15)


def test_every_instance_down_opens_gateway_down_at_once() -> None:
    corr = fleet()
    (inc,) = poll(corr, 15, [DOWN, DOWN]).opened
    assert inc.key == GATEWAY_DOWN and inc.opened_at == at(15)
    assert inc.severity is Severity.CRITICAL and inc.classification == "outage"


def test_the_second_instance_failing_while_pending_opens_gateway_down_at_once() -> None:
    corr = fleet()
    assert poll(corr, 15, [UP, DOWN]).opened == []
    (inc,) = poll(corr, 20, [DOWN, DOWN]).opened
    assert inc.key == GATEWAY_DOWN and inc.opened_at == at(20)  # down once every instance is
    assert inc.classification == "outage"


def test_min_down_seconds_zero_opens_at_the_first_observation() -> None:
    corr = fleet(redundancy={"min_down_seconds": 0})
    (inc,) = poll(corr, 15, [UP, DOWN]).opened
    assert inc.key == REDUNDANCY and inc.opened_at == at(15)


def test_a_tunnel_blip_does_not_clear_an_instance_whose_bgp_was_already_down() -> None:
    """The BGP-poll rule ignores sessions that went down *with* the tunnels; a session down
    before a later tunnel blip still keeps its instance down between BGP polls."""
    aa = gateway("gwaa", active_active=True)
    up, idle = BgpPeerState.CONNECTED, BgpPeerState.IDLE

    def sessions(t: int, second: BgpPeerState) -> BgpStatusObserved:
        rows = [("10.1.255.4", "192.168.0.1", up, 8), ("10.1.255.5", "192.168.0.1", second, 0)]
        return bgp(aa, rows, t=t)

    corr = Correlator(settings())
    corr.process([aa, connection("a", aa), connection("b", aa), sessions(0, up)], at(0))
    resolved = []
    for t in range(15, 400, 15):
        obs: list[Observation] = [connection("b", aa, t=t)]
        if t in (30, 90, 300):
            obs.append(sessions(t, idle))  # the second instance's session stays down from 30 on
        blip = [UP, DOWN] if t == 105 else [UP, UP]  # one tunnel of that instance blips at 105
        obs.append(connection("a", aa, t=t, tunnels=blip))
        resolved += corr.process(obs, at(t)).resolved
    assert not resolved
    open_types = [i.type for i in corr.open_incidents()]
    assert open_types == [IncidentType.REDUNDANCY_LOST]
