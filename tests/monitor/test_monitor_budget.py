"""Azure Monitor calls go through the same budget and planner as ARM reads, against limits of
their own: a metrics pass spends the subscription's metrics-batch bucket and none of ARM's read
budget, Log Analytics queries are paced under the caller's 200 per 30 seconds, and at most five
run at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from monitor_helpers import FLEET, SUB, TOKEN, monitor_settings

from vpnwatch.clock import ManualClock, ScaledClock
from vpnwatch.collect.base import Scope
from vpnwatch.collect.budget import (
    LOG_ANALYTICS,
    LOG_QUERIES,
    METRICS,
    READS,
    RequestBudget,
)
from vpnwatch.collect.clients import LOGS_LANE, AzureClients
from vpnwatch.collect.lanes import monitor_charge, request_kind
from vpnwatch.collect.metrics import MetricsCollector
from vpnwatch.emulator import Emulator, load_scenario


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def emulator(clock: ManualClock) -> AsyncIterator[Emulator]:
    async with Emulator(load_scenario(FLEET), clock=clock, port=0, token=TOKEN) as emu:
        yield emu


def test_each_monitor_request_names_its_own_bucket() -> None:
    batch = f"https://westeurope.metrics.monitor.azure.com/subscriptions/{SUB}/metrics:getBatch"
    query = "https://api.loganalytics.io/v1/workspaces/3f2d7c55-0000/query"
    assert monitor_charge("POST", f"{batch}?api-version=2024-02-01") == (SUB, METRICS)
    assert monitor_charge("POST", query) == (LOG_ANALYTICS, LOG_QUERIES)
    # ARM's own pacing would have charged the batch call to the subscription's writes.
    assert request_kind("POST", batch) == (SUB, "writes")
    assert monitor_charge("GET", f"https://management.azure.com/subscriptions/{SUB}") is None


async def test_a_metrics_pass_spends_its_own_bucket_and_no_arm_read(
    emulator: Emulator, clock: ManualClock
) -> None:
    clock.advance(1800)
    async with AzureClients(monitor_settings(emulator.base_url), clock=clock) as clients:
        collector = MetricsCollector(clients, clock, 60)
        await collector.collect(Scope(SUB))
        spent = {(b.key.lower(), b.kind): b.spent for b in clients.budget.snapshot()}
        plan = clients.planner.plans()[(collector.name, SUB.lower())]

    served = emulator.counters.of(SUB)
    assert served["metrics"] == 15  # three batches, five queries each
    assert spent[(SUB.lower(), METRICS)] == served["metrics"]
    # ARM reads: only the listings that say which gateways and circuits to ask about.
    assert spent[(SUB.lower(), READS)] == served["list"] > 0
    # The planner chose every batch (the limit affords far more) and knows what it promised.
    assert plan.total == 3 and len(plan.read) == 3
    assert plan.affordable_per_second > 1


async def test_log_queries_are_paced_under_the_callers_limit() -> None:
    clock = ScaledClock(speed=60)
    budget = RequestBudget(clock, share=0.5)
    started = clock.now()

    async def query() -> None:
        await budget.acquire(LOG_ANALYTICS, LOG_QUERIES, LOGS_LANE)
        budget.observe(LOG_ANALYTICS, LOG_QUERIES, status=200)  # no remaining header

    # Half of 200 go out at once, concurrently (Log Analytics reports nothing left to wait
    # for); the next 50 wait for the refill: 200 per 30 s, half of it, is 3.3 per second.
    await asyncio.gather(*(query() for _ in range(100)))
    burst = (clock.now() - started).total_seconds()
    await asyncio.gather(*(query() for _ in range(50)))
    paced = (clock.now() - started).total_seconds() - burst
    assert burst < 2.0
    assert 13.0 <= paced <= 20.0
    assert budget.bucket(LOG_ANALYTICS, LOG_QUERIES).spent == 150


async def test_a_throttled_query_stops_every_query_until_retry_after() -> None:
    clock = ScaledClock(speed=60)
    budget = RequestBudget(clock)
    await budget.acquire(LOG_ANALYTICS, LOG_QUERIES)
    budget.observe(LOG_ANALYTICS, LOG_QUERIES, status=429, retry_after=20.0)
    started = clock.now()
    await budget.acquire(LOG_ANALYTICS, LOG_QUERIES)
    assert (clock.now() - started).total_seconds() >= 19.9


async def test_at_most_five_queries_run_at_once(clock: ManualClock) -> None:
    settings = monitor_settings("http://127.0.0.1:9", max_concurrency=8)
    async with AzureClients(settings, clock=clock) as clients:
        assert clients.lanes.get(LOGS_LANE).concurrency == 5
        assert clients.lanes.get("arm.connections").concurrency == 8
