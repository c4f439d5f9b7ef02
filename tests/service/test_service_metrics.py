"""/metrics: the Prometheus text format after real collection passes, and the same metrics over
OTLP/HTTP."""

from __future__ import annotations

import asyncio
import re
import threading
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
import uvicorn
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from prometheus_client.parser import text_string_to_metric_families
from service_helpers import TUNNEL_FAULT_AT, Fleet, run_until
from starlette.requests import Request

from vpnwatch.config import CorrelatorSettings, ServiceSettings
from vpnwatch.correlate import Correlator
from vpnwatch.observations import (
    ConnectionObserved,
    ConnectionStatus,
    GatewayInstance,
    GatewayObserved,
    TunnelObserved,
)
from vpnwatch.service import metrics as metrics_module
from vpnwatch.service.metrics import ServiceMetrics

FAMILIES = {
    "vpnwatch_tunnel_up": "gauge",
    "vpnwatch_connection_up": "gauge",
    "vpnwatch_gateway_instance_up": "gauge",
    "vpnwatch_bgp_peer_up": "gauge",
    "vpnwatch_bgp_peer_routes_learned": "gauge",
    "vpnwatch_expressroute_circuit_up": "gauge",
    "vpnwatch_expressroute_link_up": "gauge",
    "vpnwatch_site_up": "gauge",
    "vpnwatch_incidents_open": "gauge",
    "vpnwatch_incidents_opened": "counter",
    "vpnwatch_entities": "gauge",
    "vpnwatch_ready": "gauge",
    "vpnwatch_monitoring_blind": "gauge",
    "vpnwatch_collector_last_success_timestamp_seconds": "gauge",
    "vpnwatch_collector_runs": "counter",
    "vpnwatch_azure_requests": "counter",
    "vpnwatch_azure_request_duration_seconds": "histogram",
    "vpnwatch_failover_interruption_seconds": "histogram",
}


async def _scrape(fleet: Fleet) -> tuple[str, dict]:
    async with fleet.client() as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    return text, {f.name: f for f in text_string_to_metric_families(text)}


def _samples(family, **labels: str) -> list:
    return [s for s in family.samples if all(s.labels.get(k) == v for k, v in labels.items())]


async def test_expected_families_after_a_fault_and_a_failover(estate: Fleet):
    await run_until(estate, 400)
    text, families = await _scrape(estate)
    for name, kind in FAMILIES.items():
        assert name in families, f"{name} missing from /metrics"
        assert families[name].type == kind, name
    assert "vpnwatch_azure_requests_total{" in text
    assert "vpnwatch_failover_interruption_seconds_bucket{" in text

    tunnels = families["vpnwatch_tunnel_up"]
    down = _samples(tunnels, connection="cn-weu-rotterdam")
    up = _samples(tunnels, connection="cn-weu-amsterdam")
    assert len(down) == len(up) == 2
    assert {s.value for s in down} == {0.0} and {s.value for s in up} == {1.0}
    gw = estate.gateway("vgw-weu-01")
    assert {s.labels["gateway_instance"] for s in up} == {i.name for i in gw.instances}
    assert {s.labels["gateway"] for s in up} == {"vgw-weu-01"}

    routes = _samples(families["vpnwatch_bgp_peer_routes_learned"], neighbor="172.16.10.254")
    assert [s.value for s in routes] == [6.0, 6.0]
    links = families["vpnwatch_expressroute_link_up"]
    assert {(s.labels["link"], s.value) for s in links.samples} == {
        ("primary", 1.0),
        ("secondary", 1.0),
    }
    open_tunnel = _samples(families["vpnwatch_incidents_open"], type="tunnel_down")
    assert sum(s.value for s in open_tunnel) >= 1

    requests = families["vpnwatch_azure_requests"]
    assert any(
        s.name == "vpnwatch_azure_requests_total"
        and s.labels["code"] == "200"
        and s.labels["operation"].startswith("GET ")
        for s in requests.samples
    )
    success = families["vpnwatch_collector_last_success_timestamp_seconds"]
    assert {s.labels["collector"] for s in success.samples} >= {"arm.gateways", "arm.connections"}
    assert max(s.value for s in success.samples) <= estate.clock.now().timestamp()


async def test_failover_interruption_is_recorded_when_the_failover_resolves(estate: Fleet):
    await run_until(estate, 400)
    _, families = await _scrape(estate)
    counts = [
        s
        for s in families["vpnwatch_failover_interruption_seconds"].samples
        if s.name.endswith("_count")
    ]
    assert sum(s.value for s in counts) >= 1
    sums = [
        s
        for s in families["vpnwatch_failover_interruption_seconds"].samples
        if s.name.endswith("_sum")
    ]
    # service.yaml: the standby takes over 30 s after the active instance fails
    assert 0 < sum(s.value for s in sums) <= 120


LABELS = {
    "resource_group", "gateway", "connection", "tunnel", "gateway_instance", "region", "zone",
    "local_address", "neighbor", "site", "circuit", "peering", "link", "kind", "health", "type",
    "severity", "collector", "operation", "code", "classification", "le", "subscription",
    "interval",
}  # fmt: skip


async def test_labels_are_bounded(estate: Fleet):
    """Only names and enumerations: no resource ids, timestamps or free text."""
    await run_until(estate, TUNNEL_FAULT_AT + 30)
    _, families = await _scrape(estate)
    for family in families.values():
        for sample in family.samples:
            assert set(sample.labels) <= LABELS, (family.name, sample.labels)
            for value in sample.labels.values():
                assert "/" not in value or family.name.startswith("vpnwatch_azure_"), value
                assert not re.match(r"\d{4}-\d{2}-\d{2}T", value), value
                assert len(value) <= 80, value


def test_two_apps_in_one_process_do_not_clash():
    first, second = ServiceMetrics(), ServiceMetrics()
    first.on_request("GET connections", 200, 0.02, 11999)
    second.on_request("GET connections", 429, 0.01, None)
    try:
        a = {f.name: f for f in text_string_to_metric_families(first.render().decode())}
        b = {f.name: f for f in text_string_to_metric_families(second.render().decode())}
    finally:
        first.shutdown()
        second.shutdown()
    codes_a = {s.labels["code"] for s in a["vpnwatch_azure_requests"].samples}
    codes_b = {s.labels["code"] for s in b["vpnwatch_azure_requests"].samples}
    assert codes_a == {"200"} and codes_b == {"429"}
    assert a["vpnwatch_azure_ratelimit_remaining_reads"].samples[0].value == 11999
    assert "vpnwatch_azure_ratelimit_remaining_reads" not in b or not any(
        s.value for s in b["vpnwatch_azure_ratelimit_remaining_reads"].samples
    )


async def test_metrics_are_pushed_over_otlp_http_when_configured(estate: Fleet):
    """A loopback OTLP/HTTP receiver gets the same metrics, as protobuf."""
    received: list[tuple[str, str, bytes]] = []

    async def receiver(scope, receive, send):
        if scope["type"] != "http":
            return
        body = await Request(scope, receive).body()
        headers = dict(scope["headers"])
        received.append((scope["path"], headers.get(b"content-type", b"").decode(), body))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    server = uvicorn.Server(
        uvicorn.Config(receiver, host="127.0.0.1", port=0, log_config=None, lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        settings = ServiceSettings(otlp_endpoint=f"http://127.0.0.1:{port}/v1/metrics")
        metrics = ServiceMetrics(settings)
        metrics.bind(estate.agent)
        try:
            await run_until(estate, TUNNEL_FAULT_AT + 30)
            await asyncio.to_thread(metrics.provider.force_flush, 10_000)
        finally:
            await asyncio.to_thread(metrics.shutdown)
    finally:
        server.should_exit = True
        await task
    assert received, "nothing reached the OTLP receiver"
    path, content_type, body = received[0]
    assert path == "/v1/metrics" and content_type == "application/x-protobuf"
    request = ExportMetricsServiceRequest.FromString(body)
    names = {
        metric.name
        for resource in request.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    assert {"vpnwatch_tunnel_up", "vpnwatch_incidents_open"} <= names


@pytest.mark.parametrize("on_loop", [False, True], ids=["service-loop", "agent-process"])
async def test_the_fleet_snapshot_is_built_after_a_step_once_scraped(
    estate: Fleet, monkeypatch, on_loop: bool
):
    """A scrape renders no fleet series itself: they come from the snapshot a step built, and
    stay as they were until a step after the scrape builds the next one. Steps build nothing
    before the first scrape, and nothing while nobody scrapes. Where the loop also answers
    requests (agent and service on one loop), the snapshot is built in a worker thread, off
    it; the agent process of `vpnwatch run`, whose loop answers no probe (its front answers
    `/metrics` from what it publishes), builds it on its loop (`snapshot_on_loop`)."""
    if on_loop:
        estate.metrics.bind(estate.agent, snapshot_on_loop=True)
    built_in: list[str] = []
    take = metrics_module._take_snapshot

    def spy(agent, view):
        built_in.append(threading.current_thread().name)
        return take(agent, view)

    monkeypatch.setattr(metrics_module, "_take_snapshot", spy)
    budgets_read_in: list[str] = []
    budgets = estate.agent.budgets

    def budgets_spy():
        budgets_read_in.append(threading.current_thread().name)
        return budgets()

    # what collection changes on the loop (the read planner behind the budgets) is read there
    monkeypatch.setattr(estate.agent, "budgets", budgets_spy)
    await run_until(estate, TUNNEL_FAULT_AT - 5)
    steps = len(built_in)
    assert steps == 0
    first, _ = await _scrape(estate)
    assert len(built_in) == 1, built_in
    if on_loop:
        assert built_in == [threading.main_thread().name]  # the thread running the loop
    else:  # a thread of the loop's default executor (`asyncio.to_thread`)
        assert built_in[0].startswith("asyncio_"), built_in
    steps = 1
    estate.clock.advance(30)  # time passes, but no step: the same fleet series
    second, _ = await _scrape(estate)
    assert len(built_in) == steps

    def fleet_lines(text: str) -> list[str]:
        return [line for line in text.splitlines() if line.startswith("vpnwatch_tunnel_up")]

    assert fleet_lines(first) == fleet_lines(second)
    assert {line.rsplit(" ", 1)[1] for line in fleet_lines(first)} == {"1.0"}
    await estate.collect(5)  # the next step: the tunnels that went down at 60 s read 0
    _, families = await _scrape(estate)
    assert len(built_in) > steps
    assert budgets_read_in and set(budgets_read_in) == {threading.main_thread().name}
    down = _samples(families["vpnwatch_tunnel_up"], connection="cn-weu-rotterdam")
    assert {s.value for s in down} == {0.0}


def _same_names_in(subscription: str, status: ConnectionStatus, at: datetime) -> list:
    net = f"/subscriptions/{subscription}/resourceGroups/rg-hub/providers/Microsoft.Network"
    gateway = GatewayObserved(
        observed_at=at, source="arm.gateways", resource_id=f"{net}/virtualNetworkGateways/vgw",
        name="vgw", subscription_id=subscription, resource_group="rg-hub", region="westeurope",
        vnet_id=f"{net}/virtualNetworks/hub", gateway_type="Vpn", sku="VpnGw2AZ",
        active_active=False, bgp_enabled=False, asn=None, provisioning_state="Succeeded",
        instances=(GatewayInstance("default", None, "20.0.0.1", ("1",)),),
    )  # fmt: skip
    connection = ConnectionObserved(
        observed_at=at, source="arm.connections", resource_id=f"{net}/connections/cn-branch",
        name="cn-branch", subscription_id=subscription, resource_group="rg-hub",
        region="westeurope", connection_type="IPsec", gateway_id=gateway.resource_id,
        peer_id=None, status=status,
        tunnels=(TunnelObserved("cn-branch_20.0.0.1", status, gateway_public_ip="20.0.0.1"),),
    )  # fmt: skip
    return [gateway, connection]


def test_names_repeated_across_subscriptions_are_told_apart_by_the_subscription_label():
    at = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    first, second = "0a0a0a0a-0000-4000-8000-0000000000aa", "0A0A0A0A-0000-4000-8000-0000000000BB"
    correlator = Correlator(CorrelatorSettings())
    correlator.process(
        _same_names_in(first, ConnectionStatus.CONNECTED, at)
        + _same_names_in(second, ConnectionStatus.NOT_CONNECTED, at),
        at,
    )
    agent = SimpleNamespace(
        ready=True, blind=False, correlator=correlator, notifications=None,
        clock=SimpleNamespace(now=lambda: at), collector_status=lambda: [], budgets=lambda: [],
        add_listener=lambda listener: None, add_step_hook=lambda hook: None,
    )  # fmt: skip
    metrics = ServiceMetrics()
    metrics.bind(agent)  # type: ignore[arg-type]
    metrics.on_request("GET connections", 200, 0.02, 11999, subscription=first)
    metrics.on_request("GET connections", 200, 0.02, 2, subscription=second.lower())
    families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    for name in ("vpnwatch_connection_up", "vpnwatch_tunnel_up", "vpnwatch_gateway_instance_up"):
        samples = families[name].samples
        assert {s.labels["subscription"] for s in samples} == {first, second.lower()}, name
        assert len({tuple(sorted(s.labels.items())) for s in samples}) == len(samples) == 2
    up = {s.labels["subscription"]: s.value for s in families["vpnwatch_connection_up"].samples}
    assert up == {first: 1.0, second.lower(): 0.0}
    remaining = families["vpnwatch_azure_ratelimit_remaining_reads"].samples
    assert {s.labels["subscription"]: s.value for s in remaining} == {
        first: 11999.0,
        second.lower(): 2.0,
    }
    requests = [s for s in families["vpnwatch_azure_requests"].samples if s.name.endswith("_total")]
    assert {s.labels["subscription"] for s in requests} == {first, second.lower()}
