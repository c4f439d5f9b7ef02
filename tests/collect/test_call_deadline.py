"""Every Azure call is done or failed within its deadline (`collect/retry.py`), whatever the fault.

The emulator plays the `monitoring-blind` hub ten times faster than the wall clock, with one API
fault from the start; the collector reads through the real SDK clients on the same clock, with
the default deadline (half the 15 s connections interval: 7.5 scenario seconds).
"""

from __future__ import annotations

import copy
from typing import Any

import yaml
from collect_helpers import emulator_settings, run_of

from vpnwatch.clock import ScaledClock
from vpnwatch.collect.base import Scope
from vpnwatch.collect.clients import AzureClients
from vpnwatch.collect.gateways import GatewayCollector
from vpnwatch.emulator import Emulator
from vpnwatch.emulator.scenario import Scenario, parse_scenario, scenario_path
from vpnwatch.observations import CollectionRun, FailureCause

SUBSCRIPTION = "6f1d3c2a-0000-4000-8000-00000000b101"
SPEED = 10.0
DEADLINE = 7.5  # scenario seconds: the default, half the connections interval


def hub(*timeline: dict[str, Any]) -> Scenario:
    raw = copy.deepcopy(yaml.safe_load(scenario_path("monitoring-blind").read_text()))
    raw.update(name="deadline", duration=600, timeline=list(timeline), expect=[])
    return parse_scenario(raw, source="deadline")


async def collect_once(scenario: Scenario, **collectors: Any) -> tuple[CollectionRun, float, list]:
    """One gateways pass; (its run, scenario seconds it took, the emulator's answers)."""
    clock = ScaledClock(speed=SPEED)
    async with Emulator(scenario, clock=clock, port=0) as emu:
        settings = emulator_settings(
            emu.base_url,
            subscriptions=[SUBSCRIPTION],
            retry_backoff_seconds=0.8,
            timeout_seconds=20,
            **collectors,
        )
        async with AzureClients(settings, clock=clock) as clients:
            began = clock.now()
            observations = await GatewayCollector(clients, clock, 300).collect(Scope(SUBSCRIPTION))
            took = (clock.now() - began).total_seconds()
        return run_of(observations), took, [r.status for r in emu.requests]


async def test_a_short_429_is_retried_inside_the_deadline_and_the_pass_succeeds() -> None:
    # every read is refused for the first five scenario seconds (half a second of wall time, so
    # a loaded machine's first request still meets it), asking to retry after 2 s: at most
    # three refusals, and the read that succeeds is still inside the 7.5 s deadline
    run, took, statuses = await collect_once(
        hub({"at": 0, "duration": 5, "kind": "throttle", "retry_after": 2})
    )
    assert run.ok, run.reason
    assert statuses[0] == 429 and 200 in statuses
    assert run.throttled >= 1  # counted, for the budget and the request metrics
    assert took < DEADLINE * 2


async def test_a_429_asking_for_longer_than_the_deadline_fails_at_once_as_throttled() -> None:
    # Retry-After 30 s: three SDK retries used to hold the call for 90 s
    run, took, statuses = await collect_once(
        hub({"at": 0, "duration": 300, "kind": "throttle", "retry_after": 30})
    )
    assert not run.ok and run.cause is FailureCause.THROTTLED
    assert statuses == [429]  # not asked again before the Retry-After has passed
    assert took < DEADLINE


async def test_a_503_storm_fails_within_the_deadline() -> None:
    run, took, statuses = await collect_once(
        hub({"at": 0, "duration": 300, "kind": "api_unavailable", "retry_after": 10})
    )
    assert not run.ok and run.cause is FailureCause.SERVER_ERROR
    assert statuses and set(statuses) == {503}
    assert took < DEADLINE


async def test_an_unanswered_request_fails_as_a_timeout_within_the_deadline() -> None:
    # the connection is held silent for 300 s; the per-attempt read timeout is 20 s
    run, took, _ = await collect_once(hub({"at": 0, "duration": 300, "kind": "no_response"}))
    assert not run.ok and run.cause is FailureCause.TIMEOUT, run.reason
    assert DEADLINE * 0.9 <= took <= DEADLINE * 1.5


async def test_slow_answers_within_the_deadline_succeed() -> None:
    run, took, statuses = await collect_once(
        hub({"at": 0, "duration": 300, "kind": "slow_responses", "delay": 2})
    )
    assert run.ok, run.reason
    assert set(statuses) == {200}
    assert took >= 2  # really slow: each answer waited 2 scenario seconds


async def test_a_fault_scoped_to_another_subscription_leaves_this_one_alone() -> None:
    run, _, statuses = await collect_once(
        hub(
            {
                "at": 0,
                "duration": 300,
                "kind": "api_unavailable",
                "subscription": "6f1d3c2a-0000-4000-8000-00000000ffff",
            },
            {"at": 0, "duration": 300, "kind": "auth_failure", "match": "/publicIPAddresses"},
        )
    )
    assert not run.ok and run.cause is FailureCause.AUTH  # only the public IP reads failed
    assert 503 not in statuses and 401 in statuses and 200 in statuses
