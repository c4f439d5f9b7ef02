"""The tolerant wire-value readers and the bounded operation names (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vpnwatch.collect.parse import (
    bgp_peer_state,
    connection_status,
    timespan_seconds,
    utc_timestamp,
)
from vpnwatch.collect.telemetry import operation_name, url_subscription
from vpnwatch.observations import BgpPeerState, ConnectionStatus

SUB = "/subscriptions/11111111-1111-1111-1111-111111111111"
NET = f"{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network"


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        ("00:57:19.9003584", 57 * 60 + 19.9003584),
        ("1.02:03:04.5000000", 86400 + 2 * 3600 + 3 * 60 + 4.5),
        ("12:00:00", 43200.0),
        ("", None),
        (None, None),
        ("not a duration", None),
    ],
)
def test_timespan_seconds(raw: str | None, seconds: float | None) -> None:
    assert timespan_seconds(raw) == (pytest.approx(seconds) if seconds is not None else None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-01-01T10:00:00Z", datetime(2026, 1, 1, 10, tzinfo=UTC)),
        ("2026-01-01T10:00:00.1234567Z", datetime(2026, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2026-01-01T11:00:00+01:00", datetime(2026, 1, 1, 10, tzinfo=UTC)),
        ("2026-01-01T10:00:00", datetime(2026, 1, 1, 10, tzinfo=UTC)),
        ("11/04/2017 17:03:30", datetime(2017, 11, 4, 17, 3, 30, tzinfo=UTC)),
        ("11/4/2017 5:03:30 PM", datetime(2017, 11, 4, 17, 3, 30, tzinfo=UTC)),
        ("0001-01-01T00:00:00", None),
        ("", None),
        ("yesterday", None),
    ],
)
def test_utc_timestamp(raw: str, expected: datetime | None) -> None:
    assert utc_timestamp(raw) == expected


def test_status_readers_fall_back_to_unknown() -> None:
    assert connection_status("connected") is ConnectionStatus.CONNECTED
    assert connection_status("NotConnected") is ConnectionStatus.NOT_CONNECTED
    assert connection_status("Disconnecting") is ConnectionStatus.UNKNOWN
    assert bgp_peer_state("Connected") is BgpPeerState.CONNECTED
    assert bgp_peer_state(None) is BgpPeerState.UNKNOWN


@pytest.mark.parametrize(
    ("method", "url", "name"),
    [
        ("GET", f"{NET}/virtualNetworkGateways?api-version=x", "GET virtualNetworkGateways"),
        ("GET", f"{NET}/virtualNetworkGateways/gw-1?api-version=x", "GET virtualNetworkGateways"),
        ("POST", f"{NET}/virtualNetworkGateways/gw-1/getBgpPeerStatus", "POST getBgpPeerStatus"),
        ("GET", f"{NET}/connections?$skiptoken=abc", "GET connections"),
        ("GET", f"{NET}/connections/cn-ams", "GET connections"),
        ("GET", f"{NET}/publicIPAddresses/pip-1", "GET publicIPAddresses"),
        (
            "POST",
            f"{NET}/expressRouteCircuits/er/peerings/AzurePrivatePeering/routeTablesSummary/primary",
            "POST routeTablesSummary",
        ),
        (
            "GET",
            f"{SUB}/providers/Microsoft.Network/locations/westeurope/operations/0f3c",
            "GET operationStatus",
        ),
        (
            "GET",
            f"{SUB}/providers/Microsoft.Network/locations/westeurope/operationResults/0f3c",
            "GET operationResults",
        ),
        ("GET", "https://management.azure.com/subscriptions?api-version=x", "GET subscriptions"),
        ("GET", f"{SUB}/resourcegroups", "GET resourceGroups"),
        (
            "GET",
            f"{SUB}/providers/Microsoft.ResourceHealth/availabilityStatuses",
            "GET availabilityStatuses",
        ),
        (
            "POST",
            "https://management.azure.com/providers/Microsoft.ResourceGraph/resources",
            "POST resources",
        ),
        ("GET", f"{NET}/somethingElse/x-1234", "GET other"),
    ],
)
def test_operation_names_are_bounded(method: str, url: str, name: str) -> None:
    assert operation_name(method, url) == name


@pytest.mark.parametrize(
    ("url", "subscription"),
    [
        (f"https://management.azure.com{NET}/connections/cn-1?api-version=2024-05-01",
         "11111111-1111-1111-1111-111111111111"),
        ("https://westeurope.metrics.monitor.azure.com/subscriptions/ABCDEF00-0000-0000-0000-"
         "000000000001/metrics:getBatch?api-version=2024-02-01",
         "abcdef00-0000-0000-0000-000000000001"),
        ("https://management.azure.com/subscriptions?api-version=2022-12-01", ""),
        ("https://api.loganalytics.io/v1/workspaces/ws-1/query", ""),
    ],
)  # fmt: skip
def test_the_subscription_a_request_names(url: str, subscription: str) -> None:
    assert url_subscription(url) == subscription
