"""What to read in each pass, within the subscription's request budget, and what refresh that
promises each resource.

Against Azure a connection's status costs one GET (list responses leave it out), and BGP status
one POST action plus its polls, so a large subscription cannot be read whole every interval. The
planner decides, per collector (its lane) and subscription:

1. *Hot* resources every pass: those whose reading changed recently, those in an open incident,
   and those a cheap signal (Resource Health) flags. A change also heats its siblings (the other
   connections of the same gateway), so a failover is seen across the gateway in one pass.
2. Everything else in rotation, oldest read first, whole groups (a gateway's connections) at a
   time so the correlator sees siblings together; each resource at least every `interval` when
   the budget allows, and as often as the budget allows when it does not. Each is read when it
   is due (`Plan.due_in`), one rotation period after its last read began, so the gaps between
   reads are even, not whatever pass boundaries make of them.

How many a pass may read follows the collector's *ration* (`ration.py`): the subscription's
spendable rate (`budget.py`), less what the collectors that read it whole spend, split between
the rotating collectors (connections, BGP status, ExpressRoute circuits) so that all of them
rotate in one period, the shortest the reads and the writes allow. The rotation period that
follows is the *promise* for that subscription: the agent hands it to the correlator, which
judges staleness by it (plus a margin), and logs it when it changes. Resources read every pass
are promised one interval.

This module is the planner's public interface for any collector: `plan()` for what to read,
`record()` after each read, `heat()` for signals from outside, `promise()` for what was promised.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from vpnwatch.clock import Clock
from vpnwatch.collect.budget import READS, WRITES, RequestBudget
from vpnwatch.collect.ration import Demand, Ration, split
from vpnwatch.resourceids import subscription_of

# A resource whose reading changed (and its group: a gateway's connections) stays hot this long:
# four passes at the default 15 s, time for a failover to settle across the gateway and for the
# incident it opens to take over (open incidents are heated again at every correlation step, so
# they stay hot while open and this long after). After that it goes back to the rotation: in a
# storm of faults, heat is read every pass instead of once per rotation, out of the same budget.
HOT_SECONDS = 60.0
HEADROOM = 0.95  # plan 95 % of what the budget allows; the rest absorbs retries
# Hot resources never take more than this share of what a pass affords: during a storm of
# changes (each heating its gateway for `HOT_SECONDS`) they would otherwise take nearly all of it
# and stall the rotation, so the resources nobody has looked at for longest would wait longest.
HOT_SHARE = 0.5
# A pass may read up to this much more of its rotation than its share, of what is due: one that
# begins late (the one before overran its interval: a busy machine, twenty subscriptions' reads
# waiting on one loop) has that much more due, so resources keep their period; no more, or a
# pass the budget paces would read more because it was slow. The promise is still counted in
# passes of the usual share.
OVERRUN_CREDIT = 1.25
# How fast a collector falls behind, against connections and BGP status, when the budget is
# short: ExpressRoute circuits cost five reads and two writes each (stats, two route-table
# summaries), so they stretch twice as fast; Resource Health, one paged read that moves what
# changed to the front of every rotation, four times slower.
STRETCH = {"arm.expressroute": 2.0, "arm.resourcehealth": 0.25}


@dataclass(frozen=True, slots=True)
class Candidate:
    """A resource a pass could read; `group` keeps siblings together (e.g. the gateway)."""

    resource_id: str
    group: str = ""


@dataclass(frozen=True, slots=True)
class Plan:
    """One pass: what to read, in order, and the refresh it promises the rest."""

    read: tuple[str, ...]
    hot: int  # how many of `read` are hot
    total: int  # candidates in the subscription
    per_pass: int  # how many the budget affords per pass
    promise_seconds: float  # every candidate is read at least this often
    affordable_per_second: float  # the lane's rate in this subscription
    # Per resource of `read`: in how many seconds its read is due (0: now, as hot ones are).
    # A resource in rotation is due one ration period after its last read began.
    due_in: tuple[float, ...]


@dataclass(slots=True)
class _Seen:
    last_read: datetime | None = None
    signature: object = None
    hot_until: datetime | None = None
    group: str = ""


@dataclass(slots=True)
class _Track:
    seen: dict[str, _Seen] = field(default_factory=dict)
    promise: float | None = None
    plan: Plan | None = None
    interval: float = 0.0
    promises: deque[tuple[datetime, float]] = field(default_factory=deque)
    gaps: deque[tuple[datetime, float]] = field(default_factory=deque)  # (read at, since last)
    demand: Demand | None = None  # what a full rotation costs, as of the last plan
    credit: float = 1.0  # resources in rotation the next pass may read (the first: one group)


@dataclass(frozen=True, slots=True)
class Cost:
    """What reading one resource costs, and what every pass costs regardless (the lists).
    `other` charges buckets outside ARM's, as (kind, requests per resource): an Azure Monitor
    metrics batch costs one `metrics:getBatch` call per query and no ARM read. `lead`: how long
    one read takes after it starts, which its rotation makes up for (`ration.Demand.lead`)."""

    reads: float = 1.0
    writes: float = 0.0
    fixed_reads: float = 0.0
    other: tuple[tuple[str, float], ...] = ()
    lead: float = 0.0  # seconds one read takes after it starts (a long-running operation's polls)


class ReadPlanner:
    def __init__(
        self, budget: RequestBudget, clock: Clock, *, hot_seconds: float = HOT_SECONDS
    ) -> None:
        self.budget = budget
        self.clock = clock
        self.hot_seconds = hot_seconds
        self._tracks: dict[tuple[str, str], _Track] = {}
        self._heat: dict[str, datetime] = {}  # lower-cased resource id -> hot until

    # --- planning ------------------------------------------------------------------------------

    def plan(
        self,
        lane: str,
        subscription: str,
        candidates: Sequence[Candidate],
        interval_seconds: float,
        cost: Cost = Cost(),
        *,
        pass_seconds: float | None = None,
    ) -> Plan:
        """The resources to read in this pass, hot first, then the rotation's oldest groups.

        A pass reads what the budget affords in `interval_seconds`; when passes take longer
        (`pass_seconds`, the last one's duration), the promise counts in those."""
        now = self.clock.now()
        track = self._track(lane, subscription)
        listed = {c.resource_id.lower(): c for c in candidates}
        for rid in [r for r in track.seen if r not in listed]:  # deleted: forget it
            del track.seen[rid]
        for rid, candidate in listed.items():
            track.seen.setdefault(rid, _Seen()).group = candidate.group.lower()

        cycle = max(interval_seconds, pass_seconds or 0.0)
        hot_ids = [rid for rid in listed if self._is_hot(rid, track.seen[rid], now)]
        # Hot resources come first but never take the whole pass: the rotation keeps moving.
        # The ration is told only the hot ones a pass reads, so it leaves the rest to rotate.
        hot_ids = hot_ids[: self._hot_cap(lane, subscription, cost, interval_seconds, len(listed))]
        track.demand = Demand(
            lane=lane,
            items=len(listed),
            hot=len(hot_ids),
            reads=cost.reads,
            writes=cost.writes,
            interval=interval_seconds,
            fixed_reads=cost.fixed_reads,
            stretch=STRETCH.get(lane, 1.0),
            lead=cost.lead,
        )
        # A collector charged outside ARM's buckets (Azure Monitor) has no ration: it reads as
        # it affords, and nothing in it is due at a period.
        ration = None if _charged_elsewhere(cost) else self.rations(subscription).get(lane)
        rotation = self._quota(lane, subscription, cost, interval_seconds, len(listed), ration)
        rest = len(listed) - len(hot_ids)
        period = None if ration is None else ration.period
        # The rotation reads `rotation` resources a pass on average. Where each is read when it
        # is due (a ration period after its last read), a pass may read up to `OVERRUN_CREDIT`
        # times as many, of those that are due: one that began late (its predecessor overran)
        # has that many more due. What a pass does not read of it (a fraction, what a whole
        # group overshot, what is not due yet) carries over to the next.
        accrued = rotation * (OVERRUN_CREDIT if period is not None else 1.0)
        if track.plan is None and rotation < rest:
            # The first pass of a rotation the budget cannot afford whole reads one group: the
            # other collectors have not said yet what theirs cost, so its ration is too kind,
            # and every subscription's next pass waits for the slowest one's first.
            accrued = 0.0
        track.credit = min(track.credit + accrued, accrued + 1.0) if rest else 0.0
        chosen = list(hot_ids)
        due_in = [0.0] * len(hot_ids)
        taken = set(hot_ids)
        for oldest, members in self._rotation(track, listed, taken):
            if track.credit < 1.0:
                break
            due = 0.0
            if period is not None and oldest is not None:
                # due when its last read (begun `lead` before it was recorded) is one period old
                due = max(0.0, (oldest - now).total_seconds() + period - cost.lead)
                if due > cycle:  # the next pass begins first: it is that pass's to read
                    break
            for rid in members:
                chosen.append(rid)
                due_in.append(due)
                taken.add(rid)
            track.credit -= len(members)
        per_pass = len(hot_ids) + math.floor(rotation)
        rate = (len(hot_ids) + rotation) / interval_seconds
        if not rest:
            passes = 1
        elif rotation >= 1:
            passes = math.ceil(rest / math.floor(rotation))
        else:  # fewer than one a pass: the period, and a pass for the fraction carried over
            passes = math.ceil(rest / max(rotation, 1e-9)) + 1
        plan = Plan(
            read=tuple(listed[rid].resource_id for rid in chosen),
            hot=len(hot_ids),
            total=len(listed),
            per_pass=per_pass,
            promise_seconds=passes * cycle,
            affordable_per_second=rate,
            due_in=tuple(due_in),
        )
        track.plan = plan
        # What was promised holds until a whole rotation under the new plan has passed: a
        # resource read under a longer rotation must not turn stale early.
        track.promises.append((now, plan.promise_seconds))
        while track.promises and (now - track.promises[0][0]).total_seconds() > max(
            p for _, p in track.promises
        ):
            track.promises.popleft()
        track.promise = max(p for _, p in track.promises)
        track.interval = interval_seconds
        return plan

    def _quota(
        self,
        lane: str,
        subscription: str,
        cost: Cost,
        interval: float,
        items: int,
        ration: Ration | None,
    ) -> float:
        """How many resources in rotation a pass reads on average (it may be a fraction): the
        lane's `ration` for ARM reads and writes, its affordable rate for a collector charged
        elsewhere (Azure Monitor), less the hot ones. The promise counts in passes of this
        share, whatever more of what is due a late pass reads (`OVERRUN_CREDIT`)."""
        demand = self._track(lane, subscription).demand
        hot = demand.hot if demand is not None else 0
        if _charged_elsewhere(cost):
            per_pass = self._per_pass(lane, subscription, cost, interval, items)
            return float(max(1, per_pass - hot))
        if ration is None or demand is None:
            return float(items)
        rotating = max(0, demand.items - demand.hot)
        return rotating * interval / ration.period

    def _hot_cap(
        self, lane: str, subscription: str, cost: Cost, interval: float, items: int
    ) -> int:
        """How many hot resources a pass reads at most: `HOT_SHARE` of what a pass affords."""
        if _charged_elsewhere(cost):
            per_pass = self._per_pass(lane, subscription, cost, interval, items)
            return max(1, math.floor(per_pass * HOT_SHARE))
        affordable = min(
            self.budget.spendable_per_second(subscription, kind) * HEADROOM * interval / per_item
            for kind, per_item in ((READS, cost.reads), (WRITES, cost.writes))
            if per_item > 0
        )
        if math.isinf(affordable):
            return max(1, items)
        return max(1, math.floor(HOT_SHARE * affordable))

    def _per_pass(
        self, lane: str, subscription: str, cost: Cost, interval: float, items: int
    ) -> int:
        rate = self.affordable_per_second(lane, subscription, cost)
        budget_per_pass = rate * interval * HEADROOM - cost.fixed_reads
        return max(1, items if math.isinf(budget_per_pass) else math.floor(budget_per_pass))

    def rations(self, subscription: str) -> dict[str, Ration]:
        """Each rotating collector's part of `subscription`'s budget (`ration.py`): what the
        buckets allow, less what the collectors reading the subscription whole spend."""
        sub = subscription.lower()
        demands = [
            t.demand
            for (_, s), t in self._tracks.items()
            if s == sub and t.demand is not None and (t.demand.reads > 0 or t.demand.writes > 0)
        ]
        planned = {d.lane for d in demands}
        available = []
        for kind in (READS, WRITES):
            spendable = self.budget.spendable_per_second(subscription, kind) * HEADROOM
            whole = sum(
                rate
                for lane, rate in self.budget.average_rates(subscription, kind).items()
                if lane not in planned
            )
            available.append(max(0.0, spendable - whole))
        return split(demands, available[0], available[1])

    def whole(self, lane: str, subscription: str, interval_seconds: float, reads: float) -> None:
        """A collector that reads `subscription` whole spent `reads` on its last pass: it is
        rationed as a rotation of one resource that costs that much."""
        self._track(lane, subscription).demand = Demand(
            lane=lane,
            items=1,
            hot=0,
            reads=reads,
            writes=0.0,
            interval=interval_seconds,
            stretch=STRETCH.get(lane, 1.0),
        )

    def whole_period(self, lane: str, subscription: str) -> float | None:
        """How often a collector that reads `subscription` whole may pass (None: not known)."""
        ration = self.rations(subscription).get(lane)
        return None if ration is None else ration.period

    def affordable_per_second(self, lane: str, subscription: str, cost: Cost = Cost()) -> float:
        """Resources per second this lane can read in `subscription`: what the buckets allow
        after the other lanes' recent spending, never less than the lane's weighted share."""
        limits = []
        for kind, per_item in ((READS, cost.reads), (WRITES, cost.writes), *cost.other):
            if per_item <= 0:
                continue
            spendable = self.budget.spendable_per_second(subscription, kind)
            others = self.budget.recent_rate(subscription, kind, exclude=lane)
            lanes = self.budget.lanes_of(subscription, kind)
            guaranteed = spendable * self.budget.lane_share(lane, lanes)
            limits.append(max(guaranteed, spendable - others) / per_item)
        return min(limits) if limits else math.inf

    # --- what happened -------------------------------------------------------------------------

    def record(self, lane: str, resource_id: str, signature: object, *, group: str = "") -> bool:
        """A resource was read; returns whether its reading changed (which heats it and its
        group for `hot_seconds`). `signature` is whatever identifies its state."""
        now = self.clock.now()
        track = self._track_of_resource(lane, resource_id)
        seen = track.seen.setdefault(resource_id.lower(), _Seen())
        if group:
            seen.group = group.lower()
        changed = seen.last_read is not None and seen.signature != signature
        if seen.last_read is not None:
            track.gaps.append((now, (now - seen.last_read).total_seconds()))
            horizon = max(track.promise or 0.0, track.interval) * 2 + track.interval
            while track.gaps and (now - track.gaps[0][0]).total_seconds() > horizon:
                track.gaps.popleft()
        seen.last_read = now
        seen.signature = signature
        if changed:
            until = _after(now, self.hot_seconds)
            seen.hot_until = until
            if seen.group:
                for other in track.seen.values():
                    if other.group == seen.group:
                        other.hot_until = max(other.hot_until or until, until)
        return changed

    def missed(self, lane: str, resource_id: str) -> None:
        """A read failed: keep the resource at the front of the rotation."""
        track = self._track_of_resource(lane, resource_id)
        seen = track.seen.setdefault(resource_id.lower(), _Seen())
        seen.last_read = None

    def heat(self, resource_ids: Iterable[str], seconds: float | None = None) -> None:
        """Read these every pass for a while (open incidents, Resource Health signals). An id
        may name a resource or a group (a gateway heats its connections)."""
        until = _after(self.clock.now(), self.hot_seconds if seconds is None else seconds)
        for rid in resource_ids:
            key = rid.lower()
            self._heat[key] = max(self._heat.get(key, until), until)

    # --- what the agent and the service read ---------------------------------------------------

    def promise(self, lane: str, subscription: str) -> float | None:
        track = self._tracks.get((lane, subscription.lower()))
        return None if track is None else track.promise

    def demand(self, lane: str, subscription: str) -> Demand | None:
        """What a full rotation of this lane costs in `subscription`, as of its last plan."""
        track = self._tracks.get((lane, subscription.lower()))
        return None if track is None else track.demand

    def plans(self) -> dict[tuple[str, str], Plan]:
        """The last plan per (lane, subscription)."""
        return {key: t.plan for key, t in self._tracks.items() if t.plan is not None}

    def achieved(self, lane: str, subscription: str) -> float | None:
        """The longest time between two reads of one resource over the last two rotations: the
        interval the lane actually kept (None before any resource was read twice)."""
        track = self._tracks.get((lane, subscription.lower()))
        if track is None or not track.gaps:
            return None
        return max(gap for _, gap in track.gaps)

    def subscriptions(self, lane: str) -> list[str]:
        return sorted(sub for name, sub in self._tracks if name == lane)

    def oldest_read(self, lane: str, subscription: str) -> datetime | None:
        """When the least recently read resource was last read (None: one never was)."""
        track = self._tracks.get((lane, subscription.lower()))
        if track is None or not track.seen:
            return None
        reads = [s.last_read for s in track.seen.values()]
        if any(r is None for r in reads):
            return None
        return min(r for r in reads if r is not None)

    # --- internals -----------------------------------------------------------------------------

    def _track(self, lane: str, subscription: str) -> _Track:
        key = (lane, subscription.lower())
        track = self._tracks.get(key)
        if track is None:
            track = _Track()
            self._tracks[key] = track
        return track

    def _track_of_resource(self, lane: str, resource_id: str) -> _Track:
        return self._track(lane, subscription_of(resource_id).lower())

    def _is_hot(self, rid: str, seen: _Seen, now: datetime) -> bool:
        if seen.last_read is None:
            return False  # never read: first in the rotation already
        for until in (seen.hot_until, self._heat.get(rid), self._heat.get(seen.group)):
            if until is not None and until > now:
                return True
        return False

    @staticmethod
    def _rotation(
        track: _Track, listed: dict[str, Candidate], taken: set[str]
    ) -> list[tuple[datetime | None, list[str]]]:
        """Groups of not-yet-chosen resources, least recently read group first."""
        groups: dict[str, list[str]] = {}
        for rid in listed:
            if rid in taken:
                continue
            group = track.seen[rid].group or rid
            groups.setdefault(group, []).append(rid)
        ordered = []
        for members in groups.values():
            reads = [track.seen[r].last_read for r in members]
            oldest = None if any(r is None for r in reads) else min(r for r in reads if r)
            ordered.append((oldest, sorted(members)))
        ordered.sort(key=lambda g: (g[0] is not None, g[0] or datetime.min, g[1][0]))
        return ordered


def _charged_elsewhere(cost: Cost) -> bool:
    """A collector that spends no ARM request (an Azure Monitor one) is paced by its own
    bucket's affordable rate, not by the ration of ARM's."""
    return bool(cost.other) or (cost.reads <= 0 and cost.writes <= 0)


def _after(now: datetime, seconds: float) -> datetime:
    return now + timedelta(seconds=seconds)
