"""The real Azure SDK clients, unmodified, against the emulator over loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
)
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.mgmt.network import NetworkManagementClient as SyncNetworkClient
from azure.mgmt.network.aio import NetworkManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient as SyncResourceClient
from azure.mgmt.resource.resources.aio import ResourceManagementClient
from azure.mgmt.resource.subscriptions import SubscriptionClient as SyncSubscriptionClient
from azure.mgmt.resource.subscriptions.aio import SubscriptionClient

from vpnwatch.clock import ManualClock, ScaledClock, SystemClock
from vpnwatch.collect.credentials import AsyncStaticTokenCredential, StaticTokenCredential
from vpnwatch.emulator import Emulator, emu_thread, load_scenario, serve_forever
from vpnwatch.emulator.scenario import SCENARIO_DIR
from vpnwatch.emulator.traffic import SCENARIO_RETRY_AFTER_HEADER

SUB = "6f1d3c2a-0000-4000-8000-00000000a001"
TOKEN = "emulator-token"


def network(
    emu: Emulator, allow_http: Any, token: str = TOKEN, **kwargs: Any
) -> NetworkManagementClient:
    return NetworkManagementClient(
        AsyncStaticTokenCredential(token),
        SUB,
        base_url=emu.base_url,
        per_call_policies=[allow_http],
        **kwargs,
    )


async def test_lists_and_gets_follow_next_links(quiet: Emulator, allow_http: Any) -> None:
    async with network(quiet, allow_http) as client:
        gateways = [g async for g in client.virtual_network_gateways.list("rg-hub-weu")]
        connections = [
            c async for c in client.virtual_network_gateway_connections.list("rg-hub-weu")
        ]
        hub = await client.virtual_network_gateways.get("rg-hub-weu", "vpngw-hub-weu")
        amsterdam = await client.virtual_network_gateway_connections.get(
            "rg-hub-weu", "cn-hub-weu-amsterdam"
        )
        of_gateway = [
            c.name
            async for c in client.virtual_network_gateways.list_connections(
                "rg-hub-weu", "vpngw-hub-weu"
            )
        ]
        pips = [p async for p in client.public_ip_addresses.list("rg-hub-weu")]
    # page_size=2: three gateways and four connections take two pages each.
    assert [g.name for g in gateways] == ["vpngw-hub-weu", "vpngw-branch-weu", "ergw-hub-weu"]
    assert len(connections) == 4
    pages = [
        r
        for r in quiet.requests
        if r.path.endswith("rg-hub-weu/providers/Microsoft.Network/connections")
    ]
    assert len(pages) == 2
    assert hub.active_active is True
    assert hub.bgp_settings is not None and hub.bgp_settings.asn == 65515
    assert [c.name for c in hub.ip_configurations or []] == ["default", "activeActive"]
    assert amsterdam.connection_status == "Connected"
    tunnels = amsterdam.tunnel_connection_status or []
    ips = {p.name: p.ip_address for p in pips}
    assert [t.tunnel for t in tunnels] == [
        f"cn-hub-weu-amsterdam_{ips['vpngw-hub-weu-pip0']}",
        f"cn-hub-weu-amsterdam_{ips['vpngw-hub-weu-pip1']}",
    ]
    assert amsterdam.ingress_bytes_transferred == sum(
        t.ingress_bytes_transferred or 0 for t in tunnels
    )
    assert of_gateway == ["cn-hub-weu-amsterdam", "cn-hub-weu-frankfurt"]
    zones = {p.name: p.zones for p in pips}
    assert zones["vpngw-hub-weu-pip0"] == ["1", "2", "3"]
    assert zones["vpngw-branch-weu-pip0"] is None


async def test_bgp_peer_status_and_routes_are_long_running(
    quiet: Emulator, allow_http: Any
) -> None:
    async with network(quiet, allow_http) as client:
        poller = await client.virtual_network_gateways.begin_get_bgp_peer_status(
            "rg-hub-weu", "vpngw-hub-weu", polling_interval=0
        )
        peers = (await poller.result()).value or []
        one = await (
            await client.virtual_network_gateways.begin_get_bgp_peer_status(
                "rg-hub-weu", "vpngw-hub-weu", peer="192.168.20.254", polling_interval=0
            )
        ).result()
        learned = await (
            await client.virtual_network_gateways.begin_get_learned_routes(
                "rg-hub-weu", "vpngw-hub-weu", polling_interval=0
            )
        ).result()
        advertised = await (
            await client.virtual_network_gateways.begin_get_advertised_routes(
                "rg-hub-weu", "vpngw-hub-weu", peer="192.168.10.254", polling_interval=0
            )
        ).result()
        summary = await (
            await client.express_route_circuits.begin_list_routes_table_summary(
                "rg-hub-weu",
                "er-weu-amsterdam",
                "AzurePrivatePeering",
                "primary",
                polling_interval=0,
            )
        ).result()
    # Active/active: one row per (instance, neighbor).
    assert sorted((p.local_address, p.neighbor) for p in peers) == [
        ("10.10.255.228", "192.168.10.254"),
        ("10.10.255.228", "192.168.20.254"),
        ("10.10.255.229", "192.168.10.254"),
        ("10.10.255.229", "192.168.20.254"),
    ]
    assert all(p.state == "Connected" and p.asn in (65010, 65020) for p in peers)
    assert all(p.connected_duration and p.connected_duration.count(":") == 2 for p in peers)
    assert {p.neighbor for p in one.value or []} == {"192.168.20.254"}
    ebgp = [r for r in learned.value or [] if r.origin == "EBgp"]
    assert {r.as_path for r in ebgp} == {"65010", "65020"}
    assert {r.network for r in learned.value or []} >= {"10.10.0.0/16", "192.168.10.0/24"}
    assert all(r.weight == 0 for r in advertised.value or [])
    assert "10.10.0.0/16" in {r.network for r in advertised.value or []}
    rows = summary.value or []
    assert [(r.neighbor, r.state_pfx_rcd) for r in rows] == [("172.16.0.1", "25")]
    paths = [r.path for r in quiet.requests]
    assert any("/operations/" in p for p in paths)
    assert any("/operationResults/" in p for p in paths)


async def test_not_found_and_bad_token_raise_the_sdk_errors(
    quiet: Emulator, allow_http: Any
) -> None:
    async with network(quiet, allow_http) as client:
        with pytest.raises(ResourceNotFoundError) as missing:
            await client.virtual_network_gateways.get("rg-hub-weu", "vpngw-nope")
        with pytest.raises(ResourceNotFoundError) as no_group:
            await client.virtual_network_gateways.get("rg-nope", "vpngw-hub-weu")
    assert missing.value.error is not None and missing.value.error.code == "ResourceNotFound"
    assert no_group.value.error is not None and no_group.value.error.code == "ResourceGroupNotFound"
    async with network(quiet, allow_http, token="stolen") as client:
        with pytest.raises(ClientAuthenticationError) as denied:
            await client.virtual_network_gateways.get("rg-hub-weu", "vpngw-hub-weu")
    assert denied.value.status_code == 401


class AdvanceOnThrottle(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """Moves the manual clock by the announced wait, as a stepped replay would."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.waits_ms: list[str] = []

    def on_response(self, request: PipelineRequest, response: PipelineResponse) -> None:  # type: ignore[type-arg]
        if response.http_response.status_code == 429:
            headers = response.http_response.headers
            self.waits_ms.append(headers["retry-after-ms"])
            self.clock.advance(float(headers[SCENARIO_RETRY_AFTER_HEADER]))


def _scenario_file(tmp_path: Path, timeline: list[dict[str, Any]], **extra: Any) -> Path:
    doc = yaml.safe_load((SCENARIO_DIR / "quiet.yaml").read_text())
    doc["timeline"] = timeline
    doc.update(extra)
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


async def test_a_throttling_burst_is_survived_by_honouring_retry_after_ms(
    tmp_path: Path, allow_http: Any
) -> None:
    scenario = load_scenario(
        _scenario_file(tmp_path, [{"at": 100, "kind": "throttle", "duration": 3, "retry_after": 1}])
    )
    clock = ManualClock()
    advance = AdvanceOnThrottle(clock)
    async with Emulator(scenario, clock=clock) as emu:
        clock.advance(100)
        async with network(emu, allow_http, per_retry_policies=[advance]) as client:
            gateway = await client.virtual_network_gateways.get("rg-hub-weu", "vpngw-hub-weu")
            assert gateway.name == "vpngw-hub-weu"
            statuses = [r.status for r in emu.requests]
            assert statuses == [429, 429, 429, 200]
            assert advance.waits_ms == ["1", "1", "1"]  # a manual clock: no real waiting
    # A longer burst exhausts the default three status retries.
    scenario = load_scenario(
        _scenario_file(
            tmp_path, [{"at": 100, "kind": "throttle", "duration": 30, "retry_after": 1}]
        )
    )
    clock = ManualClock()
    async with Emulator(scenario, clock=clock) as emu:
        clock.advance(100)
        async with network(
            emu, allow_http, per_retry_policies=[AdvanceOnThrottle(clock)]
        ) as client:
            with pytest.raises(HttpResponseError) as throttled:
                await client.virtual_network_gateways.get("rg-hub-weu", "vpngw-hub-weu")
    assert throttled.value.status_code == 429
    assert throttled.value.error is not None
    assert throttled.value.error.code == "SubscriptionRequestsThrottled"


async def test_retry_after_is_converted_to_wall_milliseconds(tmp_path: Path, arm: Any) -> None:
    path = _scenario_file(
        tmp_path, [{"at": 0, "kind": "throttle", "duration": 3600, "retry_after": 30}]
    )
    async with Emulator(load_scenario(path), clock=ScaledClock(speed=10)) as fast:
        response = await arm.raw("GET", arm.url(fast, "rg-hub-weu", "/connections"))
    assert response.status_code == 429
    assert response.headers["retry-after-ms"] == "3000"
    assert response.headers[SCENARIO_RETRY_AFTER_HEADER] == "30"
    assert "Retry-After" not in response.headers  # azure-core would sleep 30 s for real
    async with Emulator(load_scenario(path), clock=SystemClock()) as real_time:
        response = await arm.raw("GET", arm.url(real_time, "rg-hub-weu", "/connections"))
    assert response.headers["Retry-After"] == "30"
    assert response.headers["retry-after-ms"] == "30000"


async def test_subscription_and_resource_group_clients(quiet: Emulator, allow_http: Any) -> None:
    credential = AsyncStaticTokenCredential(TOKEN)
    async with SubscriptionClient(
        credential, base_url=quiet.base_url, per_call_policies=[allow_http]
    ) as subs:
        found = [s async for s in subs.subscriptions.list()]
        one = await subs.subscriptions.get(SUB)
    async with ResourceManagementClient(
        credential, SUB, base_url=quiet.base_url, per_call_policies=[allow_http]
    ) as resources:
        groups = [g async for g in resources.resource_groups.list()]
    assert [(s.subscription_id, s.display_name) for s in found] == [(SUB, "connectivity-prod")]
    assert one.state == "Enabled"
    assert [(g.name, g.location) for g in groups] == [
        ("rg-hub-weu", "westeurope"),
        ("rg-hub-neu", "northeurope"),
    ]
    assert any(r.path == f"/subscriptions/{SUB}/resourcegroups" for r in quiet.requests)


def test_sync_clients_over_tls_without_extra_policies() -> None:
    clock = ManualClock()
    with emu_thread("quiet", clock=clock, tls=True, page_size=2) as emu:
        assert emu.base_url.startswith("https://127.0.0.1:")
        assert emu.cert_path is not None and Path(emu.cert_path).is_file()
        credential = StaticTokenCredential(TOKEN)
        options: dict[str, Any] = {"base_url": emu.base_url, "connection_verify": emu.cert_path}
        subs = list(SyncSubscriptionClient(credential, **options).subscriptions.list())
        groups = list(SyncResourceClient(credential, SUB, **options).resource_groups.list())
        client = SyncNetworkClient(credential, SUB, polling_interval=0, **options)
        connections = list(client.virtual_network_gateway_connections.list("rg-hub-weu"))
        clock.advance(30)
        peers = client.virtual_network_gateways.begin_get_bgp_peer_status(
            "rg-hub-neu", "vpngw-hub-neu"
        ).result()
        circuit = client.express_route_circuits.get("rg-hub-weu", "er-weu-amsterdam")
    assert [s.subscription_id for s in subs] == [SUB]
    assert len(groups) == 2
    assert len(connections) == 4
    assert [(p.neighbor, p.state) for p in peers.value or []] == [("192.168.40.254", "Connected")]
    assert [p.name for p in circuit.peerings or []] == ["AzurePrivatePeering", "MicrosoftPeering"]
    assert emu.requests[-1].at == 30.0


async def test_serve_forever_prints_its_url(capsys: pytest.CaptureFixture[str]) -> None:
    task = asyncio.create_task(
        serve_forever("quiet", host="127.0.0.1", port=0, tls=False, speed=60, token=TOKEN)
    )
    out = err = ""
    for _ in range(300):
        await asyncio.sleep(0.01)
        captured = capsys.readouterr()
        out, err = out + captured.out, err + captured.err
        if out:
            break
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    url = out.strip()
    assert url.startswith("http://127.0.0.1:")
    assert f"emulator listening on {url} (scenario quiet, speed 60)" in err
