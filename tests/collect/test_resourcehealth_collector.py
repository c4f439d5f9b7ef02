"""Resource Health as a hint, through the real `azure-mgmt-resourcehealth` client against the
emulator: what changed is read first by the connection collector; nothing is taken as up or
down from it, and its failures blind nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from collect_helpers import TOKEN, emulator_settings, run_of

from vpnwatch.agent import Agent
from vpnwatch.clock import ManualClock
from vpnwatch.collect.base import Scope
from vpnwatch.collect.clients import AzureClients
from vpnwatch.collect.connections import ConnectionCollector
from vpnwatch.collect.resourcehealth import ResourceHealthCollector, resource_of
from vpnwatch.emulator import Emulator, load_scenario
from vpnwatch.emulator.rbac import RoleGrant
from vpnwatch.incidents import IncidentType
from vpnwatch.replay import REPLAY_EPOCH
from vpnwatch.replay import emulator_settings as replay_settings
from vpnwatch.store import Store


async def test_a_gateway_resource_health_reports_down_is_read_first(clock: ManualClock) -> None:
    scenario = load_scenario("unplanned-failover")
    sub = scenario.subscription_ids[0]
    async with Emulator(scenario, clock=clock, port=0, token=TOKEN, page_size=3) as emu:
        settings = emulator_settings(emu.base_url, subscriptions=[sub])
        async with AzureClients(settings) as clients:
            scope = Scope(sub)
            connections = ConnectionCollector(clients, clock, 15)
            health = ResourceHealthCollector(clients, clock, 60)

            await connections.collect(scope)
            quiet = run_of(await health.collect(scope))
            calm_plan = clients.planner.plans()[("arm.connections", sub.lower())]
            # instance 0 failed at 120 s; Resource Health says so 60 s later
            clock.set(emu.started_at + timedelta(seconds=185))  # type: ignore[operator]
            late = run_of(await health.collect(scope))
            await connections.collect(scope)
            plan = clients.planner.plans()[("arm.connections", sub.lower())]
            requests = [r for r in emu.requests if "ResourceHealth" in r.path]

    assert quiet.ok and quiet.extra["heated"] == "0"
    assert calm_plan.hot == 0
    assert late.ok and int(late.extra["heated"]) >= 4  # the gateway and its three connections
    hot = {rid.rsplit("/", 1)[-1] for rid in plan.read[: plan.hot]}
    assert hot == {"cn-core-weu-paris", "cn-core-weu-brussels", "cn-core-weu-paris-backup"}
    assert "cn-edge-weu-brussels" in {rid.rsplit("/", 1)[-1] for rid in plan.read[plan.hot :]}
    assert len(requests) > 2  # paged: one list per pass, following nextLink
    assert all("/resourceGroups/" not in r.path for r in requests)  # per subscription


def test_status_ids_name_watched_resources_only() -> None:
    gateway = (
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworkGateways/gw"
    )
    suffix = "/providers/Microsoft.ResourceHealth/availabilityStatuses/current"
    assert resource_of(gateway + suffix) == gateway
    vm = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm"
    assert resource_of(vm + suffix) == ""
    assert resource_of("current") == ""


async def test_a_role_without_resource_health_blinds_nothing(tmp_path: Path) -> None:
    clock = ManualClock(REPLAY_EPOCH)
    scenario = load_scenario("quiet")
    no_health = RoleGrant(actions=("*",), not_actions=("Microsoft.ResourceHealth/*",))
    async with Emulator(scenario, clock=clock, port=0, grant=no_health) as emu:
        settings = replay_settings(emu.base_url, scenario, epoch=REPLAY_EPOCH)
        agent = Agent(settings, clock=clock, store=Store.open(":memory:"))
        await agent.open()
        try:
            for _ in range(40):  # 10 minutes
                await agent.run_due()
                clock.advance(15)
            status = {s.name: s for s in agent.collector_status()}["arm.resourcehealth"]
            incidents = agent.correlator.open_incidents()  # type: ignore[union-attr]
            ready = agent.ready
        finally:
            await agent.stop()
        refused = [r for r in emu.requests if r.status == 403]

    assert refused and all("ResourceHealth" in r.path for r in refused)
    assert status.runs >= 10 and status.failures == status.runs
    assert status.last_error is not None and "AuthorizationFailed" in status.last_error
    assert not [i for i in incidents if i.type is IncidentType.MONITORING_BLIND]
    assert ready  # the other collectors are read: a missing hint holds nothing up
