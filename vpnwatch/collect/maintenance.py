"""Customer-controlled gateway maintenance: the windows Azure itself knows about.

A VPN or ExpressRoute gateway's maintenance can be held to a window the customer chooses: a
`Microsoft.Maintenance/maintenanceConfigurations` resource (scope `Resource`) whose
`maintenanceWindow` gives `startDateTime` and `expirationDateTime` ("yyyy-MM-dd HH:mm", local
to `timeZone`, a Windows zone name), `duration` ("HH:mm") and `recurEvery`, assigned to the
gateway by a `configurationAssignments` resource
(https://learn.microsoft.com/azure/vpn-gateway/customer-controlled-gateway-maintenance).

Each pass makes two subscription-wide reads (`maintenance_configurations.list` and
`configuration_assignments_within_subscription.list`, api-version 2023-04-01), charged to the
subscription's ARM read budget like every other ARM collector, and emits one
`MaintenanceSchedulesObserved` per subscription. The correlator lays the occurrences out.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from vpnwatch.collect.base import ArmCollector, CallFailed, Scope, all_of, name_of
from vpnwatch.collect.errors import Failure
from vpnwatch.collect.telemetry import tally_requests
from vpnwatch.observations import (
    FailureCause,
    MaintenanceSchedule,
    MaintenanceSchedulesObserved,
    Observation,
)
from vpnwatch.windowszones import iana_zone

log = logging.getLogger(__name__)

# Resource types whose maintenance a configuration can hold to a window.
GATEWAY_TYPES = (
    "/providers/microsoft.network/virtualnetworkgateways/",
    "/providers/microsoft.network/vpngateways/",
    "/providers/microsoft.network/expressroutegateways/",
)

_NEVER_YEAR = 9999  # "9999-12-31 00:00": the window never expires


class ScheduleError(ValueError):
    """A maintenance configuration whose window cannot be read."""


def zone_of(name: str | None) -> str:
    """The IANA zone for a configuration's `timeZone` (Windows or IANA spelling)."""
    if not name:
        raise ScheduleError("the maintenance window has no timeZone")
    try:
        return iana_zone(name)
    except ValueError as exc:
        raise ScheduleError(str(exc)) from exc


def local_time(text: str | None, zone: str) -> datetime | None:
    """ "yyyy-MM-dd HH:mm" in `zone`, as an aware datetime (None for no value or year 9999)."""
    if not text:
        return None
    try:
        naive = datetime.strptime(text.strip()[:16], "%Y-%m-%d %H:%M")
    except ValueError as exc:
        raise ScheduleError(f"a window time {text!r} is not 'yyyy-MM-dd HH:mm'") from exc
    if naive.year >= _NEVER_YEAR:
        return None
    return naive.replace(tzinfo=ZoneInfo(zone))


def duration_of(text: str | None) -> timedelta:
    """ "HH:mm" as a duration."""
    hours, _, minutes = (text or "").strip().partition(":")
    try:
        value = timedelta(hours=int(hours), minutes=int(minutes or 0))
    except ValueError as exc:
        raise ScheduleError(f"a window duration {text!r} is not 'HH:mm'") from exc
    if value <= timedelta(0):
        raise ScheduleError(f"a window duration {text!r} is not positive")
    return value


def schedule_of(configuration: Any, resources: tuple[str, ...]) -> MaintenanceSchedule:
    """One SDK `MaintenanceConfiguration` as a schedule for the gateways assigned to it."""
    zone = zone_of(configuration.time_zone)
    start = local_time(configuration.start_date_time, zone)
    if start is None:
        raise ScheduleError("the maintenance window has no startDateTime")
    return MaintenanceSchedule(
        configuration_id=configuration.id,
        name=configuration.name or name_of(configuration.id),
        start=start,
        duration=duration_of(configuration.duration),
        time_zone=zone,
        recur_every=(configuration.recur_every or "").strip(),
        expires=local_time(configuration.expiration_date_time, zone),
        resources=resources,
    )


def _in_scope(resource_id: str, scope: Scope) -> bool:
    if not scope.resource_groups:
        return True
    low = resource_id.lower()
    return any(f"/resourcegroups/{g.lower()}/" in low for g in scope.resource_groups)


class MaintenanceCollector(ArmCollector):
    name = "arm.maintenance"
    kind = "maintenance_configuration"

    async def collect(self, scope: Scope) -> list[Observation]:
        started = time.monotonic()
        failures: list[tuple[str, Failure]] = []
        observations: list[Observation] = []
        with tally_requests() as tally:
            client = self.clients.maintenance(scope.subscription_id)
            try:
                configurations, assignments = await all_of(
                    self.list_all(
                        f"list maintenance configurations of {scope.label}",
                        lambda: client.maintenance_configurations.list(),
                    ),
                    self.list_all(
                        f"list maintenance configuration assignments of {scope.label}",
                        lambda: client.configuration_assignments_within_subscription.list(),
                    ),
                )
            except CallFailed as failed:
                failures.append(("*", failed.failure))
            else:
                schedules, problems = self._schedules(configurations, assignments, scope)
                failures.extend(problems)
                observations.append(
                    MaintenanceSchedulesObserved(
                        observed_at=self.clock.now(),
                        source=self.name,
                        subscription_id=scope.subscription_id,
                        schedules=tuple(schedules),
                    )
                )
        run = self._run(scope, failures, [], tally, time.monotonic() - started)
        observations.append(run)
        return observations

    def _schedules(
        self, configurations: list[Any], assignments: list[Any], scope: Scope
    ) -> tuple[list[MaintenanceSchedule], list[tuple[str, Failure]]]:
        assigned: dict[str, list[str]] = {}
        for assignment in assignments:
            resource_id = assignment.resource_id or ""
            config_id = assignment.maintenance_configuration_id or ""
            low = resource_id.lower()
            if not config_id or not any(t in low for t in GATEWAY_TYPES):
                continue
            if _in_scope(resource_id, scope):
                assigned.setdefault(config_id.lower(), []).append(resource_id)
        schedules: list[MaintenanceSchedule] = []
        problems: list[tuple[str, Failure]] = []
        for configuration in configurations:
            gateways = assigned.get((configuration.id or "").lower())
            if not gateways:
                continue  # not assigned to any gateway watched here
            try:
                schedules.append(schedule_of(configuration, tuple(gateways)))
            except ScheduleError as exc:
                reason = f"maintenance configuration {configuration.id}: {exc}"
                log.warning("%s", reason)
                problems.append(("*", Failure(FailureCause.INVALID_RESPONSE, reason)))
        return schedules, problems
