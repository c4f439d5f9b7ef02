"""Lanes: a long-running operation holds its collector's slot only while a request is in flight,
so the waits between status polls of several operations overlap."""

from __future__ import annotations

import time

from collect_helpers import HUB, TWO_SUBSCRIPTIONS, emulator_settings, of_type, run_of

from vpnwatch.clock import ManualClock
from vpnwatch.collect.base import Scope
from vpnwatch.collect.clients import AzureClients
from vpnwatch.collect.expressroute import ExpressRouteCollector
from vpnwatch.collect.lanes import request_kind
from vpnwatch.emulator import Emulator, load_scenario
from vpnwatch.observations import CircuitObserved


async def test_lro_waits_hold_no_slot() -> None:
    # Each route-table summary is a POST, then polls 1 s apart (Azure announces its own wait
    # in retry-after). One slot per lane: if a wait held the slot, the primary and secondary
    # summaries of the circuit would run one after the other (2 x 1 s at least).
    clock = ManualClock()
    async with Emulator(
        load_scenario(TWO_SUBSCRIPTIONS), clock=clock, port=0, lro_retry_after_ms=1000
    ) as emu:
        settings = emulator_settings(emu.base_url, max_concurrency=1)
        async with AzureClients(settings, clock=clock) as clients:
            lane = clients.lanes.get("arm.expressroute")
            started = time.monotonic()
            observations = await ExpressRouteCollector(clients, clock, 30).collect(
                Scope(HUB, ("rg-hub-weu",))
            )
            elapsed = time.monotonic() - started
            assert lane.in_flight == 0
    assert run_of(observations).ok
    circuit = of_type(observations, CircuitObserved)["er-amsterdam"]
    private = next(p for p in circuit.peerings if p.name == "AzurePrivatePeering")
    assert {link.device_path for link in private.links} == {"primary", "secondary"}
    assert 0.95 <= elapsed < 1.8


def test_requests_are_charged_to_their_subscription_as_reads_or_writes() -> None:
    base = "https://management.azure.com/subscriptions/S1/resourceGroups/rg/providers"
    assert request_kind("GET", f"{base}/Microsoft.Network/connections/c1?api-version=x") == (
        "S1",
        "reads",
    )
    post = f"{base}/Microsoft.Network/virtualNetworkGateways/gw/getBgpPeerStatus"
    assert request_kind("POST", post) == ("S1", "writes")
    assert request_kind("GET", "https://management.azure.com/subscriptions?api-version=x") is None
