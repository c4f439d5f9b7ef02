"""Throttling: a budget that leaves room for others never meets a 429; one that spends the whole
bucket meets them, and the SDK's retry policy absorbs them: the run succeeds and counts them."""

from __future__ import annotations

from collect_helpers import READ_QUOTA, RecordingObserver, emulator_settings, of_type, run_of

from vpnwatch.clock import ScaledClock
from vpnwatch.collect.base import Scope
from vpnwatch.collect.clients import AzureClients
from vpnwatch.collect.gateways import GatewayCollector
from vpnwatch.emulator import Emulator, load_scenario
from vpnwatch.observations import GatewayObserved

SUBSCRIPTION = "0b0b0b0b-0000-4000-8000-000000000001"


async def test_read_quota_exhausted_then_refilled() -> None:
    # The quota refills in scenario time; at 5x a token is 2 s of wall time (slow enough that
    # a loaded machine does not refill the bucket between two reads), and the emulator
    # announces exactly that wait in `retry-after-ms`. One call at a time makes the burst
    # deterministic: a read that finds the bucket empty is refused once, then succeeds.
    # Spending the whole bucket (share 1) is what lets the reads run into the empty bucket.
    clock = ScaledClock(speed=5)
    observer = RecordingObserver()
    async with Emulator(load_scenario(READ_QUOTA), clock=clock, port=0) as emu:
        settings = emulator_settings(
            emu.base_url, subscriptions=[SUBSCRIPTION], max_concurrency=1, budget={"share": 1.0}
        )
        async with AzureClients(settings, observer=observer) as clients:
            observations = await GatewayCollector(clients, clock, 300).collect(
                Scope(SUBSCRIPTION, ("rg-throttled",))
            )
        statuses = [r.status for r in emu.requests]

    run = run_of(observations)
    assert run.ok, run.reason
    assert statuses.count(429) >= 1 and statuses.count(200) == 3  # gateways, sites, public IPs
    assert run.throttled == statuses.count(429)
    assert run.requests == len(statuses)
    gateways = of_type(observations, GatewayObserved)
    assert set(gateways) == {"vpngw-a", "vpngw-b"}
    assert len(gateways["vpngw-a"].instances) == 2
    assert gateways["vpngw-b"].zonal_zone == "1"
    # The observer saw each refused attempt with the quota header at zero.
    refused = [call for call in observer.calls if call[1] == 429]
    assert len(refused) == run.throttled
    assert all(call[3] == 0 for call in refused)


async def test_drained_bucket_slows_the_collector_instead_of_meeting_429() -> None:
    # The same nearly empty bucket (2 reads, refilled at one per 10 s) with the default share:
    # the headers say the subscription has less left than the half kept for other readers, so
    # every read waits for the refill and Azure never has to refuse one.
    clock = ScaledClock(speed=100)
    async with Emulator(load_scenario(READ_QUOTA), clock=clock, port=0) as emu:
        settings = emulator_settings(emu.base_url, subscriptions=[SUBSCRIPTION])
        started = clock.now()
        async with AzureClients(settings, clock=clock) as clients:
            observations = await GatewayCollector(clients, clock, 300).collect(
                Scope(SUBSCRIPTION, ("rg-throttled",))
            )
            snapshot = {b.kind: b for b in clients.budget.snapshot()}
        took = (clock.now() - started).total_seconds()
        statuses = [r.status for r in emu.requests]

    run = run_of(observations)
    assert run.ok, run.reason
    assert statuses == [200] * 3 and run.throttled == 0
    assert set(of_type(observations, GatewayObserved)) == {"vpngw-a", "vpngw-b"}
    # Three reads at the subscription's refill pace take scenario time, not none.
    assert took >= 10
    assert snapshot["reads"].spent == 3 and snapshot["reads"].throttled == 0
    assert snapshot["reads"].remaining is not None and snapshot["reads"].remaining <= 2
