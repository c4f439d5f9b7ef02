"""When each collector runs, and how its passes went.

A pass polls every current scope side by side (each subscription has its own budget), hands
everything it saw to the data path in one step, and only then lets an incremental collector move
its watermark. A pass the budget stretches over its whole interval hands what it has read so far
over as it goes (`ArmCollector.deliver`), collected here and submitted every
`EARLY_FLUSH_SECONDS`, so a tunnel read at the start of a pass is not seen only at its end; a
reading that changed is submitted at once.
Passes run either as one loop per collector on its interval (`start`) or, for the stepped
replay, as the collectors due at the clock's current time (`run_due`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from vpnwatch.agent.scopes import ScopeDiscovery
from vpnwatch.clock import Clock
from vpnwatch.collect.base import Collector
from vpnwatch.observations import CollectionRun, Observation

log = logging.getLogger("vpnwatch.agent")

Submit = Callable[[Sequence[Observation]], Awaitable[object]]
EARLY_FLUSH_SECONDS = 2.0
RETRY_SHARE = 0.5  # after a failed pass, the next begins within this share of the fastest interval


@dataclass(slots=True)
class CollectorStatus:
    name: str
    interval_seconds: float
    last_run_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    runs: int = 0
    failures: int = 0
    failing: bool = False  # its last pass failed


class CollectorSchedule:
    def __init__(
        self,
        collectors: Sequence[Collector],
        scopes: ScopeDiscovery,
        clock: Clock,
        submit: Submit,
        after_pass: Callable[[], None] = lambda: None,
    ) -> None:
        self.collectors = list(collectors)
        self.scopes = scopes
        self.clock = clock
        self._submit = submit
        self._after_pass = after_pass
        now = clock.now()
        self._status = {c.name: CollectorStatus(c.name, c.interval_seconds) for c in collectors}
        self._next_due = {c.name: now for c in collectors}
        self._first_pass_done: set[str] = set()
        self._early: list[Observation] = []  # read by passes still under way, not yet submitted
        self._submitting: set[asyncio.Task[None]] = set()  # changed readings on their way in

    @property
    def first_passes_done(self) -> bool:
        """Every collector that feeds health has completed one pass (a hint-only one, such as
        Resource Health, neither blinds nor holds up readiness)."""
        return bool(self.collectors) and all(
            c.name in self._first_pass_done
            for c in self.collectors
            if not getattr(c, "hint_only", False)
        )

    def status(self) -> list[CollectorStatus]:
        return list(self._status.values())

    def loops(self) -> list[asyncio.Task[None]]:
        """One background task per collector, each running it on its interval, and one that
        submits what long passes hand over early."""
        for collector in self.collectors:
            if hasattr(collector, "deliver"):
                collector.deliver = self._take_early
        return [
            *(
                asyncio.create_task(self._loop(c), name=f"collector:{c.name}")
                for c in self.collectors
            ),
            asyncio.create_task(self._flush_early(), name="early-observations"),
        ]

    async def run_due(self) -> None:
        """Run once every collector whose next run is due at the clock's current time."""
        now = self.clock.now()
        due = [c for c in self.collectors if self._next_due[c.name] <= now]
        for collector in due:
            await self.run(collector)
            self._next_due[collector.name] = now + timedelta(seconds=self.wait_after(collector))

    async def run(self, collector: Collector) -> None:
        """One pass of `collector` over every current scope."""
        scopes, discovery_run = await self.scopes.current()
        observations: list[Observation] = []
        if discovery_run is not None:
            observations.append(discovery_run)
        for collected in await asyncio.gather(*(collector.collect(s) for s in scopes)):
            observations.extend(collected)
        submitted = observations
        if getattr(collector, "hint_only", False):
            # Its passes feed no health, so its failures blind nothing: they show in the
            # collector's status (/health, /metrics), not to the correlator.
            submitted = [o for o in observations if not _run_of(o, collector)]
        # What was handed over early goes first, so a pass's `CollectionRun` comes after it.
        early, self._early = self._early, []
        if early or submitted:
            await self._submit([*early, *submitted])
        commit = getattr(collector, "commit", None)
        if commit is not None:  # a collector that reads incrementally moves on once persisted
            await commit()
        self._record(collector, observations)
        self._after_pass()

    async def _take_early(self, observations: list[Observation], *, urgent: bool = False) -> None:
        """What a pass under way read: submitted with the next flush, or now when a reading
        changed (with whatever waited for the flush, so the order stays). The pass does not
        wait for the correlation step: its reads go on meanwhile."""
        self._early.extend(observations)
        if urgent:
            ready, self._early = self._early, []
            task = asyncio.create_task(self._submit_early(ready), name="changed-observations")
            self._submitting.add(task)
            task.add_done_callback(self._submitting.discard)

    async def drain(self) -> None:
        """Wait for the changed readings already handed over to be submitted (on stop)."""
        if self._submitting:
            await asyncio.gather(*self._submitting, return_exceptions=True)

    async def _submit_early(self, ready: list[Observation]) -> None:
        try:
            await self._submit(ready)
        except Exception:  # the passes go on; what they read next is submitted as usual
            log.exception("submitting %d early observation(s) failed", len(ready))

    async def _flush_early(self) -> None:
        """Submit what passes under way handed over, in one step every `EARLY_FLUSH_SECONDS`."""
        while True:
            await self.clock.sleep(EARLY_FLUSH_SECONDS)
            ready, self._early = self._early, []
            if ready:
                await self._submit_early(ready)

    async def _loop(self, collector: Collector) -> None:
        while True:
            started = self.clock.now()
            try:
                await self.run(collector)
            except Exception:  # a bug in one collector must not stop the others
                log.exception("collector %s crashed; retrying next interval", collector.name)
            elapsed = (self.clock.now() - started).total_seconds()
            await self.clock.sleep(max(0.0, self.wait_after(collector) - elapsed))

    def wait_after(self, collector: Collector) -> float:
        """From the start of one pass to the next: the collector's interval, but after a failed
        pass half the fastest collector's at most. A slow collector (gateways, every 5 minutes)
        then sees Azure again, and a restarted agent becomes ready, within one fast poll of
        Azure answering again. Half, because a failing pass may hold on to its call deadline
        (half an interval, `collect/retry.py`) until just after the fault ends: the next one
        still begins within half an interval of the end, and blindness resolves within one.
        A failing pass costs a request or two, and none while a Retry-After holds."""
        if not self._status[collector.name].failing:
            return collector.interval_seconds
        fastest = min(c.interval_seconds for c in self.collectors)
        return min(collector.interval_seconds, fastest) * RETRY_SHARE

    def _record(self, collector: Collector, observations: Sequence[Observation]) -> None:
        status = self._status[collector.name]
        runs = [o for o in observations if isinstance(o, CollectionRun)]
        failed = [r for r in runs if not r.ok]
        status.runs += 1
        status.last_run_at = self.clock.now()
        status.failing = bool(failed)
        if runs and not failed:
            status.last_success_at = status.last_run_at
            status.last_error = None
            self._first_pass_done.add(collector.name)
        else:
            status.failures += 1
            status.last_error = "; ".join(f"{r.scope}: {r.reason}" for r in failed) or "no scope"
            if not runs:  # nothing to poll is a completed pass, not a failure of the agent
                self._first_pass_done.add(collector.name)


def _run_of(observation: Observation, collector: Collector) -> bool:
    return isinstance(observation, CollectionRun) and observation.collector == collector.name
