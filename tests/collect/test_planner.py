"""The read planner: what a pass reads within the budget, and what refresh that promises."""

from __future__ import annotations

import itertools

from vpnwatch.clock import ManualClock
from vpnwatch.collect.budget import READS, BucketModel, RequestBudget
from vpnwatch.collect.planner import Candidate, Cost, ReadPlanner

SUB = "0d0d0d0d-0000-4000-8000-000000000001"
LANE = "arm.connections"


def _conn(gateway: int, index: int) -> Candidate:
    base = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network"
    return Candidate(
        f"{base}/connections/cn-{gateway}-{index}",
        f"{base}/virtualNetworkGateways/gw-{gateway}",
    )


def _planner(reads_per_second: float) -> tuple[ReadPlanner, ManualClock]:
    clock = ManualClock()
    # share 1 and a bucket refilled at `reads_per_second`: 95 % of it per pass is planned.
    budget = RequestBudget(clock, share=1.0, models={READS: BucketModel(1000, reads_per_second)})
    return ReadPlanner(budget, clock), clock


def _read_all(planner: ReadPlanner, ids: tuple[str, ...], status: str = "Connected") -> None:
    for rid in ids:
        gateway = rid.replace("connections/cn-", "virtualNetworkGateways/gw-")[:-2]
        planner.record(LANE, rid, status, group=gateway)


def test_a_budget_that_affords_everything_reads_everything_every_pass() -> None:
    planner, _ = _planner(reads_per_second=100)
    candidates = [_conn(g, i) for g in range(10) for i in range(4)]
    plan = planner.plan(LANE, SUB, candidates, 15, Cost(fixed_reads=2))
    assert len(plan.read) == 40 and plan.promise_seconds == 15


def test_a_small_budget_rotates_whole_gateways_and_promises_what_it_can() -> None:
    planner, clock = _planner(reads_per_second=1)  # 14 reads per 15 s pass (95 %)
    candidates = [_conn(g, i) for g in range(10) for i in range(4)]
    seen: list[set[str]] = []
    for _ in range(4):
        plan = planner.plan(LANE, SUB, candidates, 15, Cost())
        assert plan.per_pass == 14
        assert plan.promise_seconds == 3 * 15  # 40 connections, 14 a pass
        _read_all(planner, plan.read)
        # a gateway's connections are read in the same pass
        gateways = {rid.rsplit("-", 1)[0] for rid in plan.read}
        assert len(plan.read) == 4 * len(gateways)
        seen.append(set(plan.read))
        clock.advance(15)
    assert set().union(*seen[:4]) == {c.resource_id for c in candidates}
    # the rotation goes oldest first: pass 4 starts again with what pass 1 read
    assert seen[3] & seen[0]


def test_a_change_heats_the_gateway_and_an_incident_keeps_resources_hot() -> None:
    planner, clock = _planner(reads_per_second=2)  # 28 reads a pass: room for 14 hot ones
    candidates = [_conn(g, i) for g in range(10) for i in range(4)]
    for _ in range(4):
        _read_all(planner, planner.plan(LANE, SUB, candidates, 15, Cost()).read)
        clock.advance(15)
    changed = candidates[5].resource_id  # gateway 1
    assert planner.record(LANE, changed, "NotConnected", group=candidates[5].group)
    incident_gateway = candidates[30].group  # gateway 7, from an open incident
    planner.heat([incident_gateway])
    plan = planner.plan(LANE, SUB, candidates, 15, Cost())
    hot = set(plan.read[: plan.hot])
    assert {c.resource_id for c in candidates[4:8]} <= hot
    assert {c.resource_id for c in candidates[28:32]} <= hot
    assert plan.hot == 8 and len(plan.read) > plan.hot  # the rotation still moves


def test_deleted_resources_are_forgotten_and_new_ones_read_first() -> None:
    planner, clock = _planner(reads_per_second=1)
    candidates = [_conn(g, i) for g in range(10) for i in range(4)]
    for _ in range(4):
        _read_all(planner, planner.plan(LANE, SUB, candidates, 15, Cost()).read)
        clock.advance(15)
    new = _conn(42, 0)
    plan = planner.plan(LANE, SUB, [*candidates[4:], new], 15, Cost())
    assert plan.read[0] == new.resource_id
    assert plan.total == 37
    assert planner.oldest_read(LANE, SUB) is None  # the new one was never read


def test_achieved_interval_is_the_longest_gap_between_reads() -> None:
    planner, clock = _planner(reads_per_second=1)
    candidates = [_conn(g, i) for g in range(10) for i in range(4)]
    for _ in range(9):
        _read_all(planner, planner.plan(LANE, SUB, candidates, 15, Cost()).read)
        clock.advance(15)
    achieved = planner.achieved(LANE, SUB)
    assert achieved is not None and 45 <= achieved <= 60


def test_hot_resources_take_at_most_half_a_pass_so_the_rotation_keeps_moving() -> None:
    planner, clock = _planner(reads_per_second=2)  # 28 reads per 15 s pass (95 %)
    candidates = [_conn(g, i) for g in range(30) for i in range(4)]  # 120 connections
    for _ in range(5):
        _read_all(planner, planner.plan(LANE, SUB, candidates, 15, Cost()).read)
        clock.advance(15)
    # a storm: 20 of the 30 gateways in open incidents, 80 connections hot
    quiet = {c.resource_id for c in candidates[80:]}
    read_quiet: set[str] = set()
    period = None
    for _ in range(8):
        planner.heat([c.group for c in candidates[:80]])  # the agent, at every step
        plan = planner.plan(LANE, SUB, candidates, 15, Cost())
        assert plan.hot <= 14  # half of what a pass affords
        period = planner.rations(SUB)[LANE].period
        read_quiet |= set(plan.read) & quiet
        _read_all(planner, plan.read)
        clock.advance(15)
    # the other half goes on rotating: the 40 connections nobody flagged were all read within
    # the storm's rotation period (about 110 s: 106 in rotation at 14 a pass) and one pass
    assert period is not None and 100 <= period <= 120
    assert read_quiet == quiet


def _gaps_in_rotation(pass_seconds: float) -> tuple[float, list[float]]:
    """The ration period, and the gaps between reads of each resource over 16 passes that
    begin `pass_seconds` apart (interval 15 s), each read made when it is due (the collector's
    pacing, within 80 % of the interval)."""
    planner, clock = _planner(reads_per_second=4)  # 57 reads per 15 s pass (95 %)
    candidates = [_conn(g, i) for g in range(33) for i in range(4)]  # 132 connections
    reads: dict[str, list[float]] = {}
    t0 = clock.now()
    for _ in range(16):
        plan = planner.plan(LANE, SUB, candidates, 15, Cost(), pass_seconds=pass_seconds)
        began = clock.now()
        for offset, rid in sorted(zip(plan.due_in, plan.read, strict=True)):
            at = min(offset, 12.0)
            clock.advance(max(0.0, at - (clock.now() - began).total_seconds()))
            _read_all(planner, (rid,))
            reads.setdefault(rid, []).append((clock.now() - t0).total_seconds())
        clock.advance(pass_seconds - (clock.now() - began).total_seconds())
    gaps = [b - a for times in reads.values() for a, b in itertools.pairwise(times[3:])]
    return planner.rations(SUB)[LANE].period, gaps


def test_each_resource_in_rotation_is_read_one_period_after_the_last_time() -> None:
    """Not at whichever pass boundary comes next: with 15 s passes and a rotation of about
    35 s, reading the oldest at each pass's start would give gaps of 30 and 45 s."""
    period, gaps = _gaps_in_rotation(15.0)
    assert 30 <= period <= 40
    assert gaps and all(period - 4 <= gap <= period + 1 for gap in gaps), sorted(gaps)


def test_passes_that_begin_late_keep_the_rotation_period() -> None:
    """Passes 17 s apart on a 15 s interval (a busy machine) read a little more each, so a
    resource still waits one period, not 17/15 of it."""
    period, gaps = _gaps_in_rotation(17.0)
    assert 30 <= period <= 40
    assert gaps and all(period - 4 <= gap <= period + 2 for gap in gaps), sorted(gaps)


def test_the_first_pass_of_a_rotation_the_budget_cannot_afford_reads_one_group() -> None:
    """Its ration does not know yet what the other collectors cost, and every subscription's
    next pass waits for the slowest first one: a gateway's connections, then the rotation."""
    planner, clock = _planner(reads_per_second=1)  # 14 reads per 15 s pass
    candidates = [_conn(g, i) for g in range(10) for i in range(4)]
    first = planner.plan(LANE, SUB, candidates, 15, Cost())
    assert len(first.read) == 4 and first.per_pass == 14
    _read_all(planner, first.read)
    clock.advance(15)
    assert len(planner.plan(LANE, SUB, candidates, 15, Cost()).read) >= 12
    # a budget that affords every resource reads them all from the first pass
    rich, _ = _planner(reads_per_second=100)
    assert len(rich.plan(LANE, SUB, candidates, 15, Cost()).read) == 40
