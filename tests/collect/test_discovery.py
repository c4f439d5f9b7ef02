"""Discovery across subscriptions against the emulator, and collecting what it found."""

from __future__ import annotations

import pytest
from collect_helpers import HUB, SPOKE, emulator_settings, of_type, run_of

from vpnwatch.clock import ManualClock
from vpnwatch.collect.base import Scope
from vpnwatch.collect.clients import AzureClients
from vpnwatch.collect.connections import ConnectionCollector
from vpnwatch.collect.discovery import DiscoveryError, discover
from vpnwatch.emulator import Emulator
from vpnwatch.observations import ConnectionObserved, FailureCause


async def test_discover_all_finds_both_subscriptions_and_their_groups(
    emulator: Emulator, clients: AzureClients, clock: ManualClock
) -> None:
    targets = emulator_settings(emulator.base_url, subscriptions=[], discover_all=True).targets

    scopes = await discover(clients, targets)

    assert scopes == [
        Scope(HUB, ("rg-hub-weu",)),
        Scope(SPOKE, ("rg-spoke-empty", "rg-spoke-neu")),
    ]
    # Every discovered scope is collectable: all five connections across both subscriptions.
    collector = ConnectionCollector(clients, clock, 15)
    seen: dict[str, ConnectionObserved] = {}
    for scope in scopes:
        observations = await collector.collect(scope)
        assert run_of(observations).ok
        seen.update(of_type(observations, ConnectionObserved))
    assert {c.subscription_id for c in seen.values()} == {HUB, SPOKE}
    assert len(seen) == 5


async def test_resource_group_filter_is_case_insensitive_and_keeps_azure_spelling(
    emulator: Emulator, clients: AzureClients
) -> None:
    targets = emulator_settings(
        emulator.base_url, resource_groups=["RG-HUB-WEU", "Rg-Spoke-Neu"]
    ).targets

    scopes = await discover(clients, targets)

    assert scopes == [Scope(HUB, ("rg-hub-weu",)), Scope(SPOKE, ("rg-spoke-neu",))]


async def test_listed_subscription_only_and_no_scope_without_a_matching_group(
    emulator: Emulator, clients: AzureClients
) -> None:
    targets = emulator_settings(
        emulator.base_url, subscriptions=[SPOKE, HUB.upper()], resource_groups=["rg-hub-weu"]
    ).targets

    scopes = await discover(clients, targets)

    # The spoke has no rg-hub-weu: it yields no scope rather than "every group".
    assert scopes == [Scope(HUB.upper(), ("rg-hub-weu",))]


async def test_discovery_failure_carries_cause_and_reason(
    emulator: Emulator, clients: AzureClients, clock: ManualClock
) -> None:
    clock.advance(500)  # credentials revoked
    targets = emulator_settings(emulator.base_url, subscriptions=[], discover_all=True).targets

    with pytest.raises(DiscoveryError) as raised:
        await discover(clients, targets)

    assert raised.value.cause is FailureCause.AUTH
    assert "list subscriptions" in raised.value.reason
    assert "InvalidAuthenticationToken" in raised.value.reason


async def test_unknown_subscription_is_reported_with_what_was_found(
    emulator: Emulator, clients: AzureClients
) -> None:
    missing = "0a0a0a0a-0000-4000-8000-0000000000ff"
    targets = emulator_settings(emulator.base_url, subscriptions=[HUB, missing]).targets

    with pytest.raises(DiscoveryError) as raised:
        await discover(clients, targets)

    assert raised.value.subscription_id == missing
    assert raised.value.cause is FailureCause.NOT_FOUND
    assert "SubscriptionNotFound" in raised.value.reason
    assert raised.value.scopes == (Scope(HUB, ("rg-hub-weu",)),)
