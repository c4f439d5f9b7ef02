"""Fleet state: health per entity, staleness, unknown, deletion, instances, flapping, records."""

from __future__ import annotations

from dataclasses import replace

from factories import (
    CONNECTING,
    DOWN,
    SCOPE,
    UP,
    at,
    bgp,
    circuit,
    connection,
    gateway,
    rid,
    run,
    settings,
    site,
    unknown,
)

from vpnwatch.correlate import Correlator, EntityKind, Health
from vpnwatch.correlate.state import FleetState
from vpnwatch.observations import (
    BgpPeerState,
    BgpStatusObserved,
    ConnectionStatus,
    FailureCause,
)

GW = gateway("gw1")


def test_connection_and_tunnel_health_follow_azure_status() -> None:
    corr = Correlator(settings())
    aa = gateway("gwaa", active_active=True, n=2)
    corr.process(
        [
            GW,
            aa,
            connection("up", GW),
            connection("down", GW, status=DOWN),
            connection("connecting", GW, status=CONNECTING),
            connection("azure-unknown", GW, status=ConnectionStatus.UNKNOWN),
            connection("half", aa, tunnels=[UP, DOWN]),
        ],
        at(0),
    )
    state = corr.state
    assert state.health_of(rid("connections", "up"), at(0)) is Health.UP
    assert state.health_of(rid("connections", "down"), at(0)) is Health.DOWN
    assert state.health_of(rid("connections", "connecting"), at(0)) is Health.DOWN
    assert state.health_of(rid("connections", "azure-unknown"), at(0)) is Health.UNKNOWN
    half = rid("connections", "half")
    assert state.health_of(half, at(0)) is Health.DEGRADED
    assert state.health_of(f"{half}/tunnels/half_20.0.2.1", at(0)) is Health.UP
    assert state.health_of(f"{half}/tunnels/half_20.0.2.2", at(0)) is Health.DOWN
    assert state.health_of("/no/such/entity", at(0)) is Health.UNKNOWN


def test_data_older_than_staleness_is_unknown_never_up() -> None:
    corr = Correlator(settings(state={"staleness_seconds": 60}))
    conn = rid("connections", "c1")
    corr.process([GW, connection("c1", GW)], at(0))
    assert corr.state.health_of(conn, at(60)) is Health.UP
    assert corr.state.health_of(conn, at(61)) is Health.UNKNOWN
    assert corr.state.health_of(GW.resource_id, at(61)) is Health.UNKNOWN
    assert corr.state.summary(at(61))[Health.UP] == 0
    # the stored health stays what the data said; only the effective health ages
    assert corr.state.entities[conn].health is Health.UP


def test_staleness_follows_the_refresh_the_planner_promised() -> None:
    # The budget affords reading every connection of this subscription only every 300 s: data
    # stays valid for that promise plus the margin, then turns unknown, never a stale up.
    corr = Correlator(settings(state={"staleness_seconds": 60, "promise_margin_seconds": 30}))
    conn = rid("connections", "c1")
    promised = replace(run("arm.connections", resource_ids=[conn]), promise_seconds=300.0)
    corr.process([GW, connection("c1", GW), promised], at(0))
    assert corr.state.stale_after(conn) == 330
    assert corr.state.health_of(conn, at(329)) is Health.UP
    assert corr.state.health_of(f"{conn}/tunnels/c1_20.0.1.1", at(329)) is Health.UP
    assert corr.state.health_of(GW.resource_id, at(329)) is Health.UP  # fed by its connections
    assert corr.state.health_of(conn, at(331)) is Health.UNKNOWN
    # A promise shorter than `staleness_seconds` does not shorten it.
    corr.process([replace(promised, observed_at=at(400), promise_seconds=15.0)], at(400))
    assert corr.state.stale_after(conn) == 60


def test_resource_unknown_makes_the_entity_unknown_not_down_and_keeps_since() -> None:
    corr = Correlator(settings())
    conn = rid("connections", "c1")
    corr.process([GW, connection("c1", GW, status=DOWN)], at(0))
    corr.process([unknown(conn, t=15)], at(15))
    entity = corr.state.entities[conn]
    assert corr.state.health_of(conn, at(15)) is Health.UNKNOWN
    assert corr.state.health_of(f"{conn}/tunnels/c1_20.0.1.1", at(15)) is Health.UNKNOWN
    assert entity.unknown_reason is not None and "throttled" in entity.unknown_reason
    corr.process([connection("c1", GW, t=30, status=DOWN)], at(30))
    assert corr.state.health_of(conn, at(30)) is Health.DOWN
    assert entity.since == at(0)  # the down spell goes on from the first observation of it


def test_resource_unknown_for_a_resource_never_seen_is_listed_as_unknown() -> None:
    corr = Correlator(settings())
    ghost = rid("connections", "ghost")
    corr.process([unknown(ghost)], at(0))
    assert corr.state.entities[ghost].kind == "connection"
    assert corr.state.health_of(ghost, at(0)) is Health.UNKNOWN


def test_failed_run_removes_nothing_and_successful_run_removes_unlisted() -> None:
    corr = Correlator(settings())
    c1, c2 = rid("connections", "c1"), rid("connections", "c2")
    other_sub = rid("connections", "c3", sub="99999999-0000-0000-0000-000000000000")
    corr.process([GW, connection("c1", GW), connection("c2", GW)], at(0))
    corr.process([replace(connection("c3", GW), resource_id=other_sub)], at(0))
    result = corr.process([run("arm.connections", t=15, ok=False, cause=FailureCause.AUTH)], at(15))
    assert result.entity_ids_removed == []
    assert c2 in corr.state.connections
    assert corr.state.health_of(c2, at(15)) is Health.UNKNOWN  # not refreshed: never a stale up
    result = corr.process([run("arm.connections", t=30, resource_ids=[c1.upper()])], at(30))
    assert result.entity_ids_removed == [c2]
    assert (
        c2 not in corr.state.connections and f"{c2}/tunnels/c2_20.0.1.1" not in corr.state.entities
    )
    assert c1 in corr.state.connections  # listed (ids compare ignoring case)
    assert other_sub in corr.state.connections  # another subscription: not this run's to judge
    assert GW.resource_id in corr.state.gateways  # another collector's resource


def test_not_found_removes_the_resource() -> None:
    corr = Correlator(settings())
    conn = rid("connections", "c1")
    corr.process([GW, connection("c1", GW)], at(0))
    result = corr.process([unknown(conn, t=15, cause=FailureCause.NOT_FOUND)], at(15))
    assert result.entity_ids_removed == [conn]
    assert conn not in corr.state.entities


def test_instances_take_tunnels_by_public_ip_and_shape_gateway_health() -> None:
    corr = Correlator(settings())
    aa = gateway("gwaa", active_active=True)
    default, second = (
        f"{aa.resource_id}/instances/default",
        f"{aa.resource_id}/instances/activeActive",
    )
    corr.process(
        [aa, connection("a", aa, tunnels=[UP, DOWN]), connection("b", aa, tunnels=[UP, DOWN])],
        at(0),
    )
    state = corr.state
    assert state.health_of(default, at(0)) is Health.UP
    assert state.health_of(second, at(0)) is Health.DOWN
    assert state.health_of(aa.resource_id, at(0)) is Health.DEGRADED
    tunnel = state.entities[f"{rid('connections', 'a')}/tunnels/a_20.0.1.2"]
    assert tunnel.attributes["instance"] == "activeActive"
    corr.process(
        [connection("a", aa, t=15, status=DOWN), connection("b", aa, t=15, status=DOWN)], at(15)
    )
    assert state.health_of(aa.resource_id, at(15)) is Health.DOWN
    assert state.entities[aa.resource_id].since == at(15)


def test_instance_is_down_when_all_its_bgp_sessions_are() -> None:
    corr = Correlator(settings())
    aa = gateway("gwaa", active_active=True)
    peers = [
        ("10.1.255.4", "192.168.0.1", BgpPeerState.CONNECTED, 10),
        ("10.1.255.5", "192.168.0.1", BgpPeerState.IDLE, 0),
    ]
    corr.process([aa, connection("a", aa), bgp(aa, peers)], at(0))
    assert corr.state.health_of(f"{aa.resource_id}/instances/activeActive", at(0)) is Health.DOWN
    assert corr.state.health_of(f"{aa.resource_id}/instances/default", at(0)) is Health.UP
    peer = f"{aa.resource_id}/bgpPeers/10.1.255.5/192.168.0.1"
    assert corr.state.health_of(peer, at(0)) is Health.DOWN


def test_instance_ignores_bgp_seen_down_before_its_tunnels_came_back() -> None:
    corr = Correlator(settings())
    aa = gateway("gwaa", active_active=True)
    second = f"{aa.resource_id}/instances/activeActive"

    def sessions(t: float, state: BgpPeerState) -> BgpStatusObserved:
        return bgp(aa, [("10.1.255.5", "192.168.0.1", state, 0)], t=t)

    corr.process([aa, connection("a", aa), sessions(0, BgpPeerState.CONNECTED)], at(0))
    corr.process([connection("a", aa, t=15, tunnels=[UP, DOWN])], at(15))
    corr.process([sessions(16, BgpPeerState.IDLE)], at(16))
    assert corr.state.health_of(second, at(16)) is Health.DOWN
    corr.process([connection("a", aa, t=18)], at(18))  # tunnels back after that BGP poll
    assert corr.state.health_of(second, at(18)) is Health.UP
    corr.process([sessions(30, BgpPeerState.IDLE)], at(30))  # still down, tunnels up: counts
    assert corr.state.health_of(second, at(30)) is Health.DOWN
    assert corr.state.entities[second].since == at(30)


def test_tunnels_beside_a_bgp_session_are_those_of_its_instance() -> None:
    corr = Correlator(settings())
    aa = gateway("gwaa", active_active=True)
    peers = [
        ("10.1.255.4", "192.168.0.1", BgpPeerState.CONNECTED, 10),
        ("10.1.255.5", "192.168.0.1", BgpPeerState.CONNECTED, 10),
    ]
    corr.process([aa, connection("a", aa), connection("b", aa), bgp(aa, peers)], at(0))
    peer = f"{aa.resource_id}/bgpPeers/10.1.255.5/192.168.0.1"
    beside = {e.entity_id for e in corr.state.tunnels_beside(peer)}
    assert beside == {f"{rid('connections', n)}/tunnels/{n}_20.0.1.2" for n in ("a", "b")}
    assert corr.state.tunnels_beside(f"{aa.resource_id}/bgpPeers/10.9.9.9/192.168.0.1") == []


def test_zone_redundant_gateways_have_an_instance_in_every_zone_their_ips_list() -> None:
    corr = Correlator(settings())
    base = gateway("zr", n=8)
    spanning = replace(base, instances=(replace(base.instances[0], zones=("1", "2")),))
    pinned = gateway("z3", zone="3", n=9)
    corr.process([spanning, pinned, GW], at(0))
    state = corr.state
    assert state.gateways_with_instance_in("westeurope", "1") == {spanning.resource_id}
    assert state.gateways_with_instance_in("WestEurope", "2") == {spanning.resource_id}
    assert state.gateways_with_instance_in("westeurope", "3") == {pinned.resource_id}
    assert state.zonal_gateways("westeurope", "1") == set()  # spanning zones: not zonal


def test_gateway_freshness_comes_from_its_connections() -> None:
    corr = Correlator(settings(state={"staleness_seconds": 90}))
    corr.process([GW, connection("c1", GW)], at(0))
    corr.process([connection("c1", GW, t=80)], at(80))
    # the gateway itself was observed at 0, but its connections keep it current
    assert corr.state.health_of(GW.resource_id, at(150)) is Health.UP


def test_site_and_circuit_health() -> None:
    corr = Correlator(settings())
    s = site("branch")
    corr.process(
        [
            GW,
            s,
            connection("a", GW, peer=s.resource_id),
            connection("b", GW, peer=s.resource_id, status=DOWN),
            circuit("er1", secondary=False),
            circuit("er2", provider_state="NotProvisioned"),
        ],
        at(0),
    )
    state = corr.state
    assert state.health_of(s.resource_id, at(0)) is Health.DEGRADED
    er1 = rid("expressRouteCircuits", "er1")
    assert state.health_of(er1, at(0)) is Health.DEGRADED
    assert state.health_of(f"{er1}/peerings/AzurePrivatePeering/links/secondary", at(0)) is (
        Health.DOWN
    )
    assert state.health_of(rid("expressRouteCircuits", "er2"), at(0)) is Health.DOWN


def test_flapping_counts_transitions_within_the_window() -> None:
    corr = Correlator(settings(state={"flap_transitions": 4, "flap_window_seconds": 300}))
    conn = rid("connections", "c1")
    corr.process([GW, connection("c1", GW)], at(0))
    for n, status in enumerate([DOWN, UP, DOWN], start=1):
        corr.process([connection("c1", GW, t=15 * n, status=status)], at(15 * n))
    assert not corr.state.is_flapping(conn, at(45))
    corr.process([connection("c1", GW, t=60, status=UP)], at(60))
    assert corr.state.is_flapping(conn, at(60))
    assert not corr.state.is_flapping(conn, at(15 + 301))


def test_records_round_trip_restores_the_same_state() -> None:
    corr = Correlator(settings())
    records: dict[str, dict] = {}
    aa = gateway("gwaa", active_active=True, zone="2")
    steps = [
        [aa, site("branch", bgp_address="192.168.0.1"), connection("a", aa, tunnels=[UP, DOWN])],
        [bgp(aa, [("10.1.255.4", "192.168.0.1", BgpPeerState.CONNECTED, 7)], t=5)],
        [circuit("er1", t=6), run("arm.bgp", t=7, ok=False, cause=FailureCause.TIMEOUT)],
    ]
    for n, step in enumerate(steps):
        result = corr.process(step, at(n))
        records.update(result.entity_records_changed)
    restored = FleetState.from_records(settings().state, records)
    assert restored.entities == corr.state.entities
    assert restored.gateways == corr.state.gateways
    assert restored.connections == corr.state.connections
    assert restored.bgp == corr.state.bgp
    assert restored.circuits == corr.state.circuits
    assert restored.sites == corr.state.sites
    assert restored.collector_runs == corr.state.collector_runs
    assert restored.run_streaks == corr.state.run_streaks
    assert restored.unhealthy(EntityKind.TUNNEL) == corr.state.unhealthy(EntityKind.TUNNEL)
    assert restored.zonal_gateways("westeurope", "2") == {aa.resource_id}
    assert restored.connections_of_gateway(aa.resource_id) == [rid("connections", "a")]


def test_out_of_order_observation_is_ignored() -> None:
    corr = Correlator(settings())
    conn = rid("connections", "c1")
    corr.process([GW, connection("c1", GW, t=30)], at(30))
    corr.process([connection("c1", GW, t=15, status=DOWN)], at(31))
    assert corr.state.health_of(conn, at(31)) is Health.UP


def test_run_scope_prefix_matches_only_its_subscription() -> None:
    corr = Correlator(settings())
    corr.process([GW, connection("c1", GW)], at(0))
    result = corr.process([run("arm.connections", t=10, scope="/subscriptions/other")], at(10))
    assert result.entity_ids_removed == []
    result = corr.process([run("arm.connections", t=20, scope=SCOPE)], at(20))
    assert result.entity_ids_removed == [rid("connections", "c1")]


def test_references_match_resource_ids_ignoring_case() -> None:
    corr = Correlator(settings())
    conns = [replace(connection(n, GW), gateway_id=GW.resource_id.lower()) for n in ("a", "b")]
    corr.process([GW, *conns], at(0))
    assert corr.state.connections_of_gateway(GW.resource_id.upper()) == [
        rid("connections", "a"),
        rid("connections", "b"),
    ]
    down = [replace(c, observed_at=at(15), status=DOWN, tunnels=()) for c in conns]
    result = corr.process(down, at(15))
    assert corr.state.health_of(GW.resource_id, at(15)) is Health.DOWN
    assert [i.type.value for i in result.opened] == ["failover"]


def test_a_connection_observed_and_deleted_in_one_batch() -> None:
    corr = Correlator(settings())
    corr.process([GW, connection("c1", GW), connection("c2", GW)], at(0))
    result = corr.process(
        [
            connection("c1", GW, t=15, status=DOWN),
            connection("c2", GW, t=15),
            run("arm.connections", t=15, resource_ids=[rid("connections", "c2")]),
        ],
        at(15),
    )
    assert result.entity_ids_removed == [rid("connections", "c1")]
    assert result.opened == []


def test_only_changes_and_due_refreshes_are_handed_to_the_store() -> None:
    corr = Correlator(settings(state={"staleness_seconds": 90}))
    conn = rid("connections", "c1")
    first = corr.process([GW, connection("c1", GW)], at(0))
    assert conn in first.entity_records_changed
    same = corr.process([connection("c1", GW, t=15)], at(15))
    assert conn not in same.entity_records_changed  # nothing new but the time
    due = corr.process([connection("c1", GW, t=90)], at(90))
    assert conn in due.entity_records_changed  # a staleness window newer: refreshed
    changed = corr.process([connection("c1", GW, t=105, status=DOWN)], at(105))
    record = changed.entity_records_changed[conn]
    assert record["entities"][conn]["health"] == "down"
    assert record["observation"]["status"] == "NotConnected"
