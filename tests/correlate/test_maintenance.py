"""Maintenance windows: absolute and weekly, matched by resource-id prefix."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from vpnwatch.config import MaintenanceWindow, StateSettings
from vpnwatch.correlate.maintenance import maintenance_window, schedule_covers
from vpnwatch.correlate.state import FleetState
from vpnwatch.observations import MaintenanceSchedule, MaintenanceSchedulesObserved

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


# --- Azure-defined schedules (customer-controlled gateway maintenance) ------------------------

BERLIN = ZoneInfo("Europe/Berlin")


def _schedule(
    recur: str, start: datetime, hours: float = 5.0, **kwargs: Any
) -> MaintenanceSchedule:
    return MaintenanceSchedule(
        configuration_id="/subscriptions/s1/resourceGroups/rg/providers/"
        "Microsoft.Maintenance/maintenanceConfigurations/mc",
        name="mc",
        start=start,
        duration=timedelta(hours=hours),
        time_zone=str(start.tzinfo),
        recur_every=recur,
        resources=(GW,),
        **kwargs,
    )


def test_an_azure_schedule_covers_only_its_assigned_gateway_exactly() -> None:
    schedule = _schedule("", datetime(2026, 3, 2, 10, 0, tzinfo=UTC), hours=1)
    assert maintenance_window([schedule], GW.upper(), MONDAY_10) is schedule
    # an assignment names one resource: a gateway whose id merely starts the same is not held
    assert maintenance_window([schedule], GW + "2", MONDAY_10) is None
    assert maintenance_window([schedule], GW, MONDAY_10 + timedelta(hours=1)) is None
    assert maintenance_window([schedule], GW, MONDAY_10 - timedelta(minutes=1)) is None


def test_every_other_day_in_local_time_across_a_dst_change() -> None:
    # 22:00 Berlin every 2 days for 5 hours; DST starts on 2026-03-29
    schedule = _schedule("2Days", datetime(2026, 3, 20, 22, 0, tzinfo=BERLIN))
    assert schedule_covers(schedule, datetime(2026, 3, 22, 21, 30, tzinfo=UTC))  # 22:30 CET
    assert not schedule_covers(schedule, datetime(2026, 3, 23, 21, 30, tzinfo=UTC))  # odd day
    # after the change 22:00 local is 20:00 UTC; the window crosses midnight
    assert schedule_covers(schedule, datetime(2026, 3, 30, 20, 30, tzinfo=UTC))
    assert schedule_covers(schedule, datetime(2026, 3, 31, 0, 30, tzinfo=UTC))
    assert not schedule_covers(schedule, datetime(2026, 3, 30, 19, 30, tzinfo=UTC))


def test_weekly_on_named_days() -> None:
    schedule = _schedule("Week Saturday,Sunday", datetime(2026, 3, 2, 1, 0, tzinfo=UTC), hours=4)
    assert schedule_covers(schedule, datetime(2026, 3, 7, 2, 0, tzinfo=UTC))  # Saturday
    assert schedule_covers(schedule, datetime(2026, 3, 8, 4, 59, tzinfo=UTC))  # Sunday
    assert not schedule_covers(schedule, datetime(2026, 3, 9, 2, 0, tzinfo=UTC))  # Monday
    every_other = _schedule("2Weeks Saturday", datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    assert schedule_covers(every_other, datetime(2026, 3, 7, 2, 0, tzinfo=UTC))
    assert not schedule_covers(every_other, datetime(2026, 3, 14, 2, 0, tzinfo=UTC))
    assert schedule_covers(every_other, datetime(2026, 3, 21, 2, 0, tzinfo=UTC))


def test_monthly_by_day_and_by_weekday() -> None:
    start = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
    by_day = _schedule("Month day15,day28", start, hours=2)
    assert schedule_covers(by_day, datetime(2026, 4, 28, 4, 0, tzinfo=UTC))
    assert not schedule_covers(by_day, datetime(2026, 4, 27, 4, 0, tzinfo=UTC))
    third_sunday = _schedule("Month Third Sunday", start, hours=2)
    assert schedule_covers(third_sunday, datetime(2026, 3, 15, 3, 30, tzinfo=UTC))
    assert not schedule_covers(third_sunday, datetime(2026, 3, 8, 3, 30, tzinfo=UTC))
    last_sunday = _schedule("Month Last Sunday", start, hours=2)
    assert schedule_covers(last_sunday, datetime(2026, 3, 29, 3, 30, tzinfo=UTC))
    assert not schedule_covers(last_sunday, datetime(2026, 3, 22, 3, 30, tzinfo=UTC))


def test_expiry_and_an_unreadable_rule_cover_nothing() -> None:
    start = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
    expiring = _schedule("Day", start, expires=datetime(2026, 3, 5, 0, 0, tzinfo=UTC))
    assert schedule_covers(expiring, datetime(2026, 3, 4, 2, 0, tzinfo=UTC))
    assert not schedule_covers(expiring, datetime(2026, 3, 6, 2, 0, tzinfo=UTC))
    assert not schedule_covers(
        _schedule("Fortnightly", start), datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    )


def test_configured_and_azure_windows_reach_the_detectors_together() -> None:
    state = FleetState(StateSettings())
    configured = MaintenanceWindow(start=MONDAY_10, end=MONDAY_10.replace(hour=11))
    schedule = _schedule("", datetime(2026, 3, 3, 10, 0, tzinfo=UTC), hours=1)
    state.apply(
        MaintenanceSchedulesObserved(
            observed_at=MONDAY_10,
            source="arm.maintenance",
            subscription_id="S1",
            schedules=(schedule,),
        )
    )
    assert state.maintenance_windows([configured]) == [configured, schedule]
    # a later pass replaces the subscription's set: a deleted configuration stops counting
    state.apply(
        MaintenanceSchedulesObserved(
            observed_at=MONDAY_10, source="arm.maintenance", subscription_id="s1"
        )
    )
    assert state.maintenance_windows([configured]) == [configured]
