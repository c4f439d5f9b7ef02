"""The metrics collector with the real `MetricsClient` against the emulator's batch endpoint:
batches of at most 50 ids, one resource failing inside a batch, throttling, and grains that have
not landed yet never read as zero."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from azure.core.exceptions import HttpResponseError
from monitor_helpers import FAILING_GATEWAY, FLEET, P2S_GATEWAY, SUB, TOKEN, monitor_settings

from vpnwatch.clock import ManualClock
from vpnwatch.collect.base import Scope
from vpnwatch.collect.clients import AzureClients
from vpnwatch.collect.metrics import MetricsCollector
from vpnwatch.emulator import Emulator, load_scenario
from vpnwatch.observations import CollectionRun, FailureCause, MetricObserved, Observation


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def emulator(clock: ManualClock) -> AsyncIterator[Emulator]:
    async with Emulator(load_scenario(FLEET), clock=clock, port=0, token=TOKEN) as emu:
        yield emu


@pytest.fixture
async def clients(emulator: Emulator) -> AsyncIterator[AzureClients]:
    async with AzureClients(monitor_settings(emulator.base_url)) as made:
        yield made


def _run(observations: list[Observation]) -> CollectionRun:
    runs = [o for o in observations if isinstance(o, CollectionRun)]
    assert len(runs) == 1 and observations[-1] is runs[0]
    return runs[0]


def _metrics(observations: list[Observation], name: str) -> list[MetricObserved]:
    return [o for o in observations if isinstance(o, MetricObserved) and o.metric == name]


async def test_batches_of_at_most_50_ids_and_one_failing_resource(
    emulator: Emulator, clients: AzureClients, clock: ManualClock
) -> None:
    clock.advance(1800)
    collector = MetricsCollector(clients, clock, 60)
    observations = await collector.collect(Scope(SUB))
    run = _run(observations)

    # 56 gateways in westeurope (two calls), 3 in northeurope (one call), five queries each.
    batch_posts = [r for r in emulator.requests if r.path.endswith("metrics:getBatch")]
    assert run.extra["batches"] == "3"
    assert len(batch_posts) == 15
    assert all(r.status == 200 for r in batch_posts)
    assert run.ok, run.reason
    # The gateway whose metrics fail costs only itself.
    assert run.extra["failed_resources"] == FAILING_GATEWAY.lower()
    bandwidth = _metrics(observations, "TunnelAverageBandwidth")
    seen = {o.resource_id.lower() for o in bandwidth}
    assert len(seen) == 58
    assert FAILING_GATEWAY.lower() not in seen
    # Results are mapped back to their resource through each metric's id, with dimensions.
    p2s = [o for o in bandwidth if o.resource_id.lower() == P2S_GATEWAY.lower()]
    assert {o.dimension("connectionname") for o in p2s} == {"cn-p2s-site"}
    assert all(o.grain_seconds == 300 and o.value > 0 for o in p2s)


async def test_packet_drops_and_p2s_sessions_come_through(
    clients: AzureClients, clock: ManualClock
) -> None:
    clock.advance(1200)  # drops since 600 s; the P2S gateway has not failed over yet
    observations = await MetricsCollector(clients, clock, 60).collect(Scope(SUB))
    drops = [
        o
        for o in _metrics(observations, "TunnelIngressPacketDropCount")
        if o.resource_id.lower() == P2S_GATEWAY.lower()
    ]
    assert drops and drops[0].value == 20 * 300
    sessions = [
        o
        for o in _metrics(observations, "P2SConnectionCount")
        if o.resource_id.lower() == P2S_GATEWAY.lower()
    ]
    assert sum(o.value for o in sessions) == 40
    assert all(o.grain_seconds == 60 for o in sessions)

    clock.advance(400)  # 1600 s: the failover at 1200 s disconnected every P2S user
    later = await MetricsCollector(clients, clock, 60).collect(Scope(SUB))
    sessions = [
        o
        for o in _metrics(later, "P2SConnectionCount")
        if o.resource_id.lower() == P2S_GATEWAY.lower()
    ]
    by_instance = {o.dimension("instance"): o.value for o in sessions}
    assert by_instance["GatewayTenantWorker_IN_1"] < 40  # users still reconnecting


async def test_grains_not_landed_yet_are_not_reported(
    clients: AzureClients, clock: ManualClock
) -> None:
    clock.advance(200)  # the grain that began at 0 s closes at 300 s and lands at 480 s
    observations = await MetricsCollector(clients, clock, 60).collect(Scope(SUB))
    assert _run(observations).ok
    bandwidth = _metrics(observations, "TunnelAverageBandwidth")
    assert bandwidth
    # Every series reports the grain before the scenario, the newest one Azure has aggregated,
    # and none reads the grain still being aggregated as zero.
    latest = {o.at for o in bandwidth}
    assert latest == {clock.now() - timedelta(seconds=200 + 300)}
    assert all(o.value > 0 for o in bandwidth)


async def test_throttled_batch_fails_the_run_then_recovers(
    clients: AzureClients, clock: ManualClock
) -> None:
    clock.advance(3002)  # inside the 10 s throttle; the manual clock does not move on retries
    collector = MetricsCollector(clients, clock, 60)
    run = _run(await collector.collect(Scope(SUB)))
    assert not run.ok
    assert run.cause is FailureCause.THROTTLED
    assert run.throttled >= 3

    clock.advance(30)
    again = await collector.collect(Scope(SUB))
    assert _run(again).ok
    assert _metrics(again, "AverageBandwidth")


async def test_the_service_refuses_more_than_50_ids(
    clients: AzureClients, clock: ManualClock
) -> None:
    clock.advance(1800)
    client = clients.metrics("westeurope")
    ids = [P2S_GATEWAY] * 51
    with pytest.raises(HttpResponseError) as refused:
        await client.query_resources(
            resource_ids=ids,
            metric_namespace="Microsoft.Network/virtualNetworkGateways",
            metric_names=["AverageBandwidth"],
            timespan=(clock.now() - timedelta(minutes=20), clock.now()),
            granularity=timedelta(minutes=5),
        )
    assert refused.value.status_code == 400
    with pytest.raises(HttpResponseError) as too_fine:
        await client.query_resources(
            resource_ids=[P2S_GATEWAY],
            metric_namespace="Microsoft.Network/virtualNetworkGateways",
            metric_names=["TunnelAverageBandwidth"],
            timespan=(clock.now() - timedelta(minutes=20), clock.now()),
            granularity=timedelta(minutes=1),
        )
    assert too_fine.value.status_code == 400
