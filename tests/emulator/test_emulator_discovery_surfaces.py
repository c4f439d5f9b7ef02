"""Resource Health and Resource Graph, through the real SDK clients, on the scenario's timeline."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.resourcegraph.aio import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions, ResultFormat
from azure.mgmt.resourcehealth.aio import ResourceHealthMgmtClient

from vpnwatch.clock import ManualClock
from vpnwatch.collect.credentials import AsyncStaticTokenCredential
from vpnwatch.emulator import Emulator, load_scenario
from vpnwatch.emulator.resourcegraph import QueryError, parse_query
from vpnwatch.emulator.scenario import GraphQuotaSpec, ThrottlingSpec

CHANGING = Path(__file__).parent / "scenarios" / "changing-estate.yaml"
TOKEN = AsyncStaticTokenCredential("emulator-token")
NETWORK_TYPES = (
    "'microsoft.network/virtualnetworkgateways', 'microsoft.network/connections', "
    "'microsoft.network/localnetworkgateways', 'microsoft.network/expressroutecircuits'"
)


def at(clock: ManualClock, emu: Emulator, seconds: float) -> None:
    assert emu.started_at is not None
    clock.set(emu.started_at + timedelta(seconds=seconds))


def health(emu: Emulator, subscription: str, allow_http: Any) -> ResourceHealthMgmtClient:
    return ResourceHealthMgmtClient(
        TOKEN, subscription, base_url=emu.base_url, per_call_policies=[allow_http]
    )


def graph(emu: Emulator, allow_http: Any, **kwargs: Any) -> ResourceGraphClient:
    return ResourceGraphClient(
        TOKEN, base_url=emu.base_url, per_call_policies=[allow_http], **kwargs
    )


async def test_resource_health_follows_the_timeline_late(
    clock: ManualClock, allow_http: Any
) -> None:
    scenario = load_scenario("unplanned-failover")
    sub = scenario.subscription_ids[0]
    async with Emulator(scenario, clock=clock, page_size=2) as emu:
        async with health(emu, sub, allow_http) as client:

            async def states() -> dict[str, str]:
                statuses = client.availability_statuses.list_by_subscription_id()
                return {
                    s.id.split("/providers/Microsoft.ResourceHealth")[0].rsplit("/", 1)[-1]: (
                        s.properties.availability_state
                    )
                    async for s in statuses
                }

            before = await states()
            at(clock, emu, 150)  # the active instance failed at 120 s: not reported yet
            early = await states()
            at(clock, emu, 185)  # 60 s later, Resource Health has caught up
            late = await states()
            one = await client.availability_statuses.get_by_resource(
                f"/subscriptions/{sub}/resourceGroups/rg-core-weu/providers/Microsoft.Network/"
                "virtualNetworkGateways/vpngw-core-weu"
            )
            at(clock, emu, 400)  # recovered at 165 s
            after = await client.availability_statuses.get_by_resource(
                f"/subscriptions/{sub}/resourceGroups/rg-core-weu/providers/Microsoft.Network/"
                "virtualNetworkGateways/vpngw-core-weu"
            )
        pages = [r for r in emu.requests if "ResourceHealth" in r.path]
        counted = emu.counters.of(sub)

    assert set(before.values()) == {"Available"} and "vpngw-core-weu" in before
    assert any(name.startswith("cn-") for name in before)  # connections are listed too
    assert early == before
    assert late["vpngw-core-weu"] == "Unavailable"
    assert {late[n] for n in late if n.startswith("cn-core-weu")} == {"Unavailable"}
    assert one.properties.availability_state == "Unavailable"
    assert one.properties.occured_time is not None  # sic, as Azure spells it
    assert after.properties.availability_state == "Available"
    assert after.properties.recently_resolved is not None
    assert len(pages) > 3 and counted["list"] >= 3  # paged, and charged as reads


async def test_resource_graph_lists_the_estate_in_pages_without_status(
    clock: ManualClock, allow_http: Any
) -> None:
    async with Emulator(load_scenario(CHANGING), clock=clock) as emu:
        async with graph(emu, allow_http) as client:

            async def query(text: str, top: int = 2) -> list[dict[str, Any]]:
                rows: list[dict[str, Any]] = []
                skip = None
                while True:
                    response = await client.resources(
                        QueryRequest(
                            subscriptions=["0c0c0c0c-0000-4000-8000-000000000001"],
                            query=text,
                            options=QueryRequestOptions(
                                top=top, skip_token=skip, result_format=ResultFormat.OBJECT_ARRAY
                            ),
                        )
                    )
                    rows.extend(response.data)
                    skip = response.skip_token
                    if not skip:
                        return rows

            text = (
                f"resources | where type in~ ({NETWORK_TYPES}) "
                "| project id, name, type, subscriptionId, resourceGroup, location, properties "
                "| order by id asc"
            )
            first = await query(text)
            at(clock, emu, 21600)
            later = await query(text)
            subscriptions = await query(
                "resourcecontainers | where type =~ 'microsoft.resources/subscriptions' "
                "| project subscriptionId, name"
            )
            taken = await query(f"{text} | take 3", top=2)
        counted = emu.counters.of("tenant")

    names = {r["name"] for r in first}
    assert names == {"vpngw-hub", "cn-hub-paris", "cn-hub-lyon", "lgw-paris", "lgw-lyon"}
    assert [r["id"] for r in first] == sorted(r["id"] for r in first)
    assert {r["type"] for r in first} >= {"microsoft.network/connections"}
    assert all(r["resourceGroup"] == "rg-hub" for r in first)
    connections = [r for r in first if r["type"] == "microsoft.network/connections"]
    assert all("connectionStatus" not in r["properties"] for r in connections)
    assert all("tunnelConnectionStatus" not in r["properties"] for r in connections)
    assert {r["name"] for r in later} == {
        "vpngw-hub",
        "vpngw-new",
        "cn-hub-paris",
        "cn-new-paris",
        "lgw-paris",
        "er-new",
    }
    assert subscriptions == [
        {"subscriptionId": "0c0c0c0c-0000-4000-8000-000000000001", "name": "connectivity"}
    ]
    assert len(taken) == 2  # `take` ends paging: no skip token after the first page
    assert counted["graph"] > 3


async def test_resource_graph_has_its_own_quota(clock: ManualClock, allow_http: Any) -> None:
    tight = ThrottlingSpec(resource_graph=GraphQuotaSpec(queries=2, window_seconds=5))
    async with (
        Emulator(load_scenario(CHANGING), clock=clock, throttling=tight) as emu,
        graph(emu, allow_http, retry_total=0) as client,
    ):
        request = QueryRequest(query="resources | take 1")
        headers: list[dict[str, str]] = []

        def keep(response: Any) -> None:
            headers.append(dict(response.http_response.headers))

        for _ in range(2):
            await client.resources(request, raw_response_hook=keep)
        with pytest.raises(HttpResponseError) as raised:
            await client.resources(request, raw_response_hook=keep)
        clock.advance(5)
        await client.resources(request, raw_response_hook=keep)
    assert raised.value.status_code == 429
    assert [h["x-ms-user-quota-remaining"] for h in headers] == ["1", "0", "0", "1"]
    assert headers[0]["x-ms-user-quota-resets-after"] == "00:00:05"


async def test_a_query_outside_what_is_understood_is_a_clear_400(
    clock: ManualClock, allow_http: Any
) -> None:
    async with (
        Emulator(load_scenario(CHANGING), clock=clock) as emu,
        graph(emu, allow_http) as client,
    ):
        with pytest.raises(HttpResponseError) as raised:
            await client.resources(QueryRequest(query="resources | summarize count() by type"))
    assert raised.value.status_code == 400
    assert "summarize" in str(raised.value) and "supported" in str(raised.value)


@pytest.mark.parametrize(
    "text",
    ["networkresources", "resources | where type", "resources | order by nope", "resources |x"],
)
def test_query_parser_refuses_what_it_cannot_answer(text: str) -> None:
    with pytest.raises(QueryError):
        parse_query(text)
