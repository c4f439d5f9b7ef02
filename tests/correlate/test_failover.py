"""failover: active/standby gateways, measured and classified planned/unplanned/slo_breach."""

from __future__ import annotations

from factories import DOWN, UP, at, connection, gateway, key, keys, rid, settings

from vpnwatch.config import MaintenanceWindow
from vpnwatch.correlate import Correlator
from vpnwatch.incidents import IncidentStatus, IncidentType, Severity

GW = gateway("gw1")
CONNS = ("c1", "c2", "c3")
FAILOVER = key(IncidentType.FAILOVER, GW.resource_id)


def fleet(**sections: object) -> Correlator:
    corr = Correlator(settings(**sections))  # type: ignore[arg-type]
    corr.process([GW, *(connection(n, GW) for n in CONNS)], at(0))
    return corr


def poll(corr: Correlator, t: float, status=UP, established=None):  # type: ignore[no-untyped-def]
    conns = [
        connection(n, GW, t=t, status=status, established=[established] if established else None)
        for n in CONNS
    ]
    return corr.process(conns, at(t))


def test_short_failover_is_planned_using_azure_reconnect_time() -> None:
    corr = fleet()
    (inc,) = poll(corr, 15, DOWN).opened
    assert inc.key == FAILOVER and inc.severity is Severity.INFO
    assert inc.classification == "in_progress" and inc.opened_at == at(15)
    assert set(inc.resources) == {GW.resource_id, *(rid("connections", n) for n in CONNS)}
    result = poll(corr, 30, UP, established=at(22))
    assert inc in result.updated and inc.clearing_since == at(22)
    (resolved,) = corr.tick(at(82)).resolved
    assert resolved is inc and inc.status is IncidentStatus.RESOLVED
    assert inc.resolved_at == at(22) and inc.outage_seconds == 7.0
    assert inc.classification == "planned" and inc.severity is Severity.INFO


def test_failover_within_slo_is_unplanned_warning() -> None:
    corr = fleet()
    poll(corr, 15, DOWN)
    poll(corr, 45, DOWN)
    poll(corr, 75, UP, established=at(20))  # an established time before we last saw it down
    (inc,) = corr.tick(at(135)).resolved
    assert inc.resolved_at == at(75) and inc.outage_seconds == 60.0
    assert inc.classification == "unplanned" and inc.severity is Severity.WARNING


def test_slo_breach_escalates_while_still_down_and_stays_critical() -> None:
    corr = fleet(failover={"slo_seconds": 90})
    (inc,) = poll(corr, 15, DOWN).opened
    poll(corr, 90, DOWN)
    assert inc.severity is Severity.INFO  # 75 s down: within the SLO
    result = poll(corr, 106, DOWN)
    assert inc in result.updated
    assert inc.severity is Severity.CRITICAL and inc.classification == "slo_breach"
    assert any("SLO" in e.message for e in inc.timeline)
    poll(corr, 150, UP)
    (resolved,) = corr.tick(at(210)).resolved
    assert resolved.outage_seconds == 135.0
    assert resolved.classification == "slo_breach" and resolved.severity is Severity.CRITICAL


def test_failover_starting_in_a_maintenance_window_is_planned() -> None:
    window = MaintenanceWindow(
        name="patching", start=at(10), end=at(600), resources=[GW.resource_id.upper()]
    )
    corr = fleet(maintenance_windows=[window.model_dump()])
    (inc,) = poll(corr, 15, DOWN).opened
    assert inc.classification == "planned" and inc.attributes["maintenance_window"] == "patching"
    poll(corr, 75, UP)
    (resolved,) = corr.tick(at(135)).resolved
    assert resolved.classification == "planned" and resolved.outage_seconds == 60.0


def test_window_for_another_gateway_does_not_apply() -> None:
    window = MaintenanceWindow(start=at(10), end=at(600), resources=["/subscriptions/other"])
    corr = fleet(maintenance_windows=[window.model_dump()])
    poll(corr, 15, DOWN)
    poll(corr, 75, UP)
    (resolved,) = corr.tick(at(135)).resolved
    assert resolved.classification == "unplanned"


def test_reconnect_missed_by_polling_still_counts() -> None:
    corr = fleet()
    poll(corr, 15, UP)
    result = poll(corr, 30, UP, established=at(24))
    (inc,) = result.opened
    assert inc.key == FAILOVER and inc.opened_at == at(15)
    assert inc.clearing_since == at(24) and inc.outage_seconds == 9.0
    assert inc.classification == "planned"
    assert any("between polls" in e.message for e in inc.timeline)
    poll(corr, 45, UP, established=at(24))  # the same reconnect time: nothing new
    assert len(corr.open_incidents()) == 1
    (resolved,) = corr.tick(at(84)).resolved
    assert resolved.resolved_at == at(24) and resolved.outage_seconds == 9.0


def test_missed_reconnect_longer_than_planned_is_unplanned() -> None:
    corr = fleet()
    poll(corr, 15, UP)
    (inc,) = poll(corr, 30, UP, established=at(28)).opened
    assert inc.classification == "unplanned" and inc.outage_seconds == 13.0


def test_reconnect_after_a_gap_in_polling_is_not_measured() -> None:
    corr = fleet(state={"staleness_seconds": 90})
    result = poll(corr, 200, UP, established=at(150))
    assert FAILOVER not in keys(result.opened)
    # each connection's drop is recorded as over, unmeasured (gap.py), and nothing stays open
    assert {i.classification for i in result.opened} == {"unobserved"}
    assert {i.outage_seconds for i in result.opened} == {None}
    assert result.resolved == result.opened and corr.open_incidents() == []


def test_connections_dropping_far_apart_are_not_a_failover() -> None:
    corr = fleet(state={"staleness_seconds": 90})
    corr.process([connection("c1", GW, t=15, status=DOWN)], at(15))
    for t in (60, 120):
        corr.process(
            [connection("c1", GW, t=t, status=DOWN), connection("c2", GW, t=t, status=DOWN)],
            at(t),
        )
    result = corr.process([connection(n, GW, t=150, status=DOWN) for n in CONNS], at(150))
    assert FAILOVER not in keys(corr.open_incidents())
    assert {i.type for i in result.opened} <= {IncidentType.TUNNEL_DOWN}
    assert len(corr.open_incidents()) == 3


def test_connections_already_down_when_first_seen_are_not_a_failover() -> None:
    corr = Correlator(settings())
    result = corr.process([GW, *(connection(n, GW, status=DOWN) for n in CONNS)], at(0))
    assert FAILOVER not in keys(result.opened)


def test_active_active_gateways_do_not_fail_over() -> None:
    aa = gateway("gwaa", active_active=True, n=2)
    corr = Correlator(settings())
    corr.process([aa, connection("a", aa)], at(0))
    result = corr.process([connection("a", aa, t=15, status=DOWN)], at(15))
    assert IncidentType.FAILOVER not in {i.type for i in result.opened}


def test_fewer_connections_than_min_connections_is_not_a_failover() -> None:
    corr = fleet(failover={"min_connections": 4})
    result = poll(corr, 15, DOWN)
    assert {i.type for i in result.opened} == {IncidentType.TUNNEL_DOWN}


SOLO = gateway("solo", n=5)
SOLO_CONN = rid("connections", "s1")


def solo(**sections: object) -> Correlator:
    corr = Correlator(settings(**sections))  # type: ignore[arg-type]
    corr.process([SOLO, connection("s1", SOLO)], at(0))
    return corr


def test_a_single_connection_gateway_drop_is_a_timed_tunnel_down_not_a_failover() -> None:
    corr = solo()
    result = corr.process([connection("s1", SOLO, t=15, status=DOWN)], at(15))
    assert keys(result.opened) == {key(IncidentType.TUNNEL_DOWN, SOLO_CONN)}
    corr.process([connection("s1", SOLO, t=45)], at(45))
    (resolved,) = corr.tick(at(105)).resolved
    assert resolved.type is IncidentType.TUNNEL_DOWN
    assert resolved.resolved_at == at(45) and resolved.outage_seconds == 30.0
    assert IncidentType.FAILOVER not in {i.type for i in corr.open_incidents()}


def test_a_single_connection_gateway_fails_over_when_min_connections_is_1() -> None:
    corr = solo(failover={"min_connections": 1})
    (inc,) = corr.process([connection("s1", SOLO, t=15, status=DOWN)], at(15)).opened
    assert inc.key == key(IncidentType.FAILOVER, SOLO.resource_id)


def test_a_single_connection_reconnecting_between_polls_is_no_failover() -> None:
    for min_connections, expected in ((2, set()), (1, {IncidentType.FAILOVER})):
        corr = solo(failover={"min_connections": min_connections})
        corr.process([connection("s1", SOLO, t=15)], at(15))
        result = corr.process([connection("s1", SOLO, t=30, established=[at(24)])], at(30))
        assert {i.type for i in result.opened} == expected


def test_two_connections_dropping_together_fail_over_by_default() -> None:
    pair = gateway("pair", n=6)
    corr = Correlator(settings())
    corr.process([pair, connection("p1", pair), connection("p2", pair)], at(0))
    result = corr.process([connection(n, pair, t=15, status=DOWN) for n in ("p1", "p2")], at(15))
    assert keys(result.opened) == {key(IncidentType.FAILOVER, pair.resource_id)}
