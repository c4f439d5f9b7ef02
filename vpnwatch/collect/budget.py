"""The ARM request budget of each subscription, kept from what Azure reports in its headers.

Azure Resource Manager throttles per subscription (per principal and region) with token buckets:
reads 250, refilled at 25 per second; writes, which POST actions such as `getBgpPeerStatus` are,
200 refilled at 10 per second. Sovereign clouds still document the older hourly limits (12,000
reads and 1,200 writes per hour). Every response carries what is left in
`x-ms-ratelimit-remaining-subscription-reads` / `-writes`; an empty bucket answers 429 with
`Retry-After`. Source: learn.microsoft.com, "Understand how Azure Resource Manager throttles
requests" (azure-resource-manager/management/request-limits-and-throttling).

`RequestBudget` keeps one bucket per (subscription, kind) and lets vpnwatch spend only `share` of
it (other tools read the same subscription): it refills at `share` of Azure's rate, and never
spends below `(1 - share)` of Azure's capacity as the headers report it, so other readers'
spending slows vpnwatch down instead of pushing the subscription into 429. A 429 that happens
anyway stops the bucket until `Retry-After` has passed.

Requests wait for a token in their *lane* (one per collector). When several lanes wait on the
same bucket, tokens go to the lane that has had the least for its weight (weighted fair queuing),
so a busy collector cannot starve another and each one's weight is its guaranteed share.

The public interface, for any collector (ARM or not):

- `budget.acquire(key, kind, lane)`: wait until one request of `kind` may go to `key` (an ARM
  subscription id, or any key a non-ARM collector chooses).
- `budget.observe(key, kind, remaining=..., status=..., retry_after=...)`: what the response said.
- `budget.define(kind, BucketModel(...))`: a kind with its own limits (e.g. a metrics API).
- `budget.spendable_per_second(key, kind)` and `budget.snapshot()`: what the planner and the
  service read.

This module does no I/O of its own: waiting is the clock's, so a scaled clock scales it and a
manual clock (replay) never waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from vpnwatch.clock import Clock

READS = "reads"
WRITES = "writes"
METRICS = "metrics"  # Azure Monitor metrics:getBatch calls, per subscription
LOG_QUERIES = "log_queries"  # Log Analytics queries, per caller
LOG_ANALYTICS = "log-analytics"  # the key of the caller's Log Analytics bucket

HOUR = 3600.0
SCARCE_BELOW = 25  # remaining requests under which requests go out one at a time
RECENT_WINDOW = 120.0  # what "the other lanes spent recently" looks back over
AVERAGE_OVER_AT_LEAST = 300.0  # a lane's average spend counts at least this long a time
_ANSWER_WAIT = 30.0  # wall seconds; a lost answer must not stop a bucket for good


@dataclass(frozen=True, slots=True)
class BucketModel:
    """Azure's limit for one kind of request: `capacity` tokens refilled at `refill_per_second`."""

    capacity: float
    refill_per_second: float
    name: str = "bucket"
    # Whether responses say what is left (ARM's x-ms-ratelimit-remaining-* headers). An API that
    # never does is not paced one request at a time for want of an answer.
    reported: bool = True


# Today's ARM limits (token buckets) and the older hourly ones sovereign clouds still document.
ARM_BUCKETS = {READS: BucketModel(250, 25.0), WRITES: BucketModel(200, 10.0)}
ARM_HOURLY = {
    READS: BucketModel(12_000, 12_000 / HOUR, "hourly"),
    WRITES: BucketModel(1_200, 1_200 / HOUR, "hourly"),
}
# Azure Monitor's own limits, outside ARM's buckets (`docs/read-budget.md` cites them):
# metrics:getBatch, 360,000 calls per hour per subscription; Log Analytics queries, 200 per
# 30 seconds per caller (and 5 at once, which the `monitor.logs` lane's concurrency keeps).
MONITOR_LIMITS = {
    METRICS: BucketModel(360_000, 360_000 / HOUR, "metrics-batch", reported=False),
    LOG_QUERIES: BucketModel(200, 200 / 30.0, "log-analytics", reported=False),
}
LOG_QUERY_CONCURRENCY = 5


@dataclass(slots=True)
class _Lane:
    weight: float
    waiters: deque[asyncio.Future[None]] = field(default_factory=deque)
    served: float = 0.0  # virtual time: tokens granted / weight


@dataclass(slots=True)
class Bucket:
    """One (key, kind): what vpnwatch may still spend, and what Azure last said."""

    key: str
    kind: str
    model: BucketModel
    share: float
    level: float  # tokens vpnwatch may spend now
    at: float  # clock seconds of `level`
    remaining: int | None = None  # Azure's last `x-ms-ratelimit-remaining-…`
    blocked_until: float = 0.0  # after a 429, nothing goes out before this
    spent: int = 0
    throttled: int = 0
    lanes: dict[str, _Lane] = field(default_factory=dict)
    spent_by_lane: dict[str, int] = field(default_factory=dict)
    pump: asyncio.Task[None] | None = None
    history: deque[float] = field(default_factory=deque)  # clock seconds of recent spends
    created: float = 0.0
    recent: dict[str, deque[float]] = field(default_factory=dict)  # lane -> recent spends
    outstanding: int = 0  # granted, response not yet observed
    answered: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def scarce(self) -> bool:
        """Azure has not said yet what is left, or said its bucket is nearly empty: send one at a
        time, each after the previous answer, so a bucket emptier or a refill slower than the
        model (someone else spending) never meets a 429."""
        if not self.model.reported:
            return False
        return self.remaining is None or self.remaining < SCARCE_BELOW

    @property
    def rate(self) -> float:
        """Tokens per second vpnwatch may spend in the long run."""
        return self.model.refill_per_second * self.share

    @property
    def burst(self) -> float:
        return self.model.capacity * self.share

    def refill(self, t: float) -> None:
        if t > self.at:
            self.level = min(self.burst, self.level + (t - self.at) * self.rate)
            self.at = t

    def seconds_until_token(self, t: float) -> float:
        wait = max(0.0, self.blocked_until - t)
        if self.level < 1.0:
            deficit = 1.0 - self.level
            wait = max(wait, deficit / self.rate if self.rate > 0 else HOUR)
        return wait

    def take(self, t: float, lane: str) -> None:
        self.level -= 1.0
        self.spent += 1
        self.outstanding += 1
        self.spent_by_lane[lane] = self.spent_by_lane.get(lane, 0) + 1
        self.history.append(t)
        recent = self.recent.setdefault(lane, deque())
        recent.append(t)
        while recent and recent[0] < t - RECENT_WINDOW:
            recent.popleft()

    def per_hour(self, t: float) -> float:
        """Requests spent in the last hour, extrapolated while less than an hour has passed."""
        while self.history and self.history[0] < t - HOUR:
            self.history.popleft()
        if not self.history:
            return 0.0
        elapsed = min(HOUR, max(60.0, t - self.created))
        return len(self.history) * HOUR / elapsed


@dataclass(frozen=True, slots=True)
class BucketSnapshot:
    key: str
    kind: str
    model: str
    capacity: float
    refill_per_second: float
    share: float
    spendable_per_second: float
    remaining: int | None
    spent: int
    spent_per_hour: float
    throttled: int


class RequestBudget:
    """Per (key, kind) buckets that pace requests under `share` of Azure's limits."""

    def __init__(
        self,
        clock: Clock,
        *,
        share: float = 0.5,
        models: dict[str, BucketModel] | None = None,
        hourly: dict[str, BucketModel] | None = None,
        weights: dict[str, float] | None = None,
        detect_hourly: bool = True,
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError("share must be in (0, 1]")
        self.clock = clock
        self.share = share
        self._models = {**MONITOR_LIMITS, **(models or ARM_BUCKETS)}
        self._hourly = dict(hourly or ARM_HOURLY)
        self._weights = dict(weights or {})
        self._detect_hourly = detect_hourly
        self._buckets: dict[tuple[str, str], Bucket] = {}
        self._listeners: list[Callable[[Bucket], None]] = []

    # --- configuration -------------------------------------------------------------------------

    def define(self, kind: str, model: BucketModel) -> None:
        """Limits for `kind`; buckets already made keep theirs."""
        self._models[kind] = model

    def weigh(self, lane: str, weight: float) -> None:
        """A lane's share when lanes compete for one bucket (default 1)."""
        if weight <= 0:
            raise ValueError("a lane's weight must be positive")
        self._weights[lane] = weight

    def on_model_change(self, listener: Callable[[Bucket], None]) -> None:
        self._listeners.append(listener)

    # --- spending ------------------------------------------------------------------------------

    async def acquire(self, key: str, kind: str, lane: str = "default") -> None:
        """Wait until one request of `kind` may be sent to `key`, then count it as spent."""
        bucket = self.bucket(key, kind)
        t = self._seconds()
        bucket.refill(t)
        state = self._lane(bucket, lane)
        if self._unpaced() or (
            not any(ln.waiters for ln in bucket.lanes.values())
            and bucket.seconds_until_token(t) == 0.0
            and not (bucket.scarce and bucket.outstanding)
        ):
            self._grant(bucket, lane, state, t)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not state.waiters:  # an idle lane rejoins at the front of virtual time, not behind
            active = [ln.served for ln in bucket.lanes.values() if ln.waiters]
            state.served = max(state.served, min(active, default=state.served))
        state.waiters.append(future)
        if bucket.pump is None or bucket.pump.done():
            bucket.pump = asyncio.create_task(self._pump(bucket), name=f"budget:{key}:{kind}")
        try:
            await future
        except asyncio.CancelledError:
            if future in state.waiters:
                state.waiters.remove(future)
            elif future.done() and not future.cancelled():  # granted, but never sent
                bucket.outstanding = max(0, bucket.outstanding - 1)
                bucket.answered.set()
            raise

    def observe(
        self,
        key: str,
        kind: str,
        *,
        remaining: int | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Update the bucket from a response (or its absence, `status` None): Azure's remaining
        count and any 429. Call it once for every `acquire`."""
        bucket = self.bucket(key, kind)
        t = self._seconds()
        bucket.refill(t)
        bucket.outstanding = max(0, bucket.outstanding - 1)
        bucket.answered.set()
        if remaining is not None:
            bucket.remaining = remaining
            if (
                self._detect_hourly
                and remaining >= bucket.model.capacity
                and kind in self._hourly
                and bucket.model is not self._hourly[kind]
            ):
                self._switch(bucket, self._hourly[kind], t)
            floor = bucket.model.capacity * (1.0 - bucket.share)
            bucket.level = min(bucket.level, remaining - floor)
        if status == 429:
            bucket.throttled += 1
            wait = retry_after if retry_after is not None else 1.0 / max(bucket.rate, 1e-6)
            bucket.blocked_until = max(bucket.blocked_until, t + wait)
            bucket.level = min(bucket.level, 0.0)

    # --- reading -------------------------------------------------------------------------------

    def bucket(self, key: str, kind: str) -> Bucket:
        index = (key.lower(), kind)
        bucket = self._buckets.get(index)
        if bucket is None:
            model = self._models.get(kind) or BucketModel(math.inf, math.inf, "unlimited")
            burst = model.capacity * self.share
            t = self._seconds()
            bucket = Bucket(key, kind, model, self.share, level=burst, at=t, created=t)
            self._buckets[index] = bucket
        return bucket

    def wait_seconds(self, key: str, kind: str) -> float:
        """How long a request of `kind` to `key` would wait for a token now (0: at once)."""
        bucket = self.bucket(key, kind)
        t = self._seconds()
        bucket.refill(t)
        return 0.0 if self._unpaced() else bucket.seconds_until_token(t)

    def blocked_seconds(self, key: str, kind: str) -> float:
        """How much longer a 429's `Retry-After` stops every request of `kind` to `key`."""
        return max(0.0, self.bucket(key, kind).blocked_until - self._seconds())

    def spendable_per_second(self, key: str, kind: str = READS) -> float:
        return self.bucket(key, kind).rate

    def lane_share(self, lane: str, lanes: list[str]) -> float:
        """`lane`'s guaranteed fraction of a bucket when all of `lanes` compete."""
        total = sum(self._weights.get(name, 1.0) for name in {*lanes, lane})
        return self._weights.get(lane, 1.0) / total

    def recent_rate(self, key: str, kind: str, *, exclude: str | None = None) -> float:
        """Requests per second spent over the last `RECENT_WINDOW` by every lane but `exclude`."""
        bucket = self.bucket(key, kind)
        t = self._seconds()
        window = min(RECENT_WINDOW, max(t - bucket.created, 1.0))
        count = 0
        for lane, spends in bucket.recent.items():
            if lane == exclude:
                continue
            while spends and spends[0] < t - RECENT_WINDOW:
                spends.popleft()
            count += sum(1 for s in spends if s >= t - window)
        return count / window

    def average_rates(self, key: str, kind: str) -> dict[str, float]:
        """Per lane, requests per second spent since the bucket was made (over at least
        `AVERAGE_OVER_AT_LEAST`, so one early pass of a rare collector is not taken for a rate)."""
        bucket = self.bucket(key, kind)
        elapsed = max(self._seconds() - bucket.created, AVERAGE_OVER_AT_LEAST)
        return {lane: spent / elapsed for lane, spent in bucket.spent_by_lane.items()}

    def lanes_of(self, key: str, kind: str) -> list[str]:
        """The lanes that have spent from this bucket."""
        return list(self.bucket(key, kind).lanes)

    def keys(self) -> list[str]:
        return sorted({b.key for b in self._buckets.values()}, key=str.lower)

    def snapshot(self) -> list[BucketSnapshot]:
        t = self._seconds()
        return [
            BucketSnapshot(
                key=b.key,
                kind=b.kind,
                model=b.model.name,
                capacity=b.model.capacity,
                refill_per_second=b.model.refill_per_second,
                share=b.share,
                spendable_per_second=b.rate,
                remaining=b.remaining,
                spent=b.spent,
                spent_per_hour=b.per_hour(t),
                throttled=b.throttled,
            )
            for b in sorted(self._buckets.values(), key=lambda b: (b.key.lower(), b.kind))
        ]

    # --- internals -----------------------------------------------------------------------------

    def _seconds(self) -> float:
        return _epoch_seconds(self.clock.now())

    def _unpaced(self) -> bool:
        """A manual clock only moves when the replay steps it: account, never wait."""
        return math.isinf(self.clock.speed)

    def _lane(self, bucket: Bucket, lane: str) -> _Lane:
        state = bucket.lanes.get(lane)
        if state is None:
            state = _Lane(self._weights.get(lane, 1.0))
            bucket.lanes[lane] = state
        return state

    def _grant(self, bucket: Bucket, lane: str, state: _Lane, t: float) -> None:
        bucket.take(t, lane)
        state.served += 1.0 / state.weight

    def _switch(self, bucket: Bucket, model: BucketModel, t: float) -> None:
        bucket.model = model
        bucket.level = min(bucket.level, model.capacity * bucket.share)
        bucket.at = t
        for listener in self._listeners:
            listener(bucket)

    async def _pump(self, bucket: Bucket) -> None:
        """Hand out tokens to waiting lanes as the bucket refills, fairest lane first."""
        while True:
            waiting = [(ln.served, name, ln) for name, ln in bucket.lanes.items() if ln.waiters]
            if not waiting:
                return
            t = self._seconds()
            bucket.refill(t)
            wait = bucket.seconds_until_token(t)
            if wait > 0 and not self._unpaced():
                await self.clock.sleep(wait)
                continue
            if bucket.scarce and bucket.outstanding and not self._unpaced():
                bucket.answered.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(bucket.answered.wait(), timeout=_ANSWER_WAIT)
                continue
            _, name, lane = min(waiting, key=lambda w: (w[0], w[1]))
            future = lane.waiters.popleft()
            if future.done():
                continue
            self._grant(bucket, name, lane, t)
            future.set_result(None)
            await asyncio.sleep(0)


def _epoch_seconds(when: datetime) -> float:
    return when.timestamp()
