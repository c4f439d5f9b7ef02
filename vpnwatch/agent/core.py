"""The agent: the data path collect -> observe -> correlate -> incident, put together.

`Agent` owns the lifecycle (store, SDK clients, correlator, notifications) and the correlation
step; the parts it delegates to live beside it: `scopes.py` (what to poll), `schedule.py` (when
each collector runs), `persistence.py` (writing each step) and `announce.py` (telling about it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from vpnwatch.affordable import AffordableIntervals, SubscriptionBudget
from vpnwatch.agent.announce import Listener, announce
from vpnwatch.agent.p2s import P2SSessionReads
from vpnwatch.agent.persistence import StepWriter
from vpnwatch.agent.schedule import RETRY_SHARE, CollectorSchedule, CollectorStatus
from vpnwatch.agent.scopes import ScopeDiscovery
from vpnwatch.clock import Clock, SystemClock
from vpnwatch.collect import build_collectors
from vpnwatch.collect.clients import AzureClients
from vpnwatch.collect.p2shealth import VpnClientHealthReader
from vpnwatch.collect.telemetry import RequestObserver
from vpnwatch.config import Settings
from vpnwatch.correlate import CorrelationResult, Correlator
from vpnwatch.correlate.azuremonitor import RECENT_SECONDS
from vpnwatch.incidents import IncidentType
from vpnwatch.notify.pipeline import Notifications
from vpnwatch.observations import Observation
from vpnwatch.store import Store
from vpnwatch.tasks import cancel_and_wait

log = logging.getLogger("vpnwatch.agent")


class Agent:
    """`start()` runs a loop per collector (`vpnwatch run`, the demo, the service); `run_due()`
    runs the collectors due at the clock's current time once, for the stepped replay, which
    moves a `ManualClock` itself."""

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
        self._writer: StepWriter | None = None
        self._clients: AzureClients | None = None
        self.p2s_sessions: P2SSessionReads | None = None  # with collectors.vpn_client_health
        self._affordable: AffordableIntervals | None = None
        self._schedule: CollectorSchedule | None = None
        self._listeners: list[Listener] = []
        self._step_hooks: list[Callable[[], None]] = []
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._tick_seconds = tick_seconds

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
        self._writer = StepWriter(
            self.store,
            self.notifications,
            self.clock,
            alert_retention_days=self.settings.store.alert_retention_days,
            incident_retention_days=self.settings.store.incident_retention_days,
        )
        self._clients = AzureClients(self.settings, observer=self._observer, clock=self.clock)
        await self._clients.__aenter__()
        self._affordable = AffordableIntervals(self.settings, self._clients)
        health = self.settings.collectors.vpn_client_health
        if health.enabled:
            reader = VpnClientHealthReader(
                self._clients, self.clock, health.min_interval_seconds, health.max_wait_seconds
            )
            self.p2s_sessions = P2SSessionReads(reader, self.submit, on_collapse=health.on_collapse)
            self.add_listener(self.p2s_sessions.on_step)
        collectors = build_collectors(
            self.settings, self._clients, self.clock, watermarks=self.store
        )
        scopes = ScopeDiscovery(
            self._clients,
            self.settings.targets,
            self.clock,
            interval_seconds=self.settings.collectors.discovery_interval_seconds,
            retry_seconds=min((c.interval_seconds for c in collectors), default=0.0) * RETRY_SHARE,
            resource_graph=self.settings.collectors.discovery_resource_graph,
        )
        self._schedule = CollectorSchedule(
            collectors, scopes, self.clock, self.submit, after_pass=self._log_affordable
        )

    async def start(self) -> None:
        """Open, then run every collector on its interval as background tasks."""
        await self.open()
        assert self._schedule is not None
        self._tasks = self._schedule.loops()
        self._tasks.append(asyncio.create_task(self._tick_loop(), name="correlator-tick"))
        if self.notifications is not None:
            await self.notifications.start()

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []
        if self._schedule is not None:
            await self._schedule.drain()
        if self.notifications is not None:
            await self.notifications.stop()
        if self.p2s_sessions is not None:
            await self.p2s_sessions.stop()
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
        """Store open and every enabled collector that feeds health has completed one pass."""
        return (
            self.store is not None
            and self._schedule is not None
            and self._schedule.first_passes_done
        )

    @property
    def blind(self) -> bool:
        if self.correlator is None:
            return False
        blind = str(IncidentType.MONITORING_BLIND)
        return any(n for (type_, _), n in self.correlator.open_counts().items() if type_ == blind)

    @property
    def store_writable(self) -> bool:
        """False from a failed write until a write lands again."""
        return self._writer is None or self._writer.writable

    def collector_status(self) -> list[CollectorStatus]:
        return [] if self._schedule is None else self._schedule.status()

    def budgets(self) -> list[SubscriptionBudget]:
        """Per subscription: the request budget and the connection interval it affords."""
        if self._affordable is None:
            return []
        return self._affordable.snapshot(self.clock.now())

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def add_step_hook(self, hook: Callable[[], Awaitable[None]]) -> None:
        """`hook()` is awaited on the agent's loop after every correlation step while the fleet
        state holds still (the next step waits for it): where read models such as the /metrics
        snapshot are built. A hook reads on the loop what collection changes (budgets, collector
        status) and builds the rest in a worker thread, off the loop."""
        self._step_hooks.append(hook)

    async def while_still(self, read: Callable[[], Awaitable[None]]) -> None:
        """Await `read()` between two correlation steps, while the fleet state holds still (a
        read model built outside the step hooks)."""
        async with self._lock:
            await read()

    # --- the data path -------------------------------------------------------------------------

    async def submit(self, observations: Sequence[Observation]) -> CorrelationResult:
        """Correlate `observations` and persist the outcome in one transaction."""
        correlator, writer = self._opened()
        async with self._lock:
            result = correlator.process(list(observations), self.clock.now())
            await writer.write(result, correlator.open_incidents)
            await self._run_step_hooks()
        announce(result, self._listeners)
        self._heat_open_incidents()
        return result

    async def tick(self) -> CorrelationResult:
        """Let time pass in the correlator: staleness, resolution holds, blindness timers."""
        correlator, writer = self._opened()
        async with self._lock:
            result = correlator.tick(self.clock.now())
            await writer.write(result, correlator.open_incidents)
            await self._run_step_hooks()
        announce(result, self._listeners)
        await writer.prune_when_due()
        return result

    async def run_due(self) -> None:
        """Run once every collector whose next run is due at the clock's current time."""
        assert self._schedule is not None, "agent not opened"
        await self._schedule.run_due()
        if self.p2s_sessions is not None:
            await self.p2s_sessions.settle()  # readings the pass asked for land in this step
        await self.tick()

    # --- internals -----------------------------------------------------------------------------

    def _opened(self) -> tuple[Correlator, StepWriter]:
        assert self.correlator is not None and self._writer is not None, "agent not opened"
        return self.correlator, self._writer

    async def _tick_loop(self) -> None:
        while True:
            await self.clock.sleep(self._tick_seconds)
            try:
                await self.tick()
            except Exception:
                log.exception("correlator tick failed")

    async def _run_step_hooks(self) -> None:
        for hook in self._step_hooks:
            try:
                await hook()
            except Exception:
                log.exception("step hook %r failed", hook)

    def _heat_open_incidents(self) -> None:
        """The resources of open incidents are read every pass, not in rotation."""
        if self._clients is None or self.correlator is None:
            return
        resources = {r for i in self.correlator.open_incidents() for r in i.resources}
        if resources:
            self._clients.planner.heat(resources)

    def _log_affordable(self) -> None:
        if self._affordable is not None:
            self._affordable.log_changes(self.clock.now())
