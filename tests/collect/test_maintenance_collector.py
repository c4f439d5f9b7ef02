"""The maintenance collector: the real `MaintenanceManagementClient` against the emulator's
`Microsoft.Maintenance` surface, driven by a shipped scenario."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from collect_helpers import TOKEN, emulator_settings, run_of

from vpnwatch.clock import ManualClock
from vpnwatch.collect.base import Scope
from vpnwatch.collect.clients import AzureClients
from vpnwatch.collect.maintenance import MaintenanceCollector
from vpnwatch.correlate.maintenance import schedule_covers
from vpnwatch.emulator import Emulator, load_scenario
from vpnwatch.emulator.rbac import RoleGrant
from vpnwatch.emulator.scenario import SCENARIO_DIR
from vpnwatch.observations import FailureCause, MaintenanceSchedulesObserved

SCENARIO = "azure-maintenance-window-failover"
SUB = "6f1d3c2a-0000-4000-8000-00000000a301"
GATEWAY = (
    f"/subscriptions/{SUB}/resourceGroups/rg-core-neu/providers/Microsoft.Network/"
    "virtualNetworkGateways/vpngw-core-neu"
)
START = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)  # minute-aligned: Azure writes minutes


async def _collect(
    emu: Emulator, clock: ManualClock, scope: Scope | None = None, **kwargs: object
) -> list[object]:
    settings = emulator_settings(emu.base_url, subscriptions=[SUB], **kwargs)
    async with AzureClients(settings, clock=clock) as clients:
        collector = MaintenanceCollector(clients, clock, 3600.0)
        return list(await collector.collect(scope or Scope(SUB)))


async def test_reads_the_gateways_window_with_the_real_sdk() -> None:
    clock = ManualClock(START)
    async with Emulator(load_scenario(SCENARIO), clock=clock, token=TOKEN) as emu:
        observations = await _collect(emu, clock)
        counts = emu.counters.of(SUB)
    run = run_of(observations)  # type: ignore[arg-type]
    assert run.ok, run.reason
    assert run.requests == 2
    assert counts.get("get") == 2  # two ARM reads, charged to the subscription's read bucket
    assert run.remaining_reads is not None
    (seen,) = [o for o in observations if isinstance(o, MaintenanceSchedulesObserved)]
    (schedule,) = seen.schedules
    assert schedule.name == "mc-vpngw-core-neu"
    assert schedule.resources == (GATEWAY,)
    assert schedule.time_zone == "Europe/Berlin"  # "W. Europe Standard Time"
    assert schedule.recur_every == "Day"
    assert schedule.duration == timedelta(minutes=4)
    assert schedule.expires is None  # "9999-12-31 00:00"
    assert schedule.start == START + timedelta(seconds=240)
    assert schedule.start.utcoffset() == timedelta(hours=1)  # local time in Berlin, winter
    # the window recurs daily: covered on the next day, not outside it
    assert schedule_covers(schedule, START + timedelta(days=1, seconds=300))
    assert not schedule_covers(schedule, START + timedelta(days=1, seconds=120))


async def test_only_gateways_in_the_watched_resource_groups_count() -> None:
    clock = ManualClock(START)
    scenario = load_scenario(SCENARIO)
    async with Emulator(scenario, clock=clock, token=TOKEN) as emu:
        observations = await _collect(emu, clock, Scope(SUB, ("rg-other",)))
    (seen,) = [o for o in observations if isinstance(o, MaintenanceSchedulesObserved)]
    assert seen.schedules == ()  # the configuration holds no gateway in the watched groups


async def test_a_role_without_maintenance_reads_fails_the_run_and_keeps_nothing() -> None:
    clock = ManualClock(START)
    grant = RoleGrant(not_actions=("Microsoft.Maintenance/*",))
    async with Emulator(load_scenario(SCENARIO), clock=clock, token=TOKEN, grant=grant) as emu:
        observations = await _collect(emu, clock, retry_total=0)
    run = run_of(observations)  # type: ignore[arg-type]
    assert not run.ok
    assert run.cause is FailureCause.AUTH
    assert "maintenance" in run.reason
    # no (empty) schedule set replaces what the correlator knew
    assert not [o for o in observations if isinstance(o, MaintenanceSchedulesObserved)]


@pytest.mark.parametrize(
    ("zone", "offset"),
    [("UTC", timedelta(0)), ("Pacific Standard Time", timedelta(hours=-8))],
)
async def test_the_window_is_local_to_its_time_zone(
    zone: str, offset: timedelta, tmp_path: Path
) -> None:
    text = (SCENARIO_DIR / f"{SCENARIO}.yaml").read_text()
    changed = tmp_path / "zone.yaml"
    changed.write_text(text.replace("W. Europe Standard Time", zone))
    scenario = load_scenario(changed)
    clock = ManualClock(START)
    async with Emulator(scenario, clock=clock, token=TOKEN) as emu:
        observations = await _collect(emu, clock)
    (seen,) = [o for o in observations if isinstance(o, MaintenanceSchedulesObserved)]
    (schedule,) = seen.schedules
    assert schedule.start == START + timedelta(seconds=240)
    assert schedule.start.utcoffset() == offset
    assert schedule.start.tzinfo is not None
    assert isinstance(schedule.start.tzinfo, ZoneInfo)
