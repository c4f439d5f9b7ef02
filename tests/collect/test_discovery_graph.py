"""Discovery through Azure Resource Graph against the emulator: only the resource groups that
hold watched resources, ARM listings where Graph cannot answer, and Graph's own quota kept."""

from __future__ import annotations

import logging

import pytest
import yaml
from collect_helpers import HUB, SPOKE, TOKEN, TWO_SUBSCRIPTIONS, emulator_settings, run_of

from vpnwatch.clock import ManualClock, ScaledClock
from vpnwatch.collect import resourcegraph
from vpnwatch.collect.base import Scope
from vpnwatch.collect.clients import AzureClients
from vpnwatch.collect.connections import ConnectionCollector
from vpnwatch.collect.discovery import Discoverer, discover
from vpnwatch.collect.graphquota import GRAPH, GRAPH_KEY
from vpnwatch.emulator import Emulator, load_scenario
from vpnwatch.emulator.rbac import RoleGrant
from vpnwatch.emulator.scenario import parse_scenario


def graph_requests(emulator: Emulator) -> list:
    return [r for r in emulator.requests if "microsoft.resourcegraph" in r.path.lower()]


def group_listings(emulator: Emulator) -> list:
    return [r for r in emulator.requests if r.path.lower().endswith("/resourcegroups")]


async def test_graph_names_only_the_groups_holding_watched_resources(
    emulator: Emulator, clients: AzureClients, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resourcegraph, "PAGE_ROWS", 2)  # every query follows its $skipToken
    targets = emulator_settings(emulator.base_url, subscriptions=[], discover_all=True).targets

    scopes = await discover(clients, targets, resource_graph=True)

    # The spoke's empty resource group is not polled; ARM discovery names it (test_discovery.py).
    assert scopes == [Scope(HUB, ("rg-hub-weu",)), Scope(SPOKE, ("rg-spoke-neu",))]
    assert group_listings(emulator) == []
    assert not [r for r in emulator.requests if r.path.rstrip("/").endswith("/subscriptions")]
    assert len(graph_requests(emulator)) > 3  # subscriptions, then resources, page by page
    assert all(r.status == 200 for r in graph_requests(emulator))


async def test_a_listed_subscription_graph_shows_nothing_in_is_listed_the_arm_way(
    emulator: Emulator, clients: AzureClients
) -> None:
    # Graph leaves out what the caller cannot read and lags behind creations: a subscription
    # asked for by name, in which it finds nothing, is checked through ARM.
    targets = emulator_settings(
        emulator.base_url, resource_groups=["rg-hub-weu", "rg-spoke-empty"]
    ).targets

    scopes = await discover(clients, targets, resource_graph=True)

    assert scopes == [Scope(HUB, ("rg-hub-weu",)), Scope(SPOKE, ("rg-spoke-empty",))]
    assert [r.path.split("/")[2] for r in group_listings(emulator)] == [SPOKE]


async def test_forbidden_graph_falls_back_to_arm_listings(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    no_graph = RoleGrant(actions=("*",), not_actions=("Microsoft.ResourceGraph/*",))
    async with Emulator(
        load_scenario(TWO_SUBSCRIPTIONS), clock=clock, port=0, token=TOKEN, grant=no_graph
    ) as emulator:
        settings = emulator_settings(emulator.base_url, subscriptions=[], discover_all=True)
        async with AzureClients(settings) as clients:
            with caplog.at_level(logging.WARNING, logger="vpnwatch.collect.discovery"):
                scopes = await discover(clients, settings.targets, resource_graph=True)

        assert scopes == [
            Scope(HUB, ("rg-hub-weu",)),
            Scope(SPOKE, ("rg-spoke-empty", "rg-spoke-neu")),
        ]
        assert [r.status for r in graph_requests(emulator)] == [403]  # not retried
        assert len(group_listings(emulator)) == 2
    assert any(
        "Resource Graph failed" in r.message and "AuthorizationFailed" in r.message
        for r in caplog.records
    )


async def test_graph_queries_stay_inside_its_quota() -> None:
    # 15 queries per 5-second window (the emulator's default, as Azure documents it); 20 sent
    # back to back would meet five 429s. The clock runs 20 times faster than the wall.
    clock = ScaledClock(speed=20.0)
    async with Emulator(load_scenario(TWO_SUBSCRIPTIONS), clock=clock, port=0, token=TOKEN) as emu:
        settings = emulator_settings(emu.base_url, budget={"share": 1.0})
        async with AzureClients(settings, clock=clock) as clients:
            started = clock.now()
            for _ in range(20):
                found = await resourcegraph.watched_resources(clients, [HUB])
                assert {r.type for r in found} >= {"microsoft.network/connections"}
            took = (clock.now() - started).total_seconds()
            bucket = clients.budget.bucket(GRAPH_KEY, GRAPH)
        statuses = [r.status for r in graph_requests(emu)]
    assert statuses == [200] * 20, statuses
    assert bucket.throttled == 0 and bucket.spent == 20
    assert took >= 5.0  # 7 at once, the rest at 1.5 per second


async def test_a_subscription_emptied_of_watched_resources_is_listed_once_more(
    clock: ManualClock,
) -> None:
    raw = yaml.safe_load(TWO_SUBSCRIPTIONS.read_text())
    raw["timeline"] = [
        {"at": 50, "kind": "delete", "gateway": "vpngw-spoke"},
        {"at": 50, "kind": "delete", "site": "lgw-dublin"},
    ]
    async with Emulator(parse_scenario(raw, source="emptied"), clock=clock, port=0) as emu:
        settings = emulator_settings(emu.base_url, subscriptions=[], discover_all=True)
        async with AzureClients(settings) as clients:
            discoverer = Discoverer(clients, settings.targets, resource_graph=True)
            first = await discoverer.discover()
            clock.advance(100)  # the spoke's gateway, connection and site are gone
            emptied = await discoverer.discover()
            collected = await ConnectionCollector(clients, clock, 15).collect(emptied[1])
            later = await discoverer.discover()

    assert first == [Scope(HUB, ("rg-hub-weu",)), Scope(SPOKE, ("rg-spoke-neu",))]
    # listed the ARM way once more, so a pass sees that nothing is left there ...
    assert emptied == [
        Scope(HUB, ("rg-hub-weu",)),
        Scope(SPOKE, ("rg-spoke-empty", "rg-spoke-neu")),
    ]
    run = run_of(collected)
    assert run.ok and run.resource_ids == ()
    # ... and then no longer polled
    assert later == [Scope(HUB, ("rg-hub-weu",))]
