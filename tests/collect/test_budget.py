"""The request budget on its own: pacing under a share of Azure's bucket, what the headers say,
429s, the hourly model, and weighted lanes."""

from __future__ import annotations

import asyncio

import pytest

from vpnwatch.clock import ManualClock, ScaledClock
from vpnwatch.collect.budget import READS, WRITES, BucketModel, RequestBudget

SUB = "0c0c0c0c-0000-4000-8000-000000000001"


async def _spend(budget: RequestBudget, kind: str = READS, lane: str = "default") -> None:
    """One request: wait for the budget, then report Azure's answer (a full bucket)."""
    await budget.acquire(SUB, kind, lane)
    budget.observe(SUB, kind, remaining=1000, status=200)


async def test_spends_only_the_share_of_the_bucket_then_paces_at_the_share_of_the_refill() -> None:
    clock = ScaledClock(speed=20)
    budget = RequestBudget(
        clock, share=0.5, models={READS: BucketModel(20, 10.0)}, detect_hourly=False
    )
    started = clock.now()
    for _ in range(10):  # half the bucket goes out at once
        await _spend(budget)
    burst = (clock.now() - started).total_seconds()
    for _ in range(10):  # then 5 per second (half of 10/s)
        await _spend(budget)
    paced = (clock.now() - started).total_seconds() - burst
    assert burst < 0.5
    assert 1.6 <= paced <= 3.0
    assert budget.bucket(SUB, READS).spent == 20


async def test_headers_below_the_reserved_half_hold_requests_back() -> None:
    clock = ScaledClock(speed=20)
    budget = RequestBudget(clock, share=0.5, models={READS: BucketModel(250, 25.0)})
    await budget.acquire(SUB, READS)
    # Another tool spent the subscription down to 100: 25 below the 125 kept for others.
    budget.observe(SUB, READS, remaining=100, status=200)
    started = clock.now()
    await budget.acquire(SUB, READS)
    waited = (clock.now() - started).total_seconds()
    assert waited >= 2.0  # 26 tokens at 12.5/s before vpnwatch may read again
    assert not budget.bucket(SUB, READS).scarce
    budget.observe(SUB, READS, remaining=3, status=200)  # nearly empty: one at a time
    assert budget.bucket(SUB, READS).scarce


async def test_a_429_stops_the_bucket_until_retry_after() -> None:
    clock = ScaledClock(speed=20)
    budget = RequestBudget(clock)
    await budget.acquire(SUB, WRITES)
    budget.observe(SUB, WRITES, remaining=100, status=429, retry_after=17.0)
    started = clock.now()
    await _spend(budget, WRITES)
    assert (clock.now() - started).total_seconds() >= 16.9
    snap = {b.kind: b for b in budget.snapshot()}
    assert snap[WRITES].throttled == 1 and snap[WRITES].spent == 2


async def test_hourly_allowance_in_headers_switches_the_model() -> None:
    clock = ScaledClock(speed=20)
    budget = RequestBudget(clock)
    changed: list[str] = []
    budget.on_model_change(lambda b: changed.append(f"{b.kind}:{b.model.name}"))
    assert budget.spendable_per_second(SUB, READS) == pytest.approx(12.5)
    await budget.acquire(SUB, READS)
    budget.observe(SUB, READS, remaining=11_999, status=200)
    assert changed == ["reads:hourly"]
    # Half of 12,000 per hour.
    assert budget.spendable_per_second(SUB, READS) == pytest.approx(6_000 / 3600)


async def test_competing_lanes_share_by_weight_and_none_starves() -> None:
    clock = ScaledClock(speed=20)
    budget = RequestBudget(
        clock,
        share=1.0,
        models={READS: BucketModel(1, 50.0)},
        weights={"arm.connections": 8.0, "arm.bgp": 1.0},
        detect_hourly=False,
    )
    await _spend(budget)  # empty the bucket so every grant below is paced
    order: list[str] = []

    async def lane(name: str, count: int) -> None:
        async def one() -> None:
            await _spend(budget, READS, name)
            order.append(name)

        await asyncio.gather(*(one() for _ in range(count)))

    await asyncio.gather(lane("arm.connections", 80), lane("arm.bgp", 80))
    first = order[:45]
    assert 36 <= first.count("arm.connections") <= 42  # 8 of every 9 while both wait
    assert first.count("arm.bgp") >= 3  # the light lane still gets its share
    assert order[-30:] == ["arm.bgp"] * 30  # and all of the bucket once alone


async def test_a_manual_clock_never_waits() -> None:
    budget = RequestBudget(ManualClock(), models={READS: BucketModel(2, 0.001)})
    for _ in range(50):
        await budget.acquire(SUB, READS)
    assert budget.bucket(SUB, READS).spent == 50
