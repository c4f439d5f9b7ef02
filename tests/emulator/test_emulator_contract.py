"""Every emulator body has the shape of the verbatim Azure example it stands for.

For each example file under azure_wire/ the matching emulator response is fetched over HTTP and
every key of the example's wire body (`responses.<status>.body`) must exist in the emulator's
body at the same JSON path with the same JSON type. Lists: each emulator element is compared to
the example's first element, or, where the example mixes kinds (peering types, connection
types), to the first example element of the same kind.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from vpnwatch.clock import ManualClock
from vpnwatch.emulator import Emulator, load_scenario

WIRE = Path(__file__).parent / "azure_wire"
SUB = "6f1d3c2a-0000-4000-8000-00000000a001"
WEU = "rg-hub-weu"
NEU = "rg-hub-neu"

Fetch = Callable[[Emulator, Any], Awaitable[tuple[int, Any, dict[str, str]]]]


def _get(rg: str, tail: str) -> Fetch:
    async def fetch(emu: Emulator, arm: Any) -> tuple[int, Any, dict[str, str]]:
        return 200, await arm.get(arm.url(emu, rg, tail, SUB)), {}

    return fetch


def _post(rg: str, tail: str) -> Fetch:
    async def fetch(emu: Emulator, arm: Any) -> tuple[int, Any, dict[str, str]]:
        accepted, body = await arm.lro(arm.url(emu, rg, tail, SUB))
        return 200, body, dict(accepted.headers)

    return fetch


def _health(tail: str, at: float) -> Fetch:
    """Resource Health of the failover scenario's gateway at scenario time `at`: an outage
    (Unavailable) and, once it is over, an Available status with `recentlyResolved`."""

    async def fetch(emu: Emulator, arm: Any) -> tuple[int, Any, dict[str, str]]:
        clock = ManualClock()
        scenario = load_scenario("unplanned-failover")
        sub = scenario.subscription_ids[0]
        async with Emulator(scenario, clock=clock, page_size=2) as failover:
            assert failover.started_at is not None
            clock.set(failover.started_at + timedelta(seconds=at))
            url = f"{failover.base_url}/subscriptions/{sub}{tail}"
            return 200, await arm.get(url), {}

    return fetch


def _p2s_sessions(at: float) -> Fetch:
    """The point-to-site sessions of single-connection-failover's vpngw-solo-weu (60 users)."""

    async def fetch(emu: Emulator, arm: Any) -> tuple[int, Any, dict[str, str]]:
        clock = ManualClock()
        scenario = load_scenario("single-connection-failover")
        sub = scenario.subscription_ids[0]
        async with Emulator(scenario, clock=clock) as p2s:
            assert p2s.started_at is not None
            clock.set(p2s.started_at + timedelta(seconds=at))
            url = (
                f"{p2s.base_url}/subscriptions/{sub}/resourceGroups/rg-edge-weu/providers/"
                "Microsoft.Network/virtualNetworkGateways/vpngw-solo-weu/"
                "getVpnClientConnectionHealth"
            )
            accepted, body = await arm.lro(url)
            assert len(body["value"]) == 60
            return 200, body, dict(accepted.headers)

    return fetch


GATEWAY_HEALTH = (
    "/resourceGroups/rg-core-weu/providers/Microsoft.Network/virtualNetworkGateways/"
    "vpngw-core-weu/providers/Microsoft.ResourceHealth/availabilityStatuses/current"
)
GROUP_HEALTH = "/resourceGroups/rg-core-weu/providers/Microsoft.ResourceHealth/availabilityStatuses"

GW = "/virtualNetworkGateways/vpngw-hub-weu"
ER = "/expressRouteCircuits/er-weu-amsterdam"

SERVED: dict[str, Fetch] = {
    "gateways/VirtualNetworkGatewayGet.json": _get(WEU, GW),
    "gateways/VirtualNetworkGatewayList.json": _get(WEU, "/virtualNetworkGateways"),
    "gateways/VirtualNetworkGatewayGetBGPPeerStatus.json": _post(WEU, f"{GW}/getBgpPeerStatus"),
    "gateways/VirtualNetworkGatewayLearnedRoutes.json": _post(WEU, f"{GW}/getLearnedRoutes"),
    "gateways/VirtualNetworkGatewayGetVpnclientConnectionHealth.json": _p2s_sessions(60),
    "gateways/VirtualNetworkGatewayGetAdvertisedRoutes.json": _post(
        WEU, f"{GW}/getAdvertisedRoutes?peer=192.168.10.254"
    ),
    "connections/VirtualNetworkGatewayConnectionGet.json": _get(
        WEU, "/connections/cn-hub-weu-amsterdam"
    ),
    "connections/VirtualNetworkGatewayConnectionsList.json": _get(WEU, "/connections"),
    "connections/LocalNetworkGatewayGet.json": _get(WEU, "/localNetworkGateways/lgw-amsterdam-dc"),
    "expressroute/ExpressRouteCircuitGet.json": _get(WEU, ER),
    "expressroute/ExpressRouteCircuitListByResourceGroup.json": _get(WEU, "/expressRouteCircuits"),
    "expressroute/ExpressRouteCircuitStats.json": _get(WEU, f"{ER}/stats"),
    "expressroute/ExpressRouteCircuitPeeringGet.json": _get(WEU, f"{ER}/peerings/MicrosoftPeering"),
    "expressroute/ExpressRouteCircuitPeeringList.json": _get(WEU, f"{ER}/peerings"),
    "expressroute/ExpressRouteCircuitPeeringStats.json": _get(
        WEU, f"{ER}/peerings/AzurePrivatePeering/stats"
    ),
    "expressroute/ExpressRouteCircuitARPTableList.json": _post(
        WEU, f"{ER}/peerings/AzurePrivatePeering/arpTables/primary"
    ),
    "expressroute/ExpressRouteCircuitRouteTableList.json": _post(
        WEU, f"{ER}/peerings/AzurePrivatePeering/routeTables/primary"
    ),
    "expressroute/ExpressRouteCircuitRouteTableSummaryList.json": _post(
        WEU, f"{ER}/peerings/AzurePrivatePeering/routeTablesSummary/secondary"
    ),
    # Non-zonal Standard public IP (the example has no `zones`).
    "publicip/PublicIpAddressGet.json": _get(WEU, "/publicIPAddresses/vpngw-branch-weu-pip0"),
    # During the failover (120-165 s, reported 60 s late), then after it.
    "resourcehealth/AvailabilityStatus_GetByResource.json": _health(GATEWAY_HEALTH, 200),
    "resourcehealth/AvailabilityStatuses_ListByResourceGroup.json": _health(GROUP_HEALTH, 400),
    # The PUT example's 200 body is the GET shape of a zonal public IP.
    "publicip/PublicIpAddressCreateCustomizedValues.json": _get(
        NEU, "/publicIPAddresses/vpngw-hub-neu-pip0"
    ),
}

NOT_SERVED = {
    "expressroute/ExpressRouteGatewayGet.json": (
        "Virtual WAN ExpressRoute gateway: the emulator serves classic ExpressRoute gateways "
        "(virtualNetworkGateways with gatewayType ExpressRoute)"
    ),
    "expressroute/ExpressRouteConnectionGet.json": (
        "Virtual WAN ExpressRoute connection: classic ExpressRoute connections are served as "
        "Microsoft.Network/connections with connectionType ExpressRoute"
    ),
}

DISCRIMINATORS = ("connectionType", "peeringType", "availabilityState")
# Keys an example carries only because of that resource's history; checked when present.
CONDITIONAL = {
    # Resource Health adds it to an Available status only after a recent outage.
    "recentlyResolved",
}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    return "array" if isinstance(value, list) else "object"


def _kind(element: Any) -> tuple[str, str] | None:
    if isinstance(element, dict):
        props = element.get("properties")
        if isinstance(props, dict):
            for key in DISCRIMINATORS:
                if isinstance(props.get(key), str):
                    return key, props[key]
    return None


def _template(examples: list[Any], element: Any) -> Any:
    """The example element an emulator element is compared with; None: not covered."""
    kinds = [_kind(e) for e in examples]
    if not any(kinds):
        return examples[0]
    mine = _kind(element)
    for kind, example in zip(kinds, examples, strict=True):
        if kind == mine:
            return example
    return None


def shape_problems(example: Any, actual: Any, path: str, counter: list[int]) -> list[str]:
    if _json_type(example) != _json_type(actual):
        return [f"{path}: expected {_json_type(example)}, got {_json_type(actual)}"]
    problems: list[str] = []
    if isinstance(example, dict):
        for key, value in example.items():
            if key.startswith("/subscriptions/"):
                continue  # a map keyed by resource id (userAssignedIdentities), not a schema key
            if key not in actual:
                if key not in CONDITIONAL:
                    problems.append(f"{path}.{key}: missing")
            else:
                problems.extend(shape_problems(value, actual[key], f"{path}.{key}", counter))
    elif isinstance(example, list) and example:
        for i, element in enumerate(actual):
            template = _template(example, element)
            if template is not None:
                counter[0] += 1
                problems.extend(shape_problems(template, element, f"{path}[{i}]", counter))
    return problems


def test_every_example_is_served_or_skipped_with_a_reason() -> None:
    files = {str(p.relative_to(WIRE)) for p in WIRE.rglob("*.json")}
    assert files == set(SERVED) | set(NOT_SERVED)


@pytest.mark.parametrize("example_file", sorted(SERVED))
async def test_body_has_the_example_shape(example_file: str, quiet: Emulator, arm: Any) -> None:
    wrapper = json.loads((WIRE / example_file).read_text(encoding="utf-8"))
    status, body, headers = await SERVED[example_file](quiet, arm)
    example = wrapper["responses"][str(status)]["body"]
    counter = [0]
    problems = shape_problems(example, body, "$", counter)
    assert not problems, f"{example_file}:\n" + "\n".join(problems)
    if isinstance(example.get("value"), list) and example["value"]:
        assert counter[0] > 0, f"{example_file}: no list element was compared"
    accepted = wrapper["responses"].get("202", {}).get("headers", {})
    for header in accepted:
        assert header.lower() in {h.lower() for h in headers}, (
            f"{example_file}: the 202 lacks the {header} header"
        )
    if "202" in wrapper["responses"]:
        assert "location" in {h.lower() for h in headers}, f"{example_file}: 202 without Location"


def test_shape_check_reports_file_paths() -> None:
    example = {"properties": {"a": 1, "list": [{"b": "x"}]}}
    actual = {"properties": {"a": "1", "list": [{"c": 2}]}}
    problems = shape_problems(example, actual, "$", [0])
    assert problems == [
        "$.properties.a: expected number, got string",
        "$.properties.list[0].b: missing",
    ]
