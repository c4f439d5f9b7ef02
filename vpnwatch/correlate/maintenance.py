"""Is a resource inside a planned-maintenance window at a given moment?

A failover that starts inside a matching window is `planned`. Windows are absolute (`start`,
`end`) or weekly (`weekday`, `start_time`, `duration_minutes`, in UTC unless `start_time`
carries a zone); `resources` are case-insensitive resource-id prefixes, none meaning all.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from vpnwatch.config import MaintenanceWindow

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _covers_resource(window: MaintenanceWindow, resource_id: str) -> bool:
    if not window.resources:
        return True
    low = resource_id.lower()
    return any(low.startswith(prefix.lower()) for prefix in window.resources)


def _covers_time(window: MaintenanceWindow, at: datetime) -> bool:
    at = _aware(at)
    if window.start is not None and window.end is not None:
        return _aware(window.start) <= at < _aware(window.end)
    assert window.weekday is not None and window.start_time is not None
    assert window.duration_minutes is not None
    tz = window.start_time.tzinfo or UTC
    local = at.astimezone(tz)
    back = (local.weekday() - _WEEKDAYS.index(window.weekday)) % 7
    duration = timedelta(minutes=window.duration_minutes)
    # the latest start on or before `at`, and earlier ones for windows longer than a week
    day = local.date() - timedelta(days=back)
    for weeks in range(int(duration / timedelta(weeks=1)) + 2):
        start = datetime.combine(
            day - timedelta(weeks=weeks), window.start_time.replace(tzinfo=None), tzinfo=tz
        )
        if start <= local < start + duration:
            return True
    return False


def maintenance_window(
    windows: Iterable[MaintenanceWindow], resource_id: str, at: datetime
) -> MaintenanceWindow | None:
    """The first window covering `resource_id` at `at`, if any."""
    for window in windows:
        if _covers_resource(window, resource_id) and _covers_time(window, at):
            return window
    return None
