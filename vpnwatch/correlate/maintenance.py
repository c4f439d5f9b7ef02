"""Is a resource inside a planned-maintenance window at a given moment?

A failover that starts inside a matching window is `planned`. Windows come from two places:

* the configuration (`correlator.maintenance_windows`): absolute (`start`, `end`) or weekly
  (`weekday`, `start_time`, `duration_minutes`, in UTC unless `start_time` carries a zone);
  `resources` are case-insensitive resource-id prefixes, none meaning all;
* Azure (`MaintenanceSchedule`, customer-controlled gateway maintenance): a first start, a
  duration and `recurEvery` laid out in the configuration's time zone, for the gateways it is
  assigned to.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from vpnwatch.config import MaintenanceWindow
from vpnwatch.observations import MaintenanceSchedule

AnyWindow = MaintenanceWindow | MaintenanceSchedule

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _covers_resource(window: AnyWindow, resource_id: str) -> bool:
    if isinstance(window, MaintenanceSchedule):
        return resource_id.lower() in (r.lower() for r in window.resources)
    if not window.resources:
        return True
    low = resource_id.lower()
    return any(low.startswith(prefix.lower()) for prefix in window.resources)


def _covers_time(window: AnyWindow, at: datetime) -> bool:
    at = _aware(at)
    if isinstance(window, MaintenanceSchedule):
        return schedule_covers(window, at)
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
    windows: Iterable[AnyWindow], resource_id: str, at: datetime
) -> AnyWindow | None:
    """The first window covering `resource_id` at `at`, if any."""
    for window in windows:
        if _covers_resource(window, resource_id) and _covers_time(window, at):
            return window
    return None


# --- Azure's recurEvery --------------------------------------------------------------------------
# "Hour" | "6Hours" | "Day" | "3Days" | "Week" | "2Weeks Saturday,Sunday" | "Month day23,day24" |
# "Month Third Sunday" | "Month Last Sunday Offset-3" ("" = one time). Spelled out in the REST
# spec's MaintenanceWindow.recurEvery (Microsoft.Maintenance, stable/2023-04-01/Maintenance.json).

_RULE = re.compile(r"^\s*(\d*)\s*(hour|day|week|month)s?\b\s*(.*)$", re.IGNORECASE)
_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_ORDINALS = ("first", "second", "third", "fourth")


class _Rule:
    """A parsed `recurEvery`: which local dates carry an occurrence."""

    def __init__(self, text: str, first: datetime) -> None:
        match = _RULE.match(text)
        if match is None:
            raise ValueError(f"unknown recurEvery {text!r}")
        self.every = max(1, int(match[1] or 1))
        self.unit = match[2].lower()
        self.first = first
        rest = match[3].strip().lower()
        self.offset = 0
        offset = re.search(r"offset(-?\d+)", rest)
        if offset is not None:
            self.offset = int(offset[1])
            rest = rest[: offset.start()].strip()
        self.weekdays: set[int] = set()
        self.month_days: set[int] = set()
        self.nth: tuple[int, int] | None = None  # (ordinal or -1 for last, weekday)
        if self.unit == "week":
            names = [n.strip() for n in rest.split(",") if n.strip()]
            self.weekdays = {_weekday(n) for n in names} or {first.weekday()}
        elif self.unit == "month":
            words = rest.replace(",", " ").split()
            if words and all(w.startswith("day") for w in words):
                self.month_days = {int(w.removeprefix("day")) for w in words}
            elif len(words) == 2:
                ordinal = -1 if words[0] == "last" else _ORDINALS.index(words[0]) + 1
                self.nth = (ordinal, _weekday(words[1]))
            elif not words:
                self.month_days = {first.day}
            else:
                raise ValueError(f"unknown recurEvery {text!r}")

    def on(self, day: date) -> bool:
        first = self.first.date()
        if self.unit == "day":
            return (day - first).days % self.every == 0
        if self.unit == "week":
            monday = first - timedelta(days=first.weekday())
            weeks = (day - monday).days // 7
            return weeks % self.every == 0 and day.weekday() in self.weekdays
        base = day - timedelta(days=self.offset)
        months = (base.year - first.year) * 12 + base.month - first.month
        if months % self.every:
            return False
        if self.month_days:
            return base.day in self.month_days
        assert self.nth is not None
        ordinal, weekday = self.nth
        if base.weekday() != weekday:
            return False
        if ordinal == -1:
            return (base + timedelta(days=7)).month != base.month
        return (base.day - 1) // 7 + 1 == ordinal


def _weekday(name: str) -> int:
    for index, day in enumerate(_DAY_NAMES):
        if day.startswith(name.strip().lower()[:3]):
            return index
    raise ValueError(f"unknown weekday {name!r}")


def schedule_covers(schedule: MaintenanceSchedule, at: datetime) -> bool:
    """Whether an occurrence of an Azure maintenance schedule spans `at`. An unreadable
    `recurEvery` covers nothing (a window we cannot lay out must not plan an outage)."""
    tz = ZoneInfo(schedule.time_zone)
    local = _aware(at).astimezone(tz)
    first = schedule.start.astimezone(tz)
    if local < first or (schedule.expires is not None and local >= schedule.expires):
        return False
    if not schedule.recur_every:
        return local < first + schedule.duration
    try:
        rule = _Rule(schedule.recur_every, first)
    except ValueError:
        return False
    if rule.unit == "hour":
        step = timedelta(hours=rule.every)
        start = first + step * ((local - first) // step)
        return local < start + schedule.duration
    for back in range(schedule.duration.days + 2):
        day = local.date() - timedelta(days=back)
        if day < first.date() or not rule.on(day):
            continue
        start = datetime.combine(day, first.time().replace(tzinfo=None), tzinfo=tz)
        if start <= local < start + schedule.duration:
            return True
    return False
