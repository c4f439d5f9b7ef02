"""zone_outage: unhealthy zonal gateways concentrated in one zone of a region."""

from __future__ import annotations

from dataclasses import replace

import pytest
from factories import DOWN, UP, at, connection, gateway, key, keys, rid, settings

from vpnwatch.correlate import CorrelationResult, Correlator
from vpnwatch.incidents import IncidentType, Severity

ZONE1 = [
    gateway("z1a", zone="1", n=1),
    gateway("z1b", zone="1", n=2, active_active=True),
    gateway("z1c", zone="1", n=3),
]
ZONE2 = [gateway("z2a", zone="2", n=4), gateway("z2b", zone="2", n=5)]
ZONE_KEY = key(IncidentType.ZONE_OUTAGE, "westeurope/1")


def fleet(gateways=ZONE1 + ZONE2, **sections: object) -> Correlator:  # type: ignore[no-untyped-def]
    # one connection per gateway: an active/standby gateway's drop is to be read as its failover
    sections.setdefault("failover", {"min_connections": 1})
    corr = Correlator(settings(**sections))  # type: ignore[arg-type]
    corr.process([*gateways, *(connection(f"c-{g.name}", g) for g in gateways)], at(0))
    return corr


def drop(corr: Correlator, gateways, t: float, status=DOWN):  # type: ignore[no-untyped-def]
    return corr.process([connection(f"c-{g.name}", g, t=t, status=status) for g in gateways], at(t))


def test_zone_outage_names_region_and_zone_and_adopts_gateway_incidents() -> None:
    corr = fleet()
    result = drop(corr, ZONE1[:2], 15)
    opened = {i.key: i for i in result.opened}
    zone = opened[ZONE_KEY]
    assert zone.severity is Severity.CRITICAL
    assert zone.attributes["region"] == "westeurope" and zone.attributes["zone"] == "1"
    assert set(zone.resources) == {ZONE1[0].resource_id, ZONE1[1].resource_id}
    children = {
        key(IncidentType.FAILOVER, ZONE1[0].resource_id),
        key(IncidentType.GATEWAY_DOWN, ZONE1[1].resource_id),
    }
    assert set(opened) == {ZONE_KEY} | children  # no per-connection pages
    assert all(opened[k].parent_key == ZONE_KEY for k in children)


def test_a_later_failure_in_the_zone_joins_and_resolution_waits_for_all() -> None:
    corr = fleet(state={"clear_hold_seconds": 0})
    (zone,) = [i for i in drop(corr, ZONE1[:2], 15).opened if i.key == ZONE_KEY]
    result = drop(corr, ZONE1, 30)
    failover_c = key(IncidentType.FAILOVER, ZONE1[2].resource_id)
    assert {i.key: i.parent_key for i in result.opened} == {failover_c: ZONE_KEY}
    assert ZONE1[2].resource_id in zone.resources
    drop(corr, ZONE1[:2], 60, status=UP)
    assert zone.is_open
    result = drop(corr, ZONE1, 90, status=UP)
    assert zone in result.resolved
    assert zone.resolved_at == at(90) and zone.outage_seconds == 75.0


def test_two_zones_failing_together_is_not_one_zone() -> None:
    corr = fleet()
    result = drop(corr, ZONE1[:2] + ZONE2, 15)
    assert IncidentType.ZONE_OUTAGE not in {i.type for i in result.opened}


def test_no_healthy_zone_to_compare_with_blames_no_zone() -> None:
    corr = fleet(gateways=ZONE1)
    result = drop(corr, ZONE1[:2], 15)
    assert IncidentType.ZONE_OUTAGE not in {i.type for i in result.opened}


def test_failures_further_apart_than_the_window_are_separate() -> None:
    corr = fleet(zone={"window_seconds": 60})
    drop(corr, ZONE1[:1], 15)
    result = drop(corr, ZONE1[:2], 120)
    assert ZONE_KEY not in keys(result.opened) | keys(corr.open_incidents())


def test_one_gateway_is_not_a_zone_even_if_it_is_the_whole_zone() -> None:
    lone = gateway("z3a", zone="3", n=6)
    corr = fleet(gateways=[lone, *ZONE2])
    result = drop(corr, [lone], 15)
    assert IncidentType.ZONE_OUTAGE not in {i.type for i in result.opened}


def test_share_of_a_small_zone_counts() -> None:
    corr = fleet(gateways=[*ZONE1[:2], *ZONE2], zone={"min_gateways": 3, "min_share": 0.5})
    result = drop(corr, ZONE1[:2], 15)
    assert ZONE_KEY in keys(result.opened)


def test_a_gateway_with_an_instance_in_the_failed_zone_becomes_a_child() -> None:
    spanning = gateway("span", active_active=True, n=7)
    pinned = (
        replace(spanning.instances[0], zones=("1",)),
        replace(spanning.instances[1], zones=("2",)),
    )
    spanning = replace(spanning, instances=pinned)
    corr = fleet(gateways=[*ZONE1, *ZONE2, spanning])

    def poll(t: float) -> CorrelationResult:
        return corr.process(
            [
                *(connection(f"c-{g.name}", g, t=t, status=DOWN) for g in ZONE1[:2]),
                connection("c-span", spanning, t=t, tunnels=[DOWN, UP]),
            ],
            at(t),
        )

    redundancy = key(IncidentType.REDUNDANCY_LOST, spanning.resource_id)
    opened = {i.key: i for i in poll(15).opened}
    # one instance lost must last min_down_seconds first; its tunnel does not page meanwhile
    assert set(opened) == {
        ZONE_KEY,
        key(IncidentType.FAILOVER, ZONE1[0].resource_id),
        key(IncidentType.GATEWAY_DOWN, ZONE1[1].resource_id),  # every instance: at once
    }
    assert spanning.resource_id not in opened[ZONE_KEY].resources  # not counted as zonal
    (child,) = poll(35).opened
    assert child.key == redundancy and child.parent_key == ZONE_KEY
    assert child.opened_at == at(15)


@pytest.mark.parametrize(
    ("zones", "parent"),
    [
        (("1", "2", "3"), ZONE_KEY),  # its public IP lists the failed zone: the zone took it
        (("2", "3"), None),  # the failed zone is not among its zones: its own failover
        ((), None),  # not zonal at all
    ],
)
def test_a_zone_redundant_gateway_failing_over_with_the_zone(
    zones: tuple[str, ...], parent: str | None
) -> None:
    base = gateway("zr", n=8)
    zr = replace(base, instances=(replace(base.instances[0], zones=zones),))
    corr = Correlator(settings())  # default min_connections: the gateway has two connections
    corr.process(
        [
            *ZONE1,
            *ZONE2,
            zr,
            *(connection(f"c-{g.name}", g) for g in ZONE1 + ZONE2),
            *(connection(n, zr) for n in ("zr1", "zr2")),
        ],
        at(0),
    )
    result = corr.process(
        [
            *(connection(f"c-{g.name}", g, t=15, status=DOWN) for g in ZONE1[:2]),
            *(connection(n, zr, t=15, status=DOWN) for n in ("zr1", "zr2")),
        ],
        at(15),
    )
    opened = {i.key: i for i in result.opened}
    failover = opened[key(IncidentType.FAILOVER, zr.resource_id)]
    assert failover.parent_key == parent
    assert zr.resource_id not in opened[ZONE_KEY].resources  # never counted as zonal
    conns = {key(IncidentType.TUNNEL_DOWN, rid("connections", n)) for n in ("zr1", "zr2")}
    assert conns.isdisjoint(opened)  # its connections stay under its failover
