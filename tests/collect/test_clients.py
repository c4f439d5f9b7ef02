"""How the clients are built: TLS, token scopes, request telemetry, which collectors run."""

from __future__ import annotations

import re

import pytest
from azure.core.exceptions import (
    DeserializationError,
    ServiceRequestError,
    ServiceResponseTimeoutError,
)
from collect_helpers import HUB, SPOKE, TWO_SUBSCRIPTIONS, RecordingObserver, emulator_settings
from collect_helpers import of_type as observed

from vpnwatch.clock import ManualClock
from vpnwatch.collect import build_collectors
from vpnwatch.collect.base import Scope
from vpnwatch.collect.clients import AzureClients, token_scope
from vpnwatch.collect.errors import classify
from vpnwatch.collect.gateways import GatewayCollector
from vpnwatch.config import Settings
from vpnwatch.emulator import Emulator, load_scenario
from vpnwatch.observations import CollectionRun, FailureCause, GatewayObserved

EXPECTED_OPERATIONS = {
    "GET virtualNetworkGateways",
    "GET localNetworkGateways",
    "GET publicIPAddresses",
    "GET connections",
    "POST getBgpPeerStatus",
    "GET operationResults",  # BGP status polls its Location, never the status monitor
    "GET expressRouteCircuits",  # peerings come with it: no `GET peerings`
    "GET stats",
    "POST routeTablesSummary",
    "GET availabilityStatuses",
}


async def test_every_attempt_reaches_the_observer_under_a_bounded_name(
    emulator: Emulator, clients: AzureClients, observer: RecordingObserver, clock: ManualClock
) -> None:
    settings = emulator_settings(emulator.base_url)
    runs: list[CollectionRun] = []
    for collector in build_collectors(settings, clients, clock):
        for scope in (Scope(HUB, ("rg-hub-weu",)), Scope(SPOKE, ("rg-spoke-neu",))):
            observations = await collector.collect(scope)
            runs.extend(o for o in observations if isinstance(o, CollectionRun))

    assert observer.operations == EXPECTED_OPERATIONS
    assert len(observer.calls) == len(emulator.requests) == sum(r.requests for r in runs)
    names = " ".join(observer.operations)
    assert not re.search(r"[0-9a-f]{8}-|/|vpngw|er-amsterdam|rg-", names)  # no ids, no names
    assert all(status == 200 or status == 202 for _, status, _, _ in observer.calls)
    assert all(seconds >= 0 for _, _, seconds, _ in observer.calls)
    reads = [remaining for op, _, _, remaining in observer.calls if op.startswith("GET")]
    assert all(r is not None and r > 0 for r in reads)


async def test_https_with_the_emulator_ca_and_no_http_exception(clock: ManualClock) -> None:
    async with Emulator(load_scenario(TWO_SUBSCRIPTIONS), clock=clock, port=0, tls=True) as emu:
        assert emu.base_url.startswith("https://127.0.0.1:") and emu.cert_path
        settings = emulator_settings(
            emu.base_url, azure={"allow_http": False, "verify_tls": emu.cert_path}
        )
        async with AzureClients(settings) as clients:
            observations = await GatewayCollector(clients, clock, 300).collect(
                Scope(SPOKE, ("rg-spoke-neu",))
            )

    assert set(observed(observations, GatewayObserved)) == {"vpngw-spoke"}
    assert observations[-1].ok


def _settings(azure: dict[str, object]) -> Settings:
    return Settings(azure=azure, targets={"subscriptions": [HUB]})


def test_token_scopes_follow_the_cloud_not_just_the_url() -> None:
    assert token_scope(_settings({})) == "https://management.azure.com/.default"
    assert token_scope(_settings({"cloud": "AzureChinaCloud"})) == (
        "https://management.chinacloudapi.cn/.default"
    )
    assert token_scope(_settings({"cloud": "AzureUSGovernment"})) == (
        "https://management.core.usgovcloudapi.net/.default"
    )
    # An emulator standing in for a sovereign cloud: requests go local, the audience stays.
    custom = {
        "cloud": "custom",
        "endpoints": {
            "resource_manager": "https://127.0.0.1:9",
            "token_audience": "https://management.usgovcloudapi.net/",
        },
    }
    assert token_scope(_settings(custom)) == "https://management.usgovcloudapi.net/.default"


async def test_build_collectors_honours_enabled(clock: ManualClock) -> None:
    settings = Settings(
        targets={"subscriptions": [HUB]},
        collectors={"bgp": {"enabled": False}, "connections": {"interval_seconds": 5}},
    )
    collectors = build_collectors(settings, AzureClients(settings), clock)

    assert [c.name for c in collectors] == [
        "arm.gateways",
        "arm.connections",
        "arm.expressroute",
        "arm.resourcehealth",
    ]
    assert [c.interval_seconds for c in collectors] == [300.0, 5.0, 30.0, 60.0]


@pytest.mark.parametrize(
    ("exc", "cause"),
    [
        (ServiceResponseTimeoutError("read timed out"), FailureCause.TIMEOUT),
        (TimeoutError(), FailureCause.TIMEOUT),
        (ServiceRequestError("Cannot connect to host"), FailureCause.UNREACHABLE),
        (DeserializationError("bad shape"), FailureCause.INVALID_RESPONSE),
        (KeyError("properties"), FailureCause.INVALID_RESPONSE),
    ],
)
def test_transport_and_parsing_failures_are_classified(
    exc: BaseException, cause: FailureCause
) -> None:
    failure = classify(exc, "list connections in resource group rg-x")
    assert failure.cause is cause
    assert failure.reason.startswith("list connections in resource group rg-x failed: ")
    assert type(exc).__name__ in failure.reason
