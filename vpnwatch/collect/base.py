"""The collector contract, and the run skeleton the ARM collectors share.

A collector polls one Azure surface for one scope and returns typed observations that always end
with exactly one `CollectionRun`. It never raises for an Azure failure: a resource it could not
read becomes a `ResourceUnknown`, a listing it could not make fails the run, so nothing
downstream mistakes silence for "still up".
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol, TypeVar

from vpnwatch.clock import Clock
from vpnwatch.collect.clients import AzureClients
from vpnwatch.collect.errors import Failure, classify
from vpnwatch.collect.lanes import in_lane
from vpnwatch.collect.planner import Plan
from vpnwatch.collect.telemetry import RequestTally, tally_requests
from vpnwatch.observations import CollectionRun, FailureCause, Observation, ResourceUnknown

# the collectors' vocabulary for the parts of the ids they read
from vpnwatch.resourceids import name_of as name_of
from vpnwatch.resourceids import resource_group_of as resource_group_of
from vpnwatch.resourceids import subscription_of as subscription_of

T = TypeVar("T")
log = logging.getLogger(__name__)

LRO_TIMEOUT_FACTOR = 3  # a long-running POST may take this many request timeouts in total
EARLY_SECONDS = 2.0  # clock seconds between hand-overs of what a long pass has read so far
# A pass that reads only part of its rotation starts those reads over this share of its interval
# (less what one read takes), so each resource is read one period after the last time, not at
# whichever pass boundary comes first.
SPREAD_SHARE = 0.8
# A resource group's listing (which resources exist, not their status) is kept for one rotation
# of the planner, and made again at least this often: a new resource is picked up within it, a
# deleted one as soon as its read answers 404.
RELIST_MAX_SECONDS = 300.0


class Deliver(Protocol):
    """Where a pass hands over what it has read so far; `urgent` when a reading changed, so
    the receiver passes it on at once instead of with the next batch."""

    def __call__(
        self, observations: list[Observation], *, urgent: bool = False
    ) -> Awaitable[None]: ...


_early_allowed: ContextVar[bool] = ContextVar("vpnwatch_early_allowed", default=False)
_pass_began: ContextVar[datetime | None] = ContextVar("vpnwatch_pass_began", default=None)


@dataclass(frozen=True, slots=True)
class Scope:
    """One subscription, narrowed to some resource groups; `()` means every group."""

    subscription_id: str
    resource_groups: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"/subscriptions/{self.subscription_id}"


class Collector(Protocol):
    name: str  # "arm.gateways" | "arm.connections" | "arm.bgp" | "arm.expressroute"
    interval_seconds: float

    async def collect(self, scope: Scope) -> list[Observation]:
        """Observations for `scope`, always ending with one `CollectionRun`."""
        ...


class CallFailed(Exception):
    """An Azure call failed; carries the classified failure up to where it becomes an
    observation. Internal to the collectors."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.reason)
        self.failure = failure


class RunMemo:
    """One call per key within a run, however many tasks ask at once (e.g. a public IP that
    two gateways reference is read once). Failures are shared the same way."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[object]] = {}
        self.later: list[Any] = []  # what the groups left for `ArmCollector.finish`
        # requests the pass made before `finish` (its lists, every page of them): what every
        # pass costs whatever the planner picks
        self.listed = 0
        self.relisted = False  # a listing was made (not kept from an earlier pass)

    def known(self, key: str, value: object) -> None:
        """`value` was read already (e.g. listed): `once(key, …)` returns it without a call."""
        if key.lower() not in self._tasks:
            future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
            future.set_result(value)
            self._tasks[key.lower()] = future  # type: ignore[assignment]

    async def once(self, key: str, make: Callable[[], Awaitable[T]]) -> T:
        task = self._tasks.get(key.lower())
        if task is None:
            task = asyncio.ensure_future(make())  # type: ignore[arg-type]
            self._tasks[key.lower()] = task
        return await task  # type: ignore[return-value]


@dataclass
class GroupResult:
    """What one resource group contributed to a run."""

    observations: list[Observation] = field(default_factory=list)
    resource_ids: list[str] = field(default_factory=list)


class ArmCollector:
    """Shared skeleton: resolve resource groups, collect each one concurrently, and close the
    run with a `CollectionRun` that counts requests and 429s and names what failed."""

    name: str = "arm"
    kind: str = "resource"  # the `ResourceUnknown.kind` this collector emits
    # Reads each subscription whole every pass (lists, not resource by resource): the read
    # planner rations it by passes, and a pass its ration cannot afford yet is skipped.
    whole: bool = False

    def __init__(self, clients: AzureClients, clock: Clock, interval_seconds: float) -> None:
        self.clients = clients
        self.clock = clock
        self.interval_seconds = interval_seconds
        self._pass_seconds: dict[str, float] = {}  # scope -> clock seconds its last pass took
        self._last_pass: dict[str, tuple[datetime, CollectionRun]] = {}  # whole: scope -> run
        # Where resources read during a pass go before the pass ends (the agent's correlator):
        # a pass paced by the budget lasts its whole interval, and a tunnel read at its start
        # must not wait for the end to be seen. None: everything comes back from `collect`.
        self.deliver: Deliver | None = None
        self._just_changed: set[str] = set()  # resources whose reading just changed (`changed`)
        # (subscription, resource group) -> when it was listed, and what (`list_kept`)
        self._listings: dict[tuple[str, str], tuple[datetime, list[Any]]] = {}
        self._list_cost: dict[str, float] = {}  # scope -> requests a pass that lists makes

    @property
    def pass_seconds(self) -> float:
        """How often a pass can actually start: the interval, or the slowest scope's last pass
        if that took longer (the budget paces requests). Planned refreshes count in these."""
        slowest = max(self._pass_seconds.values(), default=0.0)
        return max(self.interval_seconds, slowest)

    async def collect(self, scope: Scope) -> list[Observation]:
        skipped = self.skip(scope)
        if skipped is not None:
            return [skipped]
        started = time.monotonic()
        began = self.clock.now()
        observations: list[Observation] = []
        resource_ids: list[str] = []
        failures: list[tuple[str, Failure]] = []
        with tally_requests() as tally:
            try:
                groups = await self._resource_groups(scope)
            except CallFailed as failed:
                failures.append(("*", failed.failure))
                groups = []
            memo = RunMemo()
            results = await _gather(self._collect_group_safely(scope, g, memo) for g in groups)
            for group, result in zip(groups, results, strict=True):
                if isinstance(result, Failure):
                    failures.append((group, result))
                    continue
                observations.extend(result.observations)
                resource_ids.extend(result.resource_ids)
            # Only a pass that has failed nowhere hands reads over early: a failed pass makes
            # what it did not refresh in its own correlation step `unknown`.
            token = _early_allowed.set(not failures)
            began_token = _pass_began.set(began)
            try:
                memo.listed = tally.requests
                observations.extend(await self.finish(scope, memo, len(groups)))
            finally:
                _pass_began.reset(began_token)
                _early_allowed.reset(token)
        self._pass_seconds[scope.label] = (self.clock.now() - began).total_seconds()
        run = self._run(scope, failures, resource_ids, tally, time.monotonic() - started)
        run = replace(run, promise_seconds=self.promise(scope), started_at=began)
        self.passed(scope, began, run)
        observations.append(run)
        return observations

    async def collect_group(self, scope: Scope, resource_group: str, memo: RunMemo) -> GroupResult:
        """Observe one resource group. Raise `CallFailed` only when the group cannot be listed;
        per-resource failures become `ResourceUnknown` inside the result."""
        raise NotImplementedError

    async def finish(self, scope: Scope, memo: RunMemo, groups: int) -> list[Observation]:
        """After every group: read what the groups left in `memo.later` for a planned pass over
        the whole subscription (`groups` lists were read). Nothing by default."""
        return []

    def promise(self, scope: Scope) -> float | None:
        """How often this collector's plan reads each resource of `scope` (None: every pass)."""
        if not self.whole:
            return None
        period = self.clients.planner.whole_period(self.name, scope.subscription_id)
        return period if period is not None and period > self.interval_seconds else None

    def skip(self, scope: Scope) -> CollectionRun | None:
        """For a collector that reads subscriptions whole: when its ration cannot afford this
        pass yet, the last pass's run again (the same resources listed, nothing read, the
        promise that holds), so nothing is taken for deleted and nothing turns stale early."""
        last = self._last_pass.get(scope.label) if self.whole else None
        if last is None:
            return None
        at, run = last
        period = self.clients.planner.whole_period(self.name, scope.subscription_id)
        # passes start one interval apart, give or take: skip only what comes before the period
        if period is None or (self.clock.now() - at).total_seconds() >= period - (
            self.interval_seconds / 2
        ):
            return None
        now = self.clock.now()
        return replace(
            run,
            observed_at=now,
            started_at=now,
            requests=0,
            throttled=0,
            duration_seconds=0.0,
            remaining_reads=None,
            promise_seconds=self.promise(scope),
            extra={"skipped": "read budget"},
        )

    def passed(self, scope: Scope, began: datetime, run: CollectionRun) -> None:
        """A whole pass ran: remember it, and tell the planner what it cost."""
        if not self.whole:
            return
        if run.ok:
            self._last_pass[scope.label] = (began, run)
        else:  # a failed pass is never skipped after: the next one reads again
            self._last_pass.pop(scope.label, None)
        self.clients.planner.whole(
            self.name, scope.subscription_id, self.interval_seconds, max(1, run.requests)
        )

    # --- helpers for subclasses ---------------------------------------------------------------

    async def call(self, doing: str, make: Callable[[], Awaitable[T]]) -> T:
        """Run one SDK call in this collector's lane; failures become `CallFailed`.

        The lane's concurrency slot and the subscription's budget are taken per HTTP request by
        the pipeline (`lanes.PacingPolicy`), not for the whole call."""
        with in_lane(self.name):
            try:
                return await make()
            except Exception as exc:
                raise CallFailed(classify(exc, doing)) from exc

    async def list_all(self, doing: str, pager: Callable[[], AsyncIterable[Any]]) -> list[Any]:
        """Drain an `AsyncItemPaged`, following every nextLink, as one limited call."""

        async def drain() -> list[Any]:
            return [item async for item in pager()]

        return await self.call(doing, drain)

    async def list_kept(
        self,
        scope: Scope,
        resource_group: str,
        memo: RunMemo,
        doing: str,
        pager: Callable[[], AsyncIterable[Any]],
        keep: Callable[[list[Any]], bool] = lambda items: True,
    ) -> list[Any]:
        """`list_all`, or the listing of this resource group made less than one rotation ago
        (`relist_seconds`): a rotation reads every resource it lists by name anyway, so listing
        on every pass pays for what the reads already tell. A listing `keep` refuses (one that
        carries status, which would go stale) is made every pass."""
        key = (scope.subscription_id.lower(), resource_group.lower())
        kept = self._listings.get(key)
        now = self.clock.now()
        # passes start one interval apart, give or take: keep it only what comes before that
        fresh_for = self.relist_seconds(scope) - self.interval_seconds / 2
        if kept is not None and (now - kept[0]).total_seconds() < fresh_for:
            return kept[1]
        items = await self.list_all(doing, pager)
        memo.relisted = True
        if keep(items):
            self._listings[key] = (now, items)
        else:
            self._listings.pop(key, None)
        return items

    def relist_seconds(self, scope: Scope) -> float:
        """How long a resource group's listing is kept: one rotation, between one interval and
        `RELIST_MAX_SECONDS`."""
        promise = self.promise(scope) or 0.0
        return min(RELIST_MAX_SECONDS, max(self.interval_seconds, promise))

    def list_cost(self, scope: Scope, memo: RunMemo, groups: int) -> float:
        """What the lists cost per pass on average: the requests of the last pass that listed,
        spread over the passes a listing is kept for."""
        if memo.relisted or scope.label not in self._list_cost:
            self._list_cost[scope.label] = float(max(groups, memo.listed))
        passes = max(1.0, self.relist_seconds(scope) / self.interval_seconds)
        return self._list_cost[scope.label] / passes

    async def lro(self, doing: str, begin: Callable[[], Awaitable[Any]]) -> Any:
        """Start a long-running POST and wait for its result.

        Only the POST and each status poll hold a slot of the lane; the waits between polls hold
        nothing. ARM polling has no deadline of its own, so a status monitor that never finishes
        would hold this run forever; the whole operation gets `LRO_TIMEOUT_FACTOR` request
        timeouts.
        """
        deadline = self.clients.settings.collectors.timeout_seconds * LRO_TIMEOUT_FACTOR

        async def run() -> Any:
            poller = await begin()
            return await asyncio.wait_for(poller.result(), timeout=deadline)

        return await self.call(doing, run)

    async def observe_each(
        self,
        resources: Iterable[Any],
        what: str,
        observe: Callable[[Any], Awaitable[Observation]],
        plan: Plan | None = None,
    ) -> list[Observation]:
        """Observe every listed resource concurrently; each failure is that resource's own
        `ResourceUnknown`, never the whole pass's. With the `plan` they come from, each read
        starts when it is due (`paced`)."""

        def reading(r: Any) -> Callable[[], Awaitable[Observation]]:
            return lambda: self.guarded(r.id, f"read {what} {r.id}", observe(r))

        reads = [reading(r) for r in resources]
        if plan is None:
            return await self.as_read(read() for read in reads)
        return await self.as_read(self.paced(reads, plan))

    def paced(
        self, reads: Sequence[Callable[[], Awaitable[T]]], plan: Plan, lead: float = 0.0
    ) -> list[Awaitable[T]]:
        """Start `plan.read`'s reads (`reads`, in the same order) when each is due: the hot ones
        now, the rest in rotation one ration period after their last read began
        (`Plan.due_in`), so each resource is read at even gaps instead of at whichever pass
        boundary comes next. Never sooner than an even share of the pass's window (a rotation
        due all at once, the first, does not burst) nor later than its end (`spread_window`)."""
        window = self.spread_window(len(plan.read), plan.total, lead)
        later = len(reads) - plan.hot
        if window <= 0 or later <= 1:
            return [read() for read in reads]
        step = window / later
        due = plan.due_in

        async def after(delay: float, read: Callable[[], Awaitable[T]]) -> T:
            await self.clock.sleep(delay)
            return await read()

        return [
            read() if i < plan.hot else after(min(window, max(due[i], (i - plan.hot) * step)), read)
            for i, read in enumerate(reads)
        ]

    def spread_window(self, read: int, total: int, lead: float = 0.0) -> float:
        """Over how many clock seconds a pass that reads `read` of `total` resources starts
        the reads of its rotation: what is left of `SPREAD_SHARE` of its interval once the
        lists are read, less `lead`; none when it reads them all (nothing to keep apart) or on
        a clock that moves only when told (the stepped replay)."""
        if read >= total or math.isinf(self.clock.speed):
            return 0.0
        began = _pass_began.get()
        spent = 0.0 if began is None else (self.clock.now() - began).total_seconds()
        return max(0.0, self.interval_seconds * SPREAD_SHARE - lead - spent)

    def changed(self, resource_id: str) -> None:
        """The reading just made of `resource_id` differs from the one before: `as_read` hands
        it over at once."""
        self._just_changed.add(resource_id.lower())

    def _urgent(self, observation: Observation) -> bool:
        subject = getattr(observation, "resource_id", None) or getattr(
            observation, "gateway_id", None
        )
        if not subject or subject.lower() not in self._just_changed:
            return False
        self._just_changed.discard(subject.lower())
        return True

    async def as_read(self, observing: Iterable[Awaitable[Observation]]) -> list[Observation]:
        """Run these concurrently. With `deliver` set, in the planned part of a pass that has
        not failed (`finish`), hand what has been read over every `EARLY_SECONDS` as the reads
        come in, and at once when a reading changed (a fault waits for no batch); return only
        the rest."""
        if self.deliver is None or not _early_allowed.get():
            return await _gather(observing)
        tasks = [asyncio.ensure_future(o) for o in observing]
        held: list[Observation] = []
        since = self.clock.now()
        try:
            for next_done in asyncio.as_completed(tasks):
                held.append(await next_done)
                urgent = self._urgent(held[-1])
                if urgent or (self.clock.now() - since).total_seconds() >= EARLY_SECONDS:
                    ready, held = held, []
                    if urgent:
                        await self.deliver(ready, urgent=True)
                    else:
                        await self.deliver(ready)
                    since = self.clock.now()
        except BaseException:
            for task in tasks:
                task.cancel()
            raise
        return held

    async def guarded(
        self, resource_id: str, doing: str, observe: Awaitable[Observation]
    ) -> Observation:
        """Observe one resource; any failure becomes its `ResourceUnknown`."""
        try:
            return await observe
        except CallFailed as failed:
            return self.unknown(resource_id, failed.failure)
        except Exception as exc:  # an unreadable body: unknown, because of what was wrong
            log.warning("%s could not read %s: %r", self.name, resource_id, exc)
            return self.unknown(resource_id, classify(exc, doing))

    def unknown(
        self, resource_id: str, failure: Failure, kind: str | None = None
    ) -> ResourceUnknown:
        return ResourceUnknown(
            observed_at=self.clock.now(),
            source=self.name,
            resource_id=resource_id,
            kind=kind or self.kind,
            cause=failure.cause,
            reason=failure.reason,
        )

    # --- internals ------------------------------------------------------------------------------

    async def _resource_groups(self, scope: Scope) -> list[str]:
        if scope.resource_groups:
            return list(scope.resource_groups)
        client = self.clients.resources(scope.subscription_id)
        groups = await self.list_all(
            f"list resource groups of subscription {scope.subscription_id}",
            lambda: client.resource_groups.list(),
        )
        return [g.name for g in groups if g.name]

    async def _collect_group_safely(
        self, scope: Scope, group: str, memo: RunMemo
    ) -> GroupResult | Failure:
        try:
            return await self.collect_group(scope, group, memo)
        except CallFailed as failed:
            return failed.failure
        except Exception as exc:  # a body we could not read: report it, never raise
            log.exception("%s could not read resource group %s", self.name, group)
            return classify(exc, f"read resource group {group}")

    def _run(
        self,
        scope: Scope,
        failures: list[tuple[str, Failure]],
        resource_ids: list[str],
        tally: RequestTally,
        duration: float,
    ) -> CollectionRun:
        extra: dict[str, str] = {}
        cause: FailureCause | None = None
        reason = ""
        if failures:
            cause = failures[0][1].cause
            reason = "; ".join(f.reason for _, f in failures)
            failed_groups = [g for g, _ in failures if g != "*"]
            if failed_groups:
                extra["failed_resource_groups"] = ",".join(failed_groups)
        return CollectionRun(
            observed_at=self.clock.now(),
            source=self.name,
            collector=self.name,
            scope=scope.label,
            ok=not failures,
            cause=cause,
            reason=reason,
            resource_ids=tuple(dict.fromkeys(resource_ids)),
            requests=tally.requests,
            throttled=tally.throttled,
            duration_seconds=duration,
            remaining_reads=tally.remaining_reads,
            extra=extra,
        )


async def _gather(awaitables: Iterable[Awaitable[T]]) -> list[T]:
    return list(await asyncio.gather(*awaitables))


async def all_of(*awaitables: Awaitable[Any]) -> list[Any]:
    """Await all concurrently and then raise the first failure, so no sibling is left running
    unobserved when one fails (plain `gather` would leave it behind)."""
    results = await asyncio.gather(*awaitables, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return list(results)
