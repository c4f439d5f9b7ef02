"""Maintenance windows: absolute and weekly, matched by resource-id prefix."""

from __future__ import annotations

from datetime import UTC, datetime, time

from vpnwatch.config import MaintenanceWindow
from vpnwatch.correlate.maintenance import maintenance_window

GW = "/subscriptions/s1/resourceGroups/RG-NET/providers/Microsoft.Network/virtualNetworkGateways/gw"
MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def test_absolute_window_is_half_open_and_matches_prefix_ignoring_case() -> None:
    window = MaintenanceWindow(
        start=MONDAY_10,
        end=MONDAY_10.replace(hour=11),
        resources=["/subscriptions/S1/resourcegroups/rg-net"],
    )
    assert maintenance_window([window], GW, MONDAY_10) is window
    assert maintenance_window([window], GW, MONDAY_10.replace(hour=11)) is None
    assert maintenance_window([window], "/subscriptions/s2/x", MONDAY_10) is None


def test_weekly_window_repeats_and_may_cross_midnight() -> None:
    window = MaintenanceWindow(weekday="sun", start_time=time(23, 0), duration_minutes=120)
    sunday_late = datetime(2026, 3, 8, 23, 30, tzinfo=UTC)
    monday_early = datetime(2026, 3, 9, 0, 59, tzinfo=UTC)
    assert maintenance_window([window], GW, sunday_late) is window
    assert maintenance_window([window], GW, monday_early) is window
    assert maintenance_window([window], GW, datetime(2026, 3, 9, 1, 0, tzinfo=UTC)) is None
    assert maintenance_window([window], GW, datetime(2026, 3, 15, 23, 5, tzinfo=UTC)) is window
    assert maintenance_window([window], GW, MONDAY_10) is None


def test_weekly_window_in_another_time_zone() -> None:
    from datetime import timedelta, timezone

    cet = timezone(timedelta(hours=1))
    window = MaintenanceWindow(
        weekday="mon", start_time=time(11, 0, tzinfo=cet), duration_minutes=30
    )
    assert maintenance_window([window], GW, MONDAY_10.replace(minute=10)) is window
    assert maintenance_window([window], GW, MONDAY_10.replace(hour=11)) is None
