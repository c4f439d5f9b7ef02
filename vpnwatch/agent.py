"""The agent: runs the collectors on their intervals and feeds what they see through the correlator
into the store. This is the data path collect -> observe -> correlate -> incident, in one place.

`Agent.start()` runs a loop per collector (`vpnwatch run`, the demo, the service). `Agent.run_due()`
runs the collectors due at the clock's current time once, for the stepped replay, which moves a
`ManualClock` itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from vpnwatch.affordable import AffordableIntervals, SubscriptionBudget
from vpnwatch.clock import Clock, SystemClock
from vpnwatch.collect import build_collectors
from vpnwatch.collect.base import Collector, Scope
from vpnwatch.collect.clients import AzureClients
from vpnwatch.collect.discovery import DiscoveryError, discover
from vpnwatch.collect.telemetry import RequestObserver
from vpnwatch.config import Settings
from vpnwatch.correlate import CorrelationResult, Correlator
from vpnwatch.correlate.azuremonitor import RECENT_SECONDS
from vpnwatch.incidents import IncidentType
from vpnwatch.notify.pipeline import Notifications
from vpnwatch.observations import CollectionRun, Observation
from vpnwatch.store import Store, StoreError
from vpnwatch.unsaved import UnsavedChanges

log = logging.getLogger("vpnwatch.agent")

Listener = Callable[[CorrelationResult], None]

DISCOVERY = "discovery"
PRUNE_EVERY = timedelta(hours=1)


@dataclass(slots=True)
class CollectorStatus:
    name: str
    interval_seconds: float
    last_run_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    runs: int = 0
    failures: int = 0


class Agent:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        observer: RequestObserver | None = None,
        store: Store | None = None,
        tick_seconds: float = 5.0,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self._observer = observer
        self._own_store = store is None
        self.store: Store | None = store
        self.correlator: Correlator | None = None
        self.notifications: Notifications | None = None  # with notify.receivers configured
        self._unsaved = UnsavedChanges()
        self._pruned_at: datetime | None = None
        self.store_writable = True  # false from a failed write until a write lands again
        self._clients: AzureClients | None = None
        self._affordable: AffordableIntervals | None = None
        self._collectors: list[Collector] = []
        self._scopes: list[Scope] = []
        self._scopes_at: datetime | None = None
        self._discovery_failed_at: datetime | None = None
        self._status: dict[str, CollectorStatus] = {}
        self._next_due: dict[str, datetime] = {}
        self._listeners: list[Listener] = []
        self._step_hooks: list[Callable[[], None]] = []
        self._lock = asyncio.Lock()
        self._discovery_lock = asyncio.Lock()  # collectors starting together discover once
        self._tasks: list[asyncio.Task[None]] = []
        self._tick_seconds = tick_seconds
        self._first_cycle_done: set[str] = set()

    # --- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the store, resume the correlator from it and build the collectors."""
        if self.store is None:
            self.store = await asyncio.to_thread(Store.open, self.settings.store.path)
        open_incidents = await asyncio.to_thread(self.store.load_open_incidents)
        if self.settings.notify.receivers:
            self.notifications = Notifications(self.settings.notify, self.store, self.clock)
            await asyncio.to_thread(self.notifications.resume, open_incidents)
        open_incidents = [
            i for i in open_incidents if i.type is not IncidentType.NOTIFICATION_FAILING
        ]
        records = await asyncio.to_thread(self.store.load_entity_records)
        recent_since = self.clock.now() - timedelta(seconds=RECENT_SECONDS)
        recent = await asyncio.to_thread(self.store.load_resolved_since, recent_since)
        self.correlator = Correlator(
            self.settings.correlator,
            open_incidents=open_incidents,
            entity_records=records,
            recently_resolved=recent,
        )
        if open_incidents:
            log.info(
                "resumed %d open incident(s) from %s", len(open_incidents), self.settings.store.path
            )
        self._clients = AzureClients(self.settings, observer=self._observer, clock=self.clock)
        await self._clients.__aenter__()
        self._affordable = AffordableIntervals(self.settings, self._clients)
        self._collectors = build_collectors(
            self.settings, self._clients, self.clock, watermarks=self.store
        )
        now = self.clock.now()
        for collector in self._collectors:
            self._status[collector.name] = CollectorStatus(
                collector.name, collector.interval_seconds
            )
            self._next_due[collector.name] = now

    async def start(self) -> None:
        """Open, then run every collector on its interval as background tasks."""
        await self.open()
        self._tasks = [
            asyncio.create_task(self._collector_loop(c), name=f"collector:{c.name}")
            for c in self._collectors
        ]
        self._tasks.append(asyncio.create_task(self._tick_loop(), name="correlator-tick"))
        if self.notifications is not None:
            await self.notifications.start()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self.notifications is not None:
            await self.notifications.stop()
        if self._clients is not None:
            await self._clients.__aexit__(None, None, None)
            self._clients = None
        if self.store is not None and self._own_store:
            await asyncio.to_thread(self.store.close)
            self.store = None

    async def __aenter__(self) -> Agent:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # --- what the service reads ----------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Store open and every enabled collector has completed one pass."""
        return (
            self.store is not None
            and bool(self._collectors)
            and all(c.name in self._first_cycle_done for c in self._collectors)
        )

    @property
    def blind(self) -> bool:
        if self.correlator is None:
            return False
        blind = str(IncidentType.MONITORING_BLIND)
        return any(n for (type_, _), n in self.correlator.open_counts().items() if type_ == blind)

    def collector_status(self) -> list[CollectorStatus]:
        return list(self._status.values())

    def budgets(self) -> list[SubscriptionBudget]:
        """Per subscription: the request budget and the connection interval it affords."""
        if self._affordable is None:
            return []
        return self._affordable.snapshot(self.clock.now())

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def add_step_hook(self, hook: Callable[[], None]) -> None:
        """`hook` runs in a worker thread after every correlation step while the fleet state
        holds still (the next step waits for it): where read models such as the /metrics
        snapshot are built, off the event loop."""
        self._step_hooks.append(hook)

    async def _run_step_hooks(self) -> None:
        for hook in self._step_hooks:
            try:
                await asyncio.to_thread(hook)
            except Exception:
                log.exception("step hook %r failed", hook)

    # --- the data path -------------------------------------------------------------------------

    async def submit(self, observations: Sequence[Observation]) -> CorrelationResult:
        """Correlate `observations` and persist the outcome in one transaction."""
        assert self.correlator is not None and self.store is not None, "agent not opened"
        async with self._lock:
            result = self.correlator.process(list(observations), self.clock.now())
            await self._persist(result)
            await self._run_step_hooks()
        self._announce(result)
        self._heat_open_incidents()
        return result

    async def tick(self) -> CorrelationResult:
        """Let time pass in the correlator: staleness, resolution holds, blindness timers."""
        assert self.correlator is not None and self.store is not None, "agent not opened"
        async with self._lock:
            result = self.correlator.tick(self.clock.now())
            await self._persist(result)
            await self._run_step_hooks()
        self._announce(result)
        await self._prune_when_due()
        return result

    async def _prune_when_due(self) -> None:
        """Once an hour, forget correlated alerts older than `store.alert_retention_days` and
        incidents resolved longer ago than `store.incident_retention_days`."""
        now = self.clock.now()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        assert self.store is not None
        retention = self.settings.store
        for what, prune, days in (
            ("alert(s) received", self.store.prune_alerts, retention.alert_retention_days),
            (
                "incident(s) resolved",
                self.store.prune_resolved_incidents,
                retention.incident_retention_days,
            ),
        ):
            before = now - timedelta(days=days)
            try:
                pruned = await asyncio.to_thread(prune, before=before)
            except StoreError as exc:
                log.warning("pruning %s before %s failed: %s", what, before.isoformat(), exc)
                continue
            if pruned:
                log.info("pruned %d %s before %s", pruned, what, before.isoformat())

    async def run_due(self) -> None:
        """Run once every collector whose next run is due at the clock's current time."""
        now = self.clock.now()
        due = [c for c in self._collectors if self._next_due[c.name] <= now]
        for collector in due:
            await self._run_collector(collector)
            self._next_due[collector.name] = now + timedelta(seconds=collector.interval_seconds)
        await self.tick()

    async def _collector_loop(self, collector: Collector) -> None:
        while True:
            started = self.clock.now()
            try:
                await self._run_collector(collector)
            except Exception:  # a bug in one collector must not stop the others
                log.exception("collector %s crashed; retrying next interval", collector.name)
            elapsed = (self.clock.now() - started).total_seconds()
            await self.clock.sleep(max(0.0, collector.interval_seconds - elapsed))

    async def _tick_loop(self) -> None:
        while True:
            await self.clock.sleep(self._tick_seconds)
            try:
                await self.tick()
            except Exception:
                log.exception("correlator tick failed")

    async def _run_collector(self, collector: Collector) -> None:
        scopes, discovery_run = await self._current_scopes()
        observations: list[Observation] = []
        if discovery_run is not None:
            observations.append(discovery_run)
        # Each subscription has its own budget: scopes are read side by side, not one by one.
        for collected in await asyncio.gather(*(collector.collect(s) for s in scopes)):
            observations.extend(collected)
        await self.submit(observations)
        commit = getattr(collector, "commit", None)
        if commit is not None:  # a collector that reads incrementally moves on once persisted
            await commit()
        self._record_status(collector, observations)
        if self._affordable is not None:
            self._affordable.log_changes(self.clock.now())

    async def _current_scopes(self) -> tuple[list[Scope], CollectionRun | None]:
        """The subscriptions to poll, rediscovered every `discovery_interval_seconds`.

        When rediscovery fails the last known scopes stay in use. Every attempt is reported as
        one `discovery` run, failed or not, so the blindness detector sees discovery fail and
        recover; collectors due at the same moment share that attempt (a failure is retried once
        per shortest poll interval, not once per collector).
        """
        async with self._discovery_lock:
            return await self._discover_when_due()

    async def _discover_when_due(self) -> tuple[list[Scope], CollectionRun | None]:
        now = self.clock.now()
        interval = self.settings.collectors.discovery_interval_seconds
        if self._scopes_at is not None and (now - self._scopes_at).total_seconds() < interval:
            return self._scopes, None
        if (
            self._discovery_failed_at is not None
            and (now - self._discovery_failed_at).total_seconds() < self._discovery_retry_seconds()
        ):
            return self._scopes, None
        assert self._clients is not None
        try:
            self._scopes = await discover(self._clients, self.settings.targets)
        except DiscoveryError as exc:
            log.warning("discovery failed: %s", exc)
            self._discovery_failed_at = now
            return self._scopes, self._discovery_run(ok=False, cause=exc.cause, reason=str(exc))
        self._scopes_at = now
        self._discovery_failed_at = None
        return self._scopes, self._discovery_run(ok=True)

    def _discovery_run(self, **outcome: Any) -> CollectionRun:
        return CollectionRun(
            observed_at=self.clock.now(),
            source=DISCOVERY,
            collector=DISCOVERY,
            scope="*",
            **outcome,
        )

    def _discovery_retry_seconds(self) -> float:
        return min((c.interval_seconds for c in self._collectors), default=0.0)

    def _record_status(self, collector: Collector, observations: Sequence[Observation]) -> None:
        status = self._status[collector.name]
        runs = [o for o in observations if isinstance(o, CollectionRun)]
        failed = [r for r in runs if not r.ok]
        status.runs += 1
        status.last_run_at = self.clock.now()
        if runs and not failed:
            status.last_success_at = status.last_run_at
            status.last_error = None
            self._first_cycle_done.add(collector.name)
        else:
            status.failures += 1
            status.last_error = "; ".join(f"{r.scope}: {r.reason}" for r in failed) or "no scope"
            if not runs:  # nothing to poll is a completed pass, not a failure of the agent
                self._first_cycle_done.add(collector.name)

    def _heat_open_incidents(self) -> None:
        """The resources of open incidents are read every pass, not in rotation."""
        if self._clients is None or self.correlator is None:
            return
        resources = {r for i in self.correlator.open_incidents() for r in i.resources}
        if resources:
            self._clients.planner.heat(resources)

    async def _persist(self, result: CorrelationResult) -> None:
        """Write the cycle, with every earlier one the store refused; on failure keep them all
        for the next cycle (every tick), logging once when the store stops and starts taking
        writes rather than once per attempt."""
        assert self.store is not None
        changed = [*result.opened, *result.updated, *result.resolved]
        plan = None
        if self.notifications is not None and self.correlator is not None:
            plan = self.notifications.plan(changed, self.correlator.open_incidents())
        self._unsaved.add(
            changed, result.entity_records_changed, result.entity_ids_removed, plan or None
        )
        if not self._unsaved:
            return
        unsaved = self._unsaved
        try:
            store = self.store
            await asyncio.to_thread(lambda: store.apply(**unsaved.write_arguments()))
        except StoreError as exc:
            if plan and self.notifications is not None:
                # decided, so the next cycle does not decide it again; written with that cycle
                self.notifications.committed(plan)
            if self.store_writable:
                self.store_writable = False
                log.error(
                    "store unwritable: %s; keeping the changes in memory and retrying every "
                    "cycle (%d incident(s) waiting)",
                    exc,
                    len(unsaved.incidents),
                )
            return
        if not self.store_writable:
            self.store_writable = True
            log.warning(
                "store writable again: wrote %d incident(s) kept while it was not",
                len(unsaved.incidents),
            )
        if self.notifications is not None:
            for kept in unsaved.plans:
                self.notifications.committed(kept)
        unsaved.clear()

    def _announce(self, result: CorrelationResult) -> None:
        for incident in result.opened:
            log.warning(
                "incident opened: %s %s %s", incident.severity, incident.key, incident.title
            )
        opened = {i.key for i in result.opened}
        for incident in result.updated:
            if incident.key not in opened:
                log.info(
                    "incident updated: %s %s %s (%s)",
                    incident.severity,
                    incident.key,
                    incident.classification or "-",
                    incident.title,
                )
        for incident in result.resolved:
            log.info(
                "incident resolved: %s (outage %s s)", incident.key, _fmt(incident.outage_seconds)
            )
        for listener in self._listeners:
            try:
                listener(result)
            except Exception:
                log.exception("incident listener failed")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"
