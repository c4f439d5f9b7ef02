"""The diagnostic-log collector with the real `LogsQueryClient` against the emulator's Log
Analytics endpoint: rows land minutes late, and reading by a stored watermark with an overlap
takes every row exactly once, across a restart too."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from monitor_helpers import FLEET, SUB, TOKEN, monitor_settings

from vpnwatch.clock import ManualClock
from vpnwatch.collect.base import Scope
from vpnwatch.collect.clients import AzureClients
from vpnwatch.collect.logs import DiagnosticLogCollector, row_key
from vpnwatch.emulator import Emulator, load_scenario
from vpnwatch.emulator.diagnostics import Diagnostics
from vpnwatch.emulator.world import World
from vpnwatch.observations import (
    CollectionRun,
    DiagnosticLogObserved,
    FailureCause,
    LogEvent,
    Observation,
)
from vpnwatch.store import Store

WORKSPACE = "3f2d7c55-0000-4000-8000-00000000e001"


def _logs(observations: list[Observation]) -> list[DiagnosticLogObserved]:
    return [o for o in observations if isinstance(o, DiagnosticLogObserved)]


def _run(observations: list[Observation]) -> CollectionRun:
    return next(o for o in observations if isinstance(o, CollectionRun))


def _key(o: DiagnosticLogObserved) -> tuple[object, ...]:
    return (o.at, o.resource_id, o.operation, o.message, o.instance)


async def _pass(emu: Emulator, clock: ManualClock, store: Store) -> list[Observation]:
    settings = monitor_settings(
        emu.base_url,
        logs={"enabled": True, "workspace_id": WORKSPACE, "first_lookback_minutes": 60},
    )
    async with AzureClients(settings, clock=clock) as clients:
        collector = DiagnosticLogCollector(clients, clock, 120, watermarks=store)
        observations = await collector.collect(Scope(SUB))
        await collector.commit()
        return observations


async def test_late_rows_across_a_restart_no_gap_no_duplicate(tmp_path: Path) -> None:
    clock = ManualClock()
    scenario = load_scenario(FLEET)
    path = tmp_path / "store.sqlite3"
    taken: list[DiagnosticLogObserved] = []
    async with Emulator(scenario, clock=clock, port=0, token=TOKEN) as emu:
        assert emu.started_at is not None
        truth = Diagnostics(World(scenario), emu.started_at)
        store = Store.open(path)
        passes = []
        for t in (1600, 1720):  # while the failover's rows are still landing
            clock.set(emu.started_at + _seconds(t))
            observations = await _pass(emu, clock, store)
            assert _run(observations).ok, _run(observations).reason
            passes.append(_logs(observations))
        store.close()
        # A restart: new clients, new collector, the store reopened from disk.
        store = Store.open(path)
        clock.set(emu.started_at + _seconds(2400))
        last = await _pass(emu, clock, store)
        passes.append(_logs(last))
        store.close()
    for batch in passes:
        taken.extend(batch)

    keys = [_key(o) for o in taken]
    assert len(keys) == len(set(keys)), "a row was taken twice"
    expected = {
        (
            r.values["TimeGenerated"],
            r.values["ResourceId"],
            r.values["OperationName"],
            r.values["Message"],
            r.values["instance_s"] or None,
        )
        for r in truth.visible(2400)
    }
    assert set(keys) == expected, "a row was missed"
    # Some row of a later pass is older than the newest row of an earlier one: it landed late,
    # and only the overlap caught it.
    first_high = max(o.at for o in passes[0])
    assert any(o.at < first_high for o in passes[1] + passes[2])
    # The failover is there, typed: the switch names the instance that took over.
    switch = [o for o in taken if o.event is LogEvent.INSTANCE_SWITCH]
    assert [o.instance for o in switch] == ["GatewayTenantWorker_IN_1"]
    down = [o for o in taken if o.event is LogEvent.TUNNEL_DISCONNECTED]
    assert down and all(o.instance == "GatewayTenantWorker_IN_0" and o.reason for o in down)


async def test_a_failed_query_keeps_the_watermark(tmp_path: Path) -> None:
    clock = ManualClock()
    async with Emulator(load_scenario(FLEET), clock=clock, port=0, token=TOKEN) as emu:
        assert emu.started_at is not None
        store = Store.open(tmp_path / "store.sqlite3")
        clock.set(emu.started_at + _seconds(1800))
        first = await _pass(emu, clock, store)
        assert _logs(first)
        clock.set(emu.started_at + _seconds(3003))  # throttled from 3000 s to 3010 s
        throttled = await _pass(emu, clock, store)
        run = _run(throttled)
        assert not run.ok and run.cause is FailureCause.THROTTLED
        clock.set(emu.started_at + _seconds(3600))
        after = await _pass(emu, clock, store)
        store.close()
    assert _run(after).ok
    # The overlap rereads the rows already taken and recognises every one of them.
    assert _run(after).extra == {"rows": "3", "new_rows": "0"}
    assert len(_logs(first)) == 3 and _logs(after) == []


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def test_row_keys_are_stable() -> None:
    row = {"TimeGenerated": "2026-01-01T00:00:00Z", "OperationName": "TunnelConnected"}
    assert row_key(row) == row_key(dict(row))
    assert row_key(row) != row_key({**row, "OperationName": "TunnelDisconnected"})
