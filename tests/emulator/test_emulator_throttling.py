"""The emulator costs what Azure costs: status only by name, ARM's buckets, counted requests."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.network.aio import NetworkManagementClient

from vpnwatch.clock import ManualClock, SystemClock
from vpnwatch.collect.credentials import AsyncStaticTokenCredential
from vpnwatch.emulator import Emulator, load_scenario
from vpnwatch.emulator.counters import COUNTERS_PATH, read_counters
from vpnwatch.emulator.scenario import BucketSpec, ThrottlingSpec
from vpnwatch.emulator.throttling import Throttling

SUB = "6f1d3c2a-0000-4000-8000-00000000a001"
WIRE = Path(__file__).parent / "azure_wire"
READS = "x-ms-ratelimit-remaining-subscription-reads"
WRITES = "x-ms-ratelimit-remaining-subscription-writes"


def network(emu: Emulator, allow_http: Any, **kwargs: Any) -> NetworkManagementClient:
    return NetworkManagementClient(
        AsyncStaticTokenCredential("emulator-token"),
        SUB,
        base_url=emu.base_url,
        per_call_policies=[allow_http],
        **kwargs,
    )


async def test_the_sdk_lists_connections_without_status_and_gets_it_by_name(
    quiet: Emulator, allow_http: Any
) -> None:
    async with network(quiet, allow_http) as client:
        listed = [c async for c in client.virtual_network_gateway_connections.list("rg-hub-weu")]
        of_gateway = [
            c
            async for c in client.virtual_network_gateways.list_connections(
                "rg-hub-weu", "vpngw-hub-weu"
            )
        ]
        by_name = [
            await client.virtual_network_gateway_connections.get("rg-hub-weu", c.name)
            for c in listed
        ]
    for entry in [*listed, *of_gateway]:
        assert entry.connection_status is None
        assert entry.tunnel_connection_status is None
        assert entry.ingress_bytes_transferred == 0  # as in Azure's own list example
    assert len(listed) == 4 and of_gateway
    assert {c.connection_status for c in by_name} == {"Connected"}
    vpn = [c for c in by_name if c.connection_type == "IPsec"]
    assert vpn and all(c.tunnel_connection_status for c in vpn)
    assert all(c.ingress_bytes_transferred for c in by_name)


def test_the_list_example_itself_carries_no_status() -> None:
    # The emulator's list is held to this example; this is why it leaves the status out.
    example = json.loads(
        (WIRE / "connections/VirtualNetworkGatewayConnectionsList.json").read_text()
    )
    for item in example["responses"]["200"]["body"]["value"]:
        assert "connectionStatus" not in item["properties"]
        assert "tunnelConnectionStatus" not in item["properties"]


def test_buckets_drain_refill_and_are_per_subscription_and_kind() -> None:
    limits = ThrottlingSpec(reads=BucketSpec(capacity=3, refill_per_second=1))
    throttling = Throttling(limits)
    assert [throttling.take("a", "GET", 0).remaining for _ in range(3)] == [2, 1, 0]
    empty = throttling.take("a", "GET", 0)
    assert empty.wait == pytest.approx(1.0) and empty.remaining == 0
    assert throttling.take("a", "GET", 2).wait is None  # two tokens back after 2 s
    assert throttling.take("b", "GET", 2).remaining == 2  # another subscription's bucket
    write = throttling.take("a", "POST", 2)
    assert (write.charge, write.header, write.remaining) == ("writes", WRITES, 199)
    assert throttling.take(None, "GET", 2).header == "x-ms-ratelimit-remaining-tenant-reads"

    hourly = Throttling(ThrottlingSpec(model="hourly"))
    assert hourly.take("a", "GET", 0).remaining == 11_999
    assert hourly.take("a", "POST", 0).remaining == 1_199
    assert hourly.limits["reads"].refill_per_second == pytest.approx(12_000 / 3600)
    off = Throttling(ThrottlingSpec(model="off", reads=BucketSpec(capacity=1, refill_per_second=0)))
    off.take("a", "GET", 0)
    assert off.take("a", "GET", 0).wait is None  # reported, never refused


async def test_a_drained_read_bucket_answers_429_until_it_refills(
    quiet: Emulator, clock: ManualClock, arm: Any
) -> None:
    # Today's model by default: 250 reads, refilled at 25 per second of scenario time.
    url = arm.url(quiet, "rg-hub-weu", "/virtualNetworkGateways/vpngw-hub-weu")
    remaining = []
    for _ in range(250):
        response = await arm.raw("GET", url)
        assert response.status_code == 200
        remaining.append(int(response.headers[READS]))
    assert remaining[0] == 249 and remaining[-1] == 0
    refused = await arm.raw("GET", url)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "SubscriptionRequestsThrottled"
    assert refused.headers[READS] == "0"
    assert "retry-after-ms" in refused.headers
    # Writes have their own bucket: a POST action still goes through.
    accepted = await arm.raw("POST", f"{url}/getBgpPeerStatus")
    assert accepted.status_code == 202 and accepted.headers[WRITES] == "199"
    clock.advance(1)  # 25 tokens back
    assert [(await arm.raw("GET", url)).status_code for _ in range(26)] == [200] * 25 + [429]
    counts = quiet.counters.of(SUB)
    assert counts["get"] == 275 and counts["throttled"] == 2 and counts["post"] == 1


async def test_a_drained_write_bucket_answers_429_to_post_actions(
    clock: ManualClock, arm: Any
) -> None:
    tight = ThrottlingSpec(writes=BucketSpec(capacity=2, refill_per_second=10))
    async with Emulator(load_scenario("quiet"), clock=clock, throttling=tight) as emu:
        url = arm.url(emu, "rg-hub-weu", "/virtualNetworkGateways/vpngw-hub-weu/getBgpPeerStatus")
        statuses = [(await arm.raw("POST", url)).status_code for _ in range(3)]
        assert statuses == [202, 202, 429]
        clock.advance(0.1)
        assert (await arm.raw("POST", url)).status_code == 202
        assert emu.counters.of(SUB)["throttled"] == 1


async def test_at_wall_speed_the_429_carries_retry_after(arm: Any) -> None:
    tight = ThrottlingSpec(reads=BucketSpec(capacity=1, refill_per_second=0.25))
    async with Emulator(load_scenario("quiet"), clock=SystemClock(), throttling=tight) as emu:
        url = arm.url(emu, "rg-hub-weu", "/virtualNetworkGateways")
        assert (await arm.raw("GET", url)).status_code == 200
        refused = await arm.raw("GET", url)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] in ("4", "3")  # a token every 4 s
    assert refused.headers[READS] == "0"


async def test_the_hourly_model_is_a_scenario_option(clock: ManualClock, arm: Any) -> None:
    async with Emulator(load_scenario("quiet"), clock=clock, throttling="hourly") as emu:
        url = arm.url(emu, "rg-hub-weu", "/virtualNetworkGateways")
        first = await arm.raw("GET", url)
        post = await arm.raw("POST", f"{url}/vpngw-hub-weu/getBgpPeerStatus")
    assert first.headers[READS] == "11999"
    assert post.headers[WRITES] == "1199"


async def test_the_sdk_meets_429_when_it_outruns_the_bucket(
    clock: ManualClock, allow_http: Any
) -> None:
    # On a manual clock nothing refills while the client retries: the real client gives up
    # with the 429 it was last answered, and the counters saw every refusal.
    tight = ThrottlingSpec(reads=BucketSpec(capacity=3, refill_per_second=1))
    async with Emulator(load_scenario("quiet"), clock=clock, throttling=tight) as emu:
        async with network(emu, allow_http, retry_total=2) as client:
            for _ in range(3):
                await client.virtual_network_gateways.get("rg-hub-weu", "vpngw-hub-weu")
            with pytest.raises(HttpResponseError) as raised:
                await client.virtual_network_gateways.get("rg-hub-weu", "vpngw-hub-weu")
        assert raised.value.status_code == 429
        assert emu.counters.of(SUB) == {
            "list": 0,
            "get": 3,
            "post": 0,
            "lro_poll": 0,
            "metrics": 0,
            "query": 0,
            "graph": 0,
            "throttled": 3,
        }


async def test_counters_count_each_kind_per_subscription(
    quiet: Emulator, clock: ManualClock, arm: Any
) -> None:
    gateways = arm.url(quiet, "rg-hub-weu", "/virtualNetworkGateways")
    await arm.get(gateways)  # page 1 of 2
    await arm.get(f"{gateways}/vpngw-hub-weu")
    await arm.lro(f"{gateways}/vpngw-hub-weu/getBgpPeerStatus")  # POST + 2 polls
    await arm.raw("GET", f"{gateways}/no-such-gateway")  # a GET that found nothing
    await arm.get(f"{quiet.base_url}/subscriptions")  # a tenant-level list
    snapshot = quiet.counters
    assert snapshot.of(SUB) == {
        "list": 1,
        "get": 2,
        "post": 1,
        "lro_poll": 2,
        "metrics": 0,
        "query": 0,
        "graph": 0,
        "throttled": 0,
    }
    assert snapshot.reads(SUB) == 5 and snapshot.writes(SUB) == 1
    assert snapshot.of("tenant")["list"] == 1
    # Out of process: the same numbers over HTTP, and reading them costs nothing.
    fetched = await asyncio.to_thread(read_counters, quiet.base_url)
    assert fetched.by_subscription == snapshot.by_subscription
    raw = await arm.client.get(f"{quiet.base_url}{COUNTERS_PATH}")
    assert raw.json()["subscriptions"][SUB.lower()]["post"] == 1
    clock.advance(10)
    await arm.get(gateways)
    delta = quiet.counters.minus(snapshot)
    assert delta.of(SUB)["list"] == 1 and delta.elapsed == pytest.approx(10)
