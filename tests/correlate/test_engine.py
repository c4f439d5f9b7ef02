"""Engine rules: one incident per key, explain/parent/suppress, flap damping, what counts as a
change."""

from __future__ import annotations

from dataclasses import replace

from factories import (
    DOWN,
    UP,
    at,
    bgp,
    connection,
    gateway,
    key,
    keys,
    open_by_key,
    rid,
    settings,
    site,
)

from vpnwatch.correlate import Correlator
from vpnwatch.incidents import IncidentStatus, IncidentType, Severity
from vpnwatch.observations import AzureAlertObserved, BgpPeerState

GW = gateway("gw1")
C1, C2, C3 = (rid("connections", n) for n in ("c1", "c2", "c3"))


def fleet(corr: Correlator) -> None:
    corr.process(
        [GW, connection("c1", GW), connection("c2", GW), connection("c3", GW)],
        at(0),
    )


def test_a_repeated_finding_updates_the_one_open_incident_without_duplicate_evidence() -> None:
    corr = Correlator(settings())
    fleet(corr)
    first = corr.process([connection("c1", GW, t=15, status=DOWN)], at(15))
    assert keys(first.opened) == {key(IncidentType.TUNNEL_DOWN, C1)}
    incident = first.opened[0]
    assert incident.opened_at == at(15) and incident.severity is Severity.WARNING
    again = corr.process([connection("c1", GW, t=30, status=DOWN)], at(30))
    assert again.opened == [] and again.updated == []  # nothing new to say
    assert len(corr.open_incidents()) == 1
    assert len(incident.timeline) == 1
    assert incident.outage_seconds == 15.0  # live, in memory


def test_a_cause_suppresses_new_symptoms_and_takes_their_evidence() -> None:
    corr = Correlator(settings())
    fleet(corr)
    result = corr.process(
        [connection(n, GW, t=15, status=DOWN) for n in ("c1", "c2", "c3")], at(15)
    )
    failover = key(IncidentType.FAILOVER, GW.resource_id)
    assert keys(result.opened) == {failover}  # no tunnel_down page per connection
    timeline = {e.resource for e in result.opened[0].timeline}
    assert {C1, C2, C3} <= timeline


def test_an_open_symptom_gets_the_cause_as_parent() -> None:
    corr = Correlator(settings())
    fleet(corr)
    corr.process([connection("c1", GW, t=15, status=DOWN)], at(15))
    tunnel = open_by_key(corr)[key(IncidentType.TUNNEL_DOWN, C1)]
    result = corr.process(
        [connection(n, GW, t=30, status=DOWN) for n in ("c2", "c3")]
        + [connection("c1", GW, t=30, status=DOWN)],
        at(30),
    )
    failover = key(IncidentType.FAILOVER, GW.resource_id)
    assert keys(result.opened) == {failover}
    assert tunnel in result.updated and tunnel.parent_key == failover
    assert tunnel.status is IncidentStatus.OPEN


def test_flap_damping_holds_the_resolution_and_counts_flaps() -> None:
    corr = Correlator(settings(state={"clear_hold_seconds": 60}))
    fleet(corr)
    corr.process([connection("c1", GW, t=15, status=DOWN)], at(15))
    inc = open_by_key(corr)[key(IncidentType.TUNNEL_DOWN, C1)]
    # back at 30: held, not resolved
    result = corr.process([connection("c1", GW, t=30, status=UP)], at(30))
    assert result.resolved == [] and inc in result.updated
    assert inc.clearing_since == at(30) and inc.outage_seconds == 15.0
    # down again at 45 (within the hold): the same incident goes on
    result = corr.process([connection("c1", GW, t=45, status=DOWN)], at(45))
    assert result.opened == [] and inc.flaps == 1 and inc.clearing_since is None
    assert inc.classification is None
    corr.process([connection("c1", GW, t=60, status=UP)], at(60))
    corr.process([connection("c1", GW, t=75, status=DOWN)], at(75))
    assert inc.flaps == 2 and inc.classification == "flapping"
    corr.process([connection("c1", GW, t=90, status=UP)], at(90))
    # clear for 59 s: still open; at 60 s it resolves, back-dated to the restore
    result = corr.process([connection("c1", GW, t=149, status=UP)], at(149))
    assert result.resolved == []
    result = corr.process([connection("c1", GW, t=150, status=UP)], at(150))
    assert result.resolved == [inc]
    assert inc.status is IncidentStatus.RESOLVED and inc.resolved_at == at(90)
    assert inc.outage_seconds == 15.0 + 15.0 + 15.0  # total time down across the flaps
    assert inc.opened_at == at(15) and inc.classification == "flapping"
    assert corr.open_incidents() == []


def test_after_resolution_the_same_condition_opens_a_new_incident() -> None:
    corr = Correlator(settings(state={"clear_hold_seconds": 0}))
    fleet(corr)
    first = corr.process([connection("c1", GW, t=15, status=DOWN)], at(15)).opened[0]
    resolved = corr.process([connection("c1", GW, t=30, status=UP)], at(30)).resolved
    assert resolved == [first] and first.resolved_at == at(30)
    second = corr.process([connection("c1", GW, t=45, status=DOWN)], at(45)).opened[0]
    assert second.key == first.key and second.id != first.id


def test_stale_data_neither_resolves_nor_updates() -> None:
    corr = Correlator(settings(state={"staleness_seconds": 60}))
    fleet(corr)
    corr.process([connection("c1", GW, t=15, status=DOWN)], at(15))
    result = corr.tick(at(600))
    assert result.resolved == [] and result.updated == []
    assert keys(corr.open_incidents()) == {key(IncidentType.TUNNEL_DOWN, C1)}


def test_zone_outage_adopts_explained_incidents_as_children() -> None:
    # one connection per gateway: each gateway's drop is to be read as its failover
    corr = Correlator(settings(failover={"min_connections": 1}))
    gws = [gateway(f"z{n}", zone="1", n=n) for n in (1, 2)] + [gateway("z3", zone="2", n=3)]
    corr.process([*gws, *(connection(f"c{g.name}", g) for g in gws)], at(0))
    result = corr.process([connection(f"c{g.name}", g, t=15, status=DOWN) for g in gws[:2]], at(15))
    zone = key(IncidentType.ZONE_OUTAGE, "westeurope/1")
    opened = {i.key: i for i in result.opened}
    failovers = {key(IncidentType.FAILOVER, g.resource_id) for g in gws[:2]}
    assert set(opened) == {zone} | failovers
    assert all(opened[k].parent_key == zone for k in failovers)
    assert opened[zone].parent_key is None


def test_azure_monitor_alert_about_an_incident_resource_joins_its_timeline() -> None:
    corr = Correlator(settings())
    fleet(corr)
    inc = corr.process([connection("c1", GW, t=15, status=DOWN)], at(15)).opened[0]
    alert = AzureAlertObserved(
        observed_at=at(20),
        source="webhook",
        alert_id="a1",
        rule="TunnelDown",
        severity="Sev1",
        signal_type="Metric",
        monitoring_service="Platform",
        monitor_condition="Fired",
        target_ids=(C1.upper(),),
        fired_at=at(18),
        description="tunnel ingress 0",
    )
    result = corr.process([alert], at(20))
    assert inc in result.updated
    assert inc.timeline[-1].at == at(18) and "TunnelDown" in inc.timeline[-1].message


def test_site_down_suppresses_tunnel_down_of_its_connections() -> None:
    corr = Correlator(settings())
    s = site("branch")
    a, b = gateway("gwa", n=1), gateway("gwb", n=2)
    corr.process(
        [
            a,
            b,
            s,
            connection("a-branch", a, peer=s.resource_id),
            connection("b-branch", b, peer=s.resource_id),
            connection("a-other", a),
            connection("b-other", b),
        ],
        at(0),
    )
    result = corr.process(
        [
            connection("a-branch", a, t=15, status=DOWN, peer=s.resource_id),
            connection("b-branch", b, t=15, status=DOWN, peer=s.resource_id),
        ],
        at(15),
    )
    assert keys(result.opened) == {key(IncidentType.SITE_DOWN, s.resource_id)}


def test_an_incident_in_its_hold_still_explains_lagging_symptoms() -> None:
    corr = Correlator(settings(state={"clear_hold_seconds": 60}))
    s = site("branch", bgp_address="192.168.0.1")
    conns = [connection(n, GW, peer=s.resource_id if n == "c1" else None) for n in ("c1", "c2")]
    peer = [("10.1.255.4", "192.168.0.1", BgpPeerState.CONNECTED, 10)]
    corr.process([GW, s, *conns, bgp(GW, peer)], at(0))
    down = [replace(c, observed_at=at(15), status=DOWN, tunnels=()) for c in conns]
    (failover,) = corr.process(down, at(15)).opened
    # tunnels are back at 30, but BGP, polled at 40, has not re-established yet
    corr.process([replace(c, observed_at=at(30)) for c in conns], at(30))
    idle = [("10.1.255.4", "192.168.0.1", BgpPeerState.IDLE, 0)]
    result = corr.process([bgp(GW, idle, t=40)], at(40))
    assert result.opened == []
    assert any("BGP" in e.message for e in failover.timeline)
    corr.process([bgp(GW, peer, t=70)], at(70))
    result = corr.tick(at(90))
    assert result.resolved == [failover] and corr.open_incidents() == []
