"""ExpressRoute resiliency, read-only, through the real azure-mgmt-network client against the
emulator: the validation history and insights are read, a validation older than 90 days (or
none) becomes an `info` incident, and the figures reach the API, /metrics and the pages.
Nothing ever starts or stops a failover test."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from azure.core.exceptions import HttpResponseError

from vpnwatch.agent import Agent
from vpnwatch.clock import ManualClock
from vpnwatch.collect.base import Scope
from vpnwatch.collect.clients import AzureClients
from vpnwatch.collect.resiliency import ResiliencyCollector
from vpnwatch.emulator import Emulator, load_scenario
from vpnwatch.emulator.rbac import RoleGrant
from vpnwatch.incidents import IncidentType, Severity
from vpnwatch.observations import CollectionRun, ResiliencyObserved
from vpnwatch.permissions import OPERATIONS
from vpnwatch.replay import REPLAY_EPOCH, emulator_settings
from vpnwatch.service.app import create_app
from vpnwatch.service.metrics import ServiceMetrics

SCENARIO = str(Path(__file__).parent / "resiliency.yaml")
SUB = "0c0c0c0c-0000-4000-8000-000000000015"
READS = {
    "getcircuitlinkfailoveralltestsdetails",
    "getfailoveralltestsdetails",
    "getresiliencyinformation",
}


def _name(resource_id: str) -> str:
    return resource_id.rsplit("/", 1)[-1]


async def test_history_and_insights_are_read_and_no_test_is_ever_started():
    clock = ManualClock(REPLAY_EPOCH)
    scenario = load_scenario(SCENARIO)
    async with Emulator(scenario, clock=clock, port=0) as emu:
        settings = emulator_settings(emu.base_url, scenario, epoch=REPLAY_EPOCH)
        async with AzureClients(settings) as clients:
            observations = await ResiliencyCollector(clients, clock, 21600).collect(Scope(SUB))
        requests = emu.requests

    run = observations[-1]
    assert isinstance(run, CollectionRun) and run.ok, run
    seen = {_name(o.resource_id): o for o in observations if isinstance(o, ResiliencyObserved)}
    assert set(seen) == {"er-old", "er-fresh", "er-never", "er-unsupported", "ergw-a", "ergw-b"}

    old = seen["er-old"]
    assert old.kind == "circuit" and old.supported and old.tests == 1
    assert old.last_validation == REPLAY_EPOCH - timedelta(days=120)
    assert old.last_validation_succeeded is False
    assert seen["er-fresh"].last_validation == REPLAY_EPOCH - timedelta(days=10)
    assert seen["er-fresh"].last_validation_succeeded is True
    never = seen["er-never"]
    assert never.supported and never.last_validation is None and never.tests == 0
    for refused in ("er-unsupported", "ergw-b"):
        assert not seen[refused].supported
        assert "ResiliencyFeatureNotSupported" in seen[refused].reason

    gateway = seen["ergw-a"]
    assert gateway.kind == "gateway"
    assert gateway.last_validation == REPLAY_EPOCH - timedelta(days=30)
    assert (gateway.score, gateway.max_score) == (72.0, 100.0)
    assert gateway.recommendations  # a score below 100 comes with what to do about it

    posts = [r for r in requests if r.method == "POST"]
    actions = [r.path.rsplit("/", 1)[-1].lower() for r in posts]
    assert set(actions) == READS
    # 4 circuits, ergw-a twice, ergw-b once (its first answer says it does not support it)
    assert len(posts) == 7
    assert not [r for r in requests if re.search(r"/(start|stop)[a-z]*", r.path.lower())]
    assert not [r for r in posts if "vpngw-a" in r.path]  # a VPN gateway is never asked


async def test_a_vpn_gateway_gets_azures_refusal():
    clock = ManualClock(REPLAY_EPOCH)
    scenario = load_scenario(SCENARIO)
    async with Emulator(scenario, clock=clock, port=0) as emu:
        settings = emulator_settings(emu.base_url, scenario, epoch=REPLAY_EPOCH)
        async with AzureClients(settings) as clients:
            network = clients.network(SUB)
            with pytest.raises(HttpResponseError) as raised:
                poller = await network.virtual_network_gateways.begin_get_resiliency_information(
                    "rg-er-weu", "vpngw-a"
                )
                await poller.result()
    assert raised.value.status_code == 400
    assert raised.value.error is not None
    assert raised.value.error.code == "ResiliencyFeatureNotSupported"


async def test_overdue_validation_is_an_info_incident_on_the_api_metrics_and_pages(tmp_path):
    clock = ManualClock(REPLAY_EPOCH)
    scenario = load_scenario(SCENARIO)
    async with Emulator(scenario, clock=clock, port=0) as emu:
        settings = emulator_settings(
            emu.base_url, scenario, epoch=REPLAY_EPOCH, store_path=str(tmp_path / "s.db")
        )
        metrics = ServiceMetrics(settings.service)
        agent = Agent(settings, clock=clock, observer=metrics)
        app = create_app(settings, agent=agent, metrics=metrics, manage_agent=False)
        await agent.open()
        try:
            await agent.run_due()
            clock.advance(30)
            await agent.run_due()
            overdue = [
                i
                for i in agent.correlator.open_incidents()
                if i.type is IncidentType.RESILIENCY_VALIDATION_OVERDUE
            ]
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                circuits = (await http.get("/api/v1/circuits")).json()["items"]
                gateways = (await http.get("/api/v1/gateways")).json()["items"]
                exposition = (await http.get("/metrics")).text
                old_id = next(c["id"] for c in circuits if c["name"] == "er-old")
                page = (await http.get(f"/resources{old_id}")).text
        finally:
            await agent.stop()
            metrics.shutdown()

    # er-old (120 days) and er-never: overdue; er-fresh (10), ergw-a (30): not; refusals: not
    assert sorted(_name(i.resources[0]) for i in overdue) == ["er-never", "er-old"]
    assert all(i.severity is Severity.INFO for i in overdue)  # shown, never paged
    by_name = {_name(i.resources[0]): i for i in overdue}
    assert by_name["er-old"].classification == "validation_overdue"
    assert "120 days ago" in by_name["er-old"].title
    assert by_name["er-never"].classification == "never_validated"

    circuit = {c["name"]: c["resiliency"] for c in circuits}
    assert circuit["er-old"]["validation_overdue"] is True
    assert circuit["er-old"]["validation_age_days"] == 120.0
    assert circuit["er-fresh"]["validation_overdue"] is False
    assert circuit["er-unsupported"]["supported"] is False
    ergw = {g["name"]: g["resiliency"] for g in gateways}
    assert ergw["ergw-a"]["score"] == 72.0 and ergw["ergw-a"]["validation_overdue"] is False
    assert ergw["vpngw-a"] is None

    def sample(name: str, resource: str) -> float:
        pattern = rf'^{name}\{{[^}}]*"{resource}"[^}}]*\}} (\S+)$'
        found = re.search(pattern, exposition, re.MULTILINE)
        assert found, f"no {name} for {resource}"
        return float(found.group(1))

    age = sample("vpnwatch_expressroute_resiliency_validation_age_seconds", "er-old")
    assert age == pytest.approx(120 * 86400 + 30, abs=1)
    assert sample("vpnwatch_expressroute_resiliency_validated", "er-never") == 0
    assert sample("vpnwatch_expressroute_resiliency_score", "ergw-a") == 72
    resiliency_lines = [x for x in exposition.splitlines() if "expressroute_resiliency" in x]
    assert not [line for line in resiliency_lines if "er-unsupported" in line]

    assert 'id="resiliency"' in page and "overdue" in page and "did not succeed" in page


async def test_without_the_permission_the_pass_fails_and_blinds_nothing(tmp_path):
    # a role without the resiliency actions: every POST is refused with 403
    grant = RoleGrant(
        actions=tuple(op.action for op in OPERATIONS if op.collector != "resiliency")
    )
    clock = ManualClock(REPLAY_EPOCH)
    scenario = load_scenario(SCENARIO)
    async with Emulator(scenario, clock=clock, port=0, grant=grant) as emu:
        settings = emulator_settings(
            emu.base_url, scenario, epoch=REPLAY_EPOCH, store_path=str(tmp_path / "s.db")
        )
        settings.collectors.resiliency.interval_seconds = 60
        agent = Agent(settings, clock=clock)
        await agent.open()
        try:
            for _ in range(4):  # past the blind detector's two runs and its time
                await agent.run_due()
                clock.advance(60)
            await agent.run_due()
            state = agent.correlator.state
            now = clock.now()
            incidents = agent.correlator.open_incidents()
            status = {s.name: s for s in agent.collector_status()}["arm.resiliency"]
            circuits = {c.name: state.health_of(k, now) for k, c in state.circuits.items()}
        finally:
            await agent.stop()
        refused = [r for r in emu.requests if r.status == 403]

    assert refused and all(r.method == "POST" for r in refused)
    assert status.failures >= 4  # the collector's own status says it
    assert not [i for i in incidents if i.type is IncidentType.MONITORING_BLIND]
    assert not [i for i in incidents if i.type is IncidentType.RESILIENCY_VALIDATION_OVERDUE]
    assert circuits and all(h.value == "up" for h in circuits.values()), circuits
