"""tunnel_down: per connection, and per tunnel of an active/active gateway."""

from __future__ import annotations

from factories import (
    CONNECTING,
    DOWN,
    UP,
    at,
    connection,
    gateway,
    key,
    keys,
    open_by_key,
    rid,
    run,
    settings,
    unknown,
)

from vpnwatch.correlate import CorrelationResult, Correlator
from vpnwatch.incidents import IncidentType, Severity

GW = gateway("gw1")
AA = gateway("gwaa", active_active=True, n=2)
C1 = rid("connections", "c1")
TUNNEL_DOWN = IncidentType.TUNNEL_DOWN


def start(corr: Correlator) -> None:
    conns = [connection("c1", GW), connection("c2", GW), connection("a1", AA), connection("a2", AA)]
    corr.process([GW, AA, *conns], at(0))


def test_opens_per_connection_with_measured_start_and_evidence() -> None:
    corr = Correlator(settings())
    start(corr)
    result = corr.process([connection("c1", GW, t=15, status=CONNECTING)], at(15))
    (inc,) = result.opened
    assert inc.key == key(TUNNEL_DOWN, C1)
    assert inc.severity is Severity.WARNING and inc.opened_at == at(15)
    assert inc.resources[:2] == (C1, GW.resource_id)
    assert inc.attributes["gateway"] == "gw1"
    assert inc.timeline[0].resource == C1 and "Connecting" in inc.timeline[0].message
    assert "c1" in inc.title


def test_resolves_with_outage_from_first_down_to_first_up_observation() -> None:
    corr = Correlator(settings(state={"clear_hold_seconds": 30}))
    start(corr)
    corr.process([connection("c1", GW, t=15, status=DOWN)], at(15))
    corr.process([connection("c1", GW, t=30, status=DOWN)], at(30))
    corr.process([connection("c1", GW, t=45, status=UP)], at(45))
    (inc,) = corr.tick(at(75)).resolved
    assert inc.resolved_at == at(45) and inc.outage_seconds == 30.0


def test_classified_flapping_while_the_connection_flaps() -> None:
    corr = Correlator(
        settings(state={"flap_transitions": 3, "flap_window_seconds": 600, "clear_hold_seconds": 0})
    )
    start(corr)
    for n, status in enumerate([DOWN, UP, DOWN], start=1):
        result = corr.process([connection("c1", GW, t=15 * n, status=status)], at(15 * n))
    (inc,) = result.opened
    assert inc.classification == "flapping"


def test_one_tunnel_of_an_active_active_connection_is_its_own_incident() -> None:
    corr = Correlator(settings())
    start(corr)
    result = corr.process([connection("a1", AA, t=15, tunnels=[UP, DOWN])], at(15))
    tunnel = f"{rid('connections', 'a1')}/tunnels/a1_20.0.2.2"
    (inc,) = result.opened  # the instance still has the other connection's tunnel up
    assert inc.key == key(TUNNEL_DOWN, tunnel)
    assert inc.attributes["instance"] == "activeActive"
    assert "still up on the other instance" in inc.title
    result = corr.process([connection("a1", AA, t=30)], at(30))
    assert inc.clearing_since == at(30)


def test_a_whole_instance_down_is_redundancy_not_a_tunnel_page() -> None:
    corr = Correlator(settings())
    start(corr)

    def instance_down(t: float) -> CorrelationResult:
        conns = [connection(n, AA, t=t, tunnels=[UP, DOWN]) for n in ("a1", "a2")]
        return corr.process(conns, at(t))

    assert instance_down(15).opened == []  # redundancy pending: its tunnels do not page either
    result = instance_down(35)  # down min_down_seconds
    assert keys(result.opened) == {key(IncidentType.REDUNDANCY_LOST, AA.resource_id)}


def test_active_standby_tunnel_needs_no_second_incident() -> None:
    corr = Correlator(settings())
    start(corr)
    result = corr.process([connection("c1", GW, t=15, status=DOWN)], at(15))
    assert keys(result.opened) == {key(TUNNEL_DOWN, C1)}


def test_no_incident_for_unknown_stale_or_failed_collection() -> None:
    corr = Correlator(settings(state={"staleness_seconds": 60}))
    start(corr)
    result = corr.process(
        [unknown(C1, t=15), run("arm.connections", t=15, ok=False)],
        at(15),
    )
    assert result.opened == []
    assert corr.tick(at(3600)).opened == []


def test_expressroute_connections_are_not_tunnels() -> None:
    corr = Correlator(settings())
    er = gateway("ergw", gateway_type="ExpressRoute", n=3)
    circuit_id = rid("expressRouteCircuits", "er1")
    conn = connection("er-conn", er, status=DOWN, peer=circuit_id, connection_type="ExpressRoute")
    assert corr.process([er, conn], at(0)).opened == []


def test_deleted_connection_closes_its_incident() -> None:
    corr = Correlator(settings(state={"clear_hold_seconds": 0}))
    start(corr)
    corr.process([connection("c1", GW, t=15, status=DOWN)], at(15))
    inc = open_by_key(corr)[key(TUNNEL_DOWN, C1)]
    listed = [rid("connections", n) for n in ("c2", "a1", "a2")]
    result = corr.process([run("arm.connections", t=30, resource_ids=listed)], at(30))
    assert result.resolved == [inc] and inc.classification == "deleted"
