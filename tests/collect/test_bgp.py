"""BgpCollector against the emulator: the getBgpPeerStatus LRO, one row per (instance, peer)."""

from __future__ import annotations

import time

from collect_helpers import (
    HUB,
    TWO_SUBSCRIPTIONS,
    RecordingObserver,
    emulator_settings,
    of_type,
    run_of,
)

from vpnwatch.clock import ManualClock
from vpnwatch.collect.base import Scope
from vpnwatch.collect.bgp import BgpCollector
from vpnwatch.collect.clients import AzureClients
from vpnwatch.emulator import Emulator, load_scenario
from vpnwatch.observations import (
    BgpPeerState,
    BgpStatusObserved,
    CollectionRun,
    FailureCause,
    ResourceUnknown,
)

NETWORK = f"/subscriptions/{HUB}/resourceGroups/rg-hub-weu/providers/Microsoft.Network"
AA = f"{NETWORK}/virtualNetworkGateways/vpngw-hub-aa"
INSTANCE_0, INSTANCE_1 = "10.10.255.228", "10.10.255.229"
AMSTERDAM, FRANKFURT = "192.168.10.254", "192.168.20.254"


def _rows(status: BgpStatusObserved) -> dict[tuple[str, str], object]:
    return {(p.local_address, p.neighbor): p for p in status.peers}


async def test_peer_status_per_instance_and_neighbor(
    emulator: Emulator, clients: AzureClients, clock: ManualClock
) -> None:
    observations = await BgpCollector(clients, clock, 30).collect(Scope(HUB, ("rg-hub-weu",)))

    statuses = of_type(observations, BgpStatusObserved)
    # Only the BGP-enabled VPN gateway is asked: not the static one, not the ExpressRoute one.
    assert set(statuses) == {"vpngw-hub-aa"}
    status = statuses["vpngw-hub-aa"]
    assert status.gateway_id == AA and status.observed_at == clock.now()
    rows = _rows(status)
    assert set(rows) == {
        (INSTANCE_0, AMSTERDAM),
        (INSTANCE_0, FRANKFURT),
        (INSTANCE_1, AMSTERDAM),
        (INSTANCE_1, FRANKFURT),
    }
    for (_, neighbor), peer in rows.items():
        assert peer.state is BgpPeerState.CONNECTED
        assert peer.asn == (65010 if neighbor == AMSTERDAM else 65020)
        assert peer.routes_received == (12 if neighbor == AMSTERDAM else 8)
        assert peer.connected_seconds is not None and peer.connected_seconds > 3600

    run = run_of(observations)
    assert run.ok and run.resource_ids == (AA,)
    calls = [(r.method, r.path.rsplit("/", 2)[-2]) for r in emulator.requests]
    assert ("POST", "vpngw-hub-aa") in calls  # .../vpngw-hub-aa/getBgpPeerStatus
    # The operation's Location is polled until it answers with the result: a 202 while it
    # runs, then a 200. The status monitor, which would cost one read more, is never asked.
    polls = [r.status for r in emulator.requests if "/operationResults/" in r.path]
    assert polls == [202, 200]
    assert not any("/operations/" in r.path for r in emulator.requests)


async def test_instance_failure_and_peer_down_show_in_the_rows(
    emulator: Emulator, clients: AzureClients, clock: ManualClock
) -> None:
    collector = BgpCollector(clients, clock, 30)
    scope = Scope(HUB, ("rg-hub-weu",))
    clock.advance(150)

    rows = _rows(of_type(await collector.collect(scope), BgpStatusObserved)["vpngw-hub-aa"])

    assert rows[(INSTANCE_0, AMSTERDAM)].state is BgpPeerState.CONNECTED
    assert rows[(INSTANCE_0, FRANKFURT)].state is BgpPeerState.IDLE  # bgp_peer_down, instance 0
    for neighbor in (AMSTERDAM, FRANKFURT):  # instance 1 failed: its sessions are unknown
        peer = rows[(INSTANCE_1, neighbor)]
        assert peer.state is BgpPeerState.UNKNOWN
        assert (peer.routes_received, peer.connected_seconds) == (0, None)

    clock.advance(100)
    rows = _rows(of_type(await collector.collect(scope), BgpStatusObserved)["vpngw-hub-aa"])
    assert all(p.state is BgpPeerState.CONNECTED for p in rows.values())
    # The sessions came back at 220 s; 30 s later that is their connected duration.
    assert rows[(INSTANCE_1, AMSTERDAM)].connected_seconds == 30.0


class ThrottleDuringPolls(RecordingObserver):
    """Time passes while an LRO runs: once the POST is accepted, the clock moves into the
    scenario's throttling window, so every poll of that operation is answered 429."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__()
        self.clock = clock
        self.moved = False

    def on_request(
        self,
        operation: str,
        status: int | None,
        seconds: float,
        remaining_reads: int | None,
        *,
        subscription: str = "",
    ) -> None:
        super().on_request(
            operation, status, seconds, remaining_reads, subscription=subscription
        )
        if operation == "POST getBgpPeerStatus" and not self.moved:
            self.moved = True
            self.clock.advance(300)  # the throttle fault runs from 300 to 360 s


async def test_failed_lro_is_unknown_bgp_not_a_failed_run(
    emulator: Emulator, clock: ManualClock
) -> None:
    observer = ThrottleDuringPolls(clock)
    settings = emulator_settings(emulator.base_url)
    async with AzureClients(settings, observer=observer) as clients:
        observations = await BgpCollector(clients, clock, 30).collect(Scope(HUB, ("rg-hub-weu",)))

    unknown = [o for o in observations if isinstance(o, ResourceUnknown)]
    assert len(unknown) == 1
    assert (unknown[0].resource_id, unknown[0].kind) == (AA, "bgp")
    assert unknown[0].cause is FailureCause.THROTTLED
    assert "SubscriptionRequestsThrottled" in unknown[0].reason
    assert not [o for o in observations if isinstance(o, BgpStatusObserved)]
    run = run_of(observations)
    assert isinstance(run, CollectionRun) and run.ok  # the gateway list itself was read
    assert run.throttled == 4  # the first poll and its three retries


async def test_an_lro_that_never_finishes_times_out(clock: ManualClock) -> None:
    # The status monitor asks for 5 s between polls; the run allows 3 x 0.2 s in total.
    async with Emulator(
        load_scenario(TWO_SUBSCRIPTIONS), clock=clock, port=0, lro_retry_after_ms=5000
    ) as emu:
        settings = emulator_settings(emu.base_url, timeout_seconds=0.2)
        async with AzureClients(settings) as clients:
            started = time.monotonic()
            observations = await BgpCollector(clients, clock, 30).collect(
                Scope(HUB, ("rg-hub-weu",))
            )
            elapsed = time.monotonic() - started

    unknown = [o for o in observations if isinstance(o, ResourceUnknown)]
    assert [(u.resource_id, u.kind, u.cause) for u in unknown] == [
        (AA, "bgp", FailureCause.TIMEOUT)
    ]
    assert "getBgpPeerStatus" in unknown[0].reason
    assert run_of(observations).ok
    assert elapsed < 3
