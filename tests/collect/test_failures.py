"""Failures become "unknown, because ..." with the right cause, never a stale "up"."""

from __future__ import annotations

import pytest
from collect_helpers import HUB, TWO_SUBSCRIPTIONS, emulator_settings, of_type, run_of

from vpnwatch.clock import ManualClock
from vpnwatch.collect import build_collectors
from vpnwatch.collect.base import Scope
from vpnwatch.collect.clients import AzureClients
from vpnwatch.collect.connections import ConnectionCollector
from vpnwatch.emulator import Emulator, load_scenario
from vpnwatch.observations import CollectionRun, ConnectionObserved, FailureCause

HUB_SCOPE = Scope(HUB, ("rg-hub-weu",))


@pytest.mark.parametrize(
    ("at", "cause", "code", "attempts"),
    [
        (300, FailureCause.THROTTLED, "SubscriptionRequestsThrottled", 4),
        (400, FailureCause.SERVER_ERROR, "ServiceUnavailable", 4),
        (500, FailureCause.AUTH, "InvalidAuthenticationToken", 1),
    ],
)
async def test_api_faults_fail_every_collector_run(
    emulator: Emulator,
    clients: AzureClients,
    clock: ManualClock,
    at: float,
    cause: FailureCause,
    code: str,
    attempts: int,
) -> None:
    clock.advance(at)
    settings = emulator_settings(emulator.base_url)

    for collector in build_collectors(settings, clients, clock):
        observations = await collector.collect(HUB_SCOPE)

        assert len(observations) == 1, collector.name  # nothing but the failed run
        run = run_of(observations)
        assert (run.ok, run.cause) == (False, cause), collector.name
        if collector.name == "arm.resourcehealth":  # one read for the whole subscription
            assert code in run.reason and HUB in run.reason and run.extra == {}
            continue
        assert code in run.reason and "rg-hub-weu" in run.reason
        assert run.extra == {"failed_resource_groups": "rg-hub-weu"}
        assert run.resource_ids == ()
        if collector.name == "arm.connections":
            assert run.requests == attempts  # retried (or not, for 401) as configured
            assert run.throttled == (attempts if cause is FailureCause.THROTTLED else 0)


async def test_wrong_token_is_an_auth_failure(emulator: Emulator, clock: ManualClock) -> None:
    settings = emulator_settings(emulator.base_url, token="not-the-emulator-token")
    async with AzureClients(settings) as clients:
        observations = await ConnectionCollector(clients, clock, 15).collect(HUB_SCOPE)

    run = run_of(observations)
    assert (run.ok, run.cause) == (False, FailureCause.AUTH)
    assert "AuthenticationFailed" in run.reason and "Reader" in run.reason


async def test_stopped_emulator_is_unreachable(clock: ManualClock) -> None:
    async with Emulator(load_scenario(TWO_SUBSCRIPTIONS), clock=clock, port=0) as emu:
        base_url = emu.base_url
    settings = emulator_settings(base_url, retry_total=1)
    async with AzureClients(settings) as clients:
        observations = await ConnectionCollector(clients, clock, 15).collect(HUB_SCOPE)

    run = run_of(observations)
    assert (run.ok, run.cause) == (False, FailureCause.UNREACHABLE)
    assert "127.0.0.1" in run.reason
    assert run.requests == 2 and run.throttled == 0  # both attempts seen, no status


async def test_a_missing_group_fails_the_run_but_keeps_what_was_seen(
    emulator: Emulator, clients: AzureClients, clock: ManualClock
) -> None:
    observations = await ConnectionCollector(clients, clock, 15).collect(
        Scope(HUB, ("rg-hub-weu", "rg-gone"))
    )

    assert len(of_type(observations, ConnectionObserved)) == 4
    run = run_of(observations)
    assert (run.ok, run.cause) == (False, FailureCause.NOT_FOUND)
    assert "ResourceGroupNotFound" in run.reason
    assert run.extra == {"failed_resource_groups": "rg-gone"}
    assert len(run.resource_ids) == 4


async def test_recovery_after_the_fault_window(
    emulator: Emulator, clients: AzureClients, clock: ManualClock
) -> None:
    collector = ConnectionCollector(clients, clock, 15)
    clock.advance(500)
    failed = run_of(await collector.collect(HUB_SCOPE))
    clock.advance(60)  # the auth failure ended at 560 s
    observations = await collector.collect(HUB_SCOPE)

    assert not failed.ok
    assert isinstance(observations[-1], CollectionRun) and observations[-1].ok
    assert len(of_type(observations, ConnectionObserved)) == 4
