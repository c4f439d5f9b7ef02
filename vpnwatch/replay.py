"""`vpnwatch replay`: play a scenario through emulator + collectors + correlator and list what
vpnwatch would have paged for.

Time is a `ManualClock` stepped by the replay: at each step the collectors due run against the
emulator (real SDK clients over loopback HTTP), then the correlator ticks. Because the clock only
moves between steps, measured durations do not depend on how busy the machine is. `speed` paces
the steps against the wall clock (scenario seconds per wall second); 0 runs as fast as possible.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from vpnwatch.agent import Agent
from vpnwatch.clock import ManualClock
from vpnwatch.config import Settings
from vpnwatch.emulator import Emulator, Scenario
from vpnwatch.emulator.changes import change_times, next_change
from vpnwatch.history import IncidentHistory, entity_sample
from vpnwatch.incidents import Incident
from vpnwatch.notify.settings import NotifySettings
from vpnwatch.store import Store

EMULATOR_TOKEN = "emulator-token"
# A skipped quiet stretch ends this long before the next change: two gateway polls (the slowest
# regular collector, every 300 s by default) and more than five BGP polls (route baselines).
RESUME_BEFORE = 600.0


class DeliveryTimeout(Exception):
    """`replay --deliver` gave up waiting for the outbox to empty."""


REPLAY_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def emulator_cloud(base_url: str, token: str = EMULATOR_TOKEN) -> dict[str, Any]:
    """The `azure:` settings for an emulator at `base_url`: a custom cloud whose ARM, Azure
    Monitor metrics and Log Analytics endpoints it serves, and a static token."""
    return {
        "cloud": "custom",
        "endpoints": {
            "resource_manager": base_url,
            "metrics": base_url,
            "log_analytics": base_url,
        },
        "credential": {"kind": "static_token", "token": token},
        "allow_http": base_url.startswith("http://"),
    }


def emulator_settings(
    base_url: str,
    scenario: Scenario,
    *,
    epoch: datetime,
    base: Settings | None = None,
    store_path: str | None = None,
) -> Settings:
    """Settings that point the agent at an emulator: a custom cloud with a static token.

    Collector and correlator settings come from `base` (the user's config) when given, then from the
    scenario's `agent:` block; maintenance windows there are offsets from the scenario start.
    """
    data: dict[str, Any] = base.model_dump(exclude_unset=True) if base else {}
    data["azure"] = emulator_cloud(base_url)
    data["targets"] = {"subscriptions": list(scenario.subscription_ids)}
    collectors = data.setdefault("collectors", {})
    collectors.setdefault("retry_backoff_seconds", 0.01)
    collectors.setdefault("lro_poll_interval_seconds", 0.0)
    agent_block = dict(scenario.agent or {})
    for section in ("collectors", "correlator"):
        _merge(data.setdefault(section, {}), agent_block.get(section, {}))
    windows = [_absolute_window(w, epoch) for w in agent_block.get("maintenance_windows", [])]
    if windows:
        data["correlator"].setdefault("maintenance_windows", []).extend(windows)
    if store_path is not None:
        data["store"] = {"path": store_path}
    return Settings(**data)


def _merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into.setdefault(key, value)


def _absolute_window(window: dict[str, Any], epoch: datetime) -> dict[str, Any]:
    return {
        "name": window.get("name", "maintenance"),
        "start": (epoch + timedelta(seconds=float(window["start_offset"]))).isoformat(),
        "end": (epoch + timedelta(seconds=float(window["end_offset"]))).isoformat(),
        "resources": list(window.get("resources", [])),
    }


# Without --deliver, a replay that records histories plans notifications for this receiver and
# never sends them: "paged" then means what a default paging route would have paged.
PLANNING_RECEIVER = {
    "name": "on-call",
    "kind": "pagerduty",
    "routing_key": "replay-never-sent",
    "url": "http://127.0.0.1:9/never-sent",
}


async def replay(
    scenario: Scenario,
    *,
    base: Settings | None = None,
    speed: float = 0.0,
    step_seconds: float = 5.0,
    deliver: bool = False,
    deliver_timeout: float = 300.0,
    history: bool = False,
    entity_samples: list[dict[str, Any]] | None = None,
    skip_quiet: bool = True,
) -> list[Incident]:
    """Every incident the scenario opens, oldest first (children included, `parent_key` set).

    With `deliver`, the notifications go through `base`'s receivers (routing, silences and the
    outbox as in `vpnwatch run`), and the replay waits until the outbox is empty, raising
    `DeliveryTimeout` after `deliver_timeout` seconds. Without it nothing is sent.

    With `history`, each incident's `attributes["history"]` is set to its events in order (a
    JSON list; see `vpnwatch.history`); notifications are then planned (for `base`'s receivers,
    or one default paging receiver) but, without `deliver`, never sent. With `entity_samples`,
    a sample of every entity's health is appended to it after each step.

    With `skip_quiet` (and `speed` 0), stretches in which the scenario changes nothing and no
    incident is open are skipped (see `_step_through`): a day of quiet costs what its faults do.
    """
    clock = ManualClock(epoch=REPLAY_EPOCH)
    store = Store.open(":memory:")
    recorder = IncidentHistory(clock) if history else None
    async with Emulator(scenario, clock=clock, port=0, tls=False, token=EMULATOR_TOKEN) as emu:
        settings = emulator_settings(emu.base_url, scenario, epoch=clock.now(), base=base)
        if not deliver and not history:
            settings.notify = NotifySettings()
        elif not deliver and not settings.notify.receivers:
            settings.notify = NotifySettings(
                receivers=[PLANNING_RECEIVER],
                group_wait_seconds=settings.notify.group_wait_seconds,
            )
        agent = Agent(settings, clock=clock, store=store)
        await agent.open()
        if recorder is not None:
            agent.add_listener(recorder)
        notifications = agent.notifications
        try:
            if notifications is not None and deliver:
                await notifications.start()
            await _step_through(
                agent,
                clock,
                scenario.duration_seconds,
                step_seconds,
                speed,
                entity_samples,
                change_times(scenario) if skip_quiet and speed == 0 else None,
            )
            if (
                deliver
                and notifications is not None
                and not await notifications.drain(deliver_timeout)
            ):
                pending = await notifications.dispatcher.pending()
                raise DeliveryTimeout(
                    f"{pending} notification(s) still undelivered after {deliver_timeout:g} s; "
                    "see the log for each receiver's last answer"
                )
        finally:
            await agent.stop()
    incidents, _ = store.list_incidents(limit=1_000_000)
    if recorder is not None:
        for incident in incidents:
            events = recorder.events(incident.id, store.notifications_of(incident.id))
            incident.attributes["history"] = json.dumps(events)
    store.close()
    return sorted(incidents, key=lambda i: (i.opened_at, i.key))


async def _step_through(
    agent: Agent,
    clock: ManualClock,
    duration: float,
    step: float,
    speed: float,
    entity_samples: list[dict[str, Any]] | None = None,
    changes: list[float] | None = None,
) -> None:
    """Step the clock through the scenario. With `changes` (when the world may change, see
    `emulator/changes.py`), a stretch in which nothing happens is skipped: once no incident is
    open (nor one that late Azure Monitor evidence may still update), the clock moves on to
    `RESUME_BEFORE` seconds before the next change, so every collector has run again, more than
    once, before it. The skipped polls would have read the same answers."""
    settings = agent.settings.collectors
    late_evidence = settings.metrics.enabled or settings.logs.enabled
    started = time.monotonic()
    elapsed = 0.0
    while elapsed <= duration:
        await agent.run_due()
        if entity_samples is not None and agent.correlator is not None:
            entity_samples.append(entity_sample(agent.correlator.state, clock.now()))
        if speed > 0:
            lag = elapsed / speed - (time.monotonic() - started)
            if lag > 0:
                await asyncio.sleep(lag)
        skip = step
        correlator = agent.correlator
        if changes is not None and correlator is not None:
            upcoming = next_change(changes, elapsed)
            resume = duration if upcoming is None else upcoming - RESUME_BEFORE
            if correlator.settled(late_evidence=late_evidence):
                skip = max(step, step * ((resume - elapsed) // step))
        clock.advance(skip)
        elapsed += skip


def incident_record(incident: Incident, epoch: datetime | None = None) -> dict[str, Any]:
    """The JSON object `vpnwatch replay --json` prints for one incident."""

    def when(at: datetime | None) -> str | None:
        return None if at is None else at.isoformat().replace("+00:00", "Z")

    record: dict[str, Any] = {
        "type": incident.type.value,
        "severity": incident.severity.value,
        "resources": list(incident.resources),
        "opened_at": when(incident.opened_at),
        "resolved_at": when(incident.resolved_at),
        "outage_seconds": (
            None if incident.outage_seconds is None else round(incident.outage_seconds, 1)
        ),
        "parent": incident.parent_key,
        "classification": incident.classification,
        "key": incident.key,
        "title": incident.title,
    }
    if epoch is not None:
        record["opened_offset"] = (incident.opened_at - epoch).total_seconds()
    if "history" in incident.attributes:
        record["history"] = json.loads(incident.attributes["history"])
    return record
