"""How a subscription's budget is split between the rotating collectors."""

from __future__ import annotations

import pytest

from vpnwatch.collect.ration import LONGEST, Demand, split


def _spread(hot: int = 0) -> list[Demand]:
    """One *spread* subscription: 200 connections, 50 BGP gateways, 10 circuits, 2 groups."""
    return [
        Demand("arm.connections", 200, hot, reads=1, writes=0, interval=15, fixed_reads=2),
        Demand("arm.bgp", 50, 0, reads=2, writes=1, interval=30, fixed_reads=2),
        Demand("arm.expressroute", 10, 0, reads=6, writes=2, interval=30, fixed_reads=2, stretch=2),
    ]


def _spent(rations: dict, kind: str) -> float:
    return sum(getattr(r, f"{kind}_per_second") for r in rations.values())


def test_a_budget_that_affords_the_intervals_keeps_them() -> None:
    rations = split(_spread(), reads_per_second=100, writes_per_second=100)
    assert {lane: r.period for lane, r in rations.items()} == {
        "arm.connections": 15,
        "arm.bgp": 30,
        "arm.expressroute": 30,
    }


def test_a_short_budget_rotates_connections_and_bgp_together() -> None:
    # 95 % of half of today's bucket: 11.875 reads/s and 4.75 writes/s
    rations = split(_spread(), reads_per_second=11.875, writes_per_second=4.75)
    connections, bgp, circuits = (
        rations[lane] for lane in ("arm.connections", "arm.bgp", "arm.expressroute")
    )
    # connections fall behind their 15 s; BGP status keeps its 30 s instead of waiting for them
    assert 15 < connections.period < 30 and bgp.period == 30
    assert circuits.period == pytest.approx(2 * connections.period)
    lists = 2 / 15 + 2 / 30 + 2 / 30
    t = connections.period
    assert 200 / t + 100 / 30 + 60 / (2 * t) + lists == pytest.approx(11.875, abs=0.01)
    assert _spent(rations, "reads") == pytest.approx(11.875, abs=0.01)
    assert _spent(rations, "writes") < 4.75
    # a third less: connections and BGP status share one rotation period
    tighter = split(_spread(), reads_per_second=8, writes_per_second=4.75)
    t = tighter["arm.connections"].period
    assert t > 30 and tighter["arm.bgp"].period == t
    assert (200 + 100 + 60 / 2) / t + lists == pytest.approx(8, abs=0.01)


def test_hot_connections_are_paid_every_pass_before_the_rotation() -> None:
    cold = split(_spread(), 11.875, 4.75)["arm.connections"]
    hot = split(_spread(hot=12), 11.875, 4.75)
    assert hot["arm.connections"].period > cold.period
    assert _spent(hot, "reads") == pytest.approx(11.875, abs=0.01)


def test_the_write_budget_stretches_only_the_collectors_that_write() -> None:
    # the hourly model: 12,000 reads and 1,200 writes an hour, half of it, 95 % planned
    reads, writes = 12_000 / 3600 * 0.5 * 0.95, 1_200 / 3600 * 0.5 * 0.95
    rations = split(_spread(), reads, writes)
    connections, bgp, circuits = (
        rations[lane] for lane in ("arm.connections", "arm.bgp", "arm.expressroute")
    )
    assert _spent(rations, "writes") <= writes + 1e-6
    assert _spent(rations, "reads") <= reads + 1e-6
    # 50 POSTs for BGP and 20 for circuits (at twice the period) per rotation: 60 writes
    assert bgp.period == pytest.approx(60 / writes, rel=0.01)
    assert circuits.period == pytest.approx(2 * bgp.period, rel=0.01)
    # connections, which write nothing, rotate faster with the reads BGP cannot spend
    assert connections.period < bgp.period


def test_a_budget_too_small_for_the_lists_reads_once_a_day() -> None:
    rations = split(_spread(), reads_per_second=0.1, writes_per_second=4.75)
    assert rations["arm.connections"].period == LONGEST


def test_a_read_that_takes_time_of_its_own_rotates_that_much_sooner() -> None:
    # BGP status waits for two polls 2 s apart after its POST: it starts 4 s sooner, so a BGP
    # session drop is found about as soon as a tunnel drop
    demands = _spread()
    demands[1] = Demand("arm.bgp", 50, 0, reads=2, writes=1, interval=20, fixed_reads=2, lead=4)
    rations = split(demands, reads_per_second=11.875, writes_per_second=4.75)
    connections, bgp = rations["arm.connections"], rations["arm.bgp"]
    assert connections.period > 20
    assert bgp.period == pytest.approx(connections.period - 4)
    assert _spent(rations, "reads") == pytest.approx(11.875, abs=0.01)
    # with the budget to spare, the configured intervals hold: nothing is read more often
    roomy = split(demands, reads_per_second=100, writes_per_second=100)
    assert roomy["arm.bgp"].period == 20 and roomy["arm.connections"].period == 15
