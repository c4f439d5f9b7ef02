"""Entity counts by kind and effective health, kept up to date instead of recounted.

`/health` and `/metrics` ask how many entities are up, degraded, down and unknown. Recounting
means applying staleness to every entity (about 19,000 for a 1,000-gateway fleet) on every
request; instead each entity's contribution is adjusted when it changes (`update`, `discard`),
and staleness transitions come off a heap of deadlines as time passes (`advance`), so a read costs
what changed since the last one, not the size of the fleet.

An entity counts as `unknown` while it is overlaid unknown, never observed, or stale (its last
observation older than the staleness limit); otherwise as its last health. This is
`FleetState.effective`, kept incrementally.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta

from vpnwatch.correlate.entities import EntityState, Health

Bucket = tuple[str, Health]  # (kind, effective health)


class HealthTally:
    def __init__(
        self, entities: Mapping[str, EntityState], stale_after: Callable[[str], float]
    ) -> None:
        """`stale_after(entity_id)`: seconds after its last observation an entity turns
        unknown (`FleetState.stale_after`). Call `recount` when those limits change."""
        self._entities = entities
        self._stale_after = stale_after
        self._counts: dict[Bucket, int] = {}
        self._counted: dict[str, Bucket] = {}  # entity id -> the bucket it is counted in
        self._deadlines: list[tuple[datetime, str]] = []  # (goes stale after, entity id)
        self._scheduled: dict[str, datetime] = {}  # entity id -> its live entry on the heap
        self._now: datetime | None = None
        self._recount = False

    def counts(self, now: datetime) -> dict[Bucket, int]:
        """Counts by (kind, effective health) as of `now` (a copy; zero buckets left out)."""
        if self._recount:
            self._rebuild(now)
        self.advance(now)
        return {bucket: n for bucket, n in self._counts.items() if n}

    def recount(self) -> None:
        """Staleness limits changed: count everything afresh (at the next `settle` or read)."""
        self._recount = True

    def settle(self) -> None:
        """Do a pending recount now (at the end of a correlation step, not in a request)."""
        if self._recount and self._now is not None:
            self._rebuild(self._now)

    def update(self, e: EntityState, limit: timedelta | None = None) -> None:
        """Count `e` as it is now (after it was added or changed); `limit` is its staleness
        limit when the caller knows it (the same for every entity of a record)."""
        if self._recount:
            return  # counted afresh anyway
        eid, now, last = e.entity_id, self._now, e.last_observed
        deadline = None
        if e.unknown_reason is not None or last is None:
            bucket = (e.kind, Health.UNKNOWN)
        else:
            if limit is None:
                limit = timedelta(seconds=self._stale_after(eid))
            deadline = last + limit
            stale = now is not None and now > deadline
            bucket = (e.kind, Health.UNKNOWN if stale else e.health)
        if self._counted.get(eid) != bucket:
            self._move(eid, bucket)
        if deadline is None or (now is not None and deadline < now):
            return  # unknown, or stale already: nothing to schedule
        scheduled = self._scheduled.get(eid)
        if scheduled is None or deadline < scheduled:
            self._scheduled[eid] = deadline
            heapq.heappush(self._deadlines, (deadline, eid))

    def update_all(
        self, entities: list[EntityState], limit: Callable[[str], timedelta]
    ) -> None:
        """`update` for the entities of one record, which share one staleness limit (asked of
        `limit(entity_id)` only when needed)."""
        if self._recount:
            return
        counted, scheduled = self._counted, self._scheduled
        shared: timedelta | None = None
        for e in entities:
            eid = e.entity_id
            if (
                e.unknown_reason is None
                and eid in scheduled
                and counted.get(eid) == (e.kind, e.health)
            ):
                # Counted as its health, with a deadline on the heap: observed again since,
                # its deadline only moved later, and `advance` recounts it when the old one
                # comes up. Nothing to do now.
                continue
            if shared is None:
                shared = limit(eid)
            self.update(e, shared)

    def observed_again(self, entities: Iterable[EntityState]) -> None:
        """`update` for entities observed again as they were: the same health, not overlaid
        unknown, only their data time later. One counted as its health with a deadline on the
        heap stays as it is (`advance` recounts it when the old deadline comes up); only one
        that grew stale, or was never counted, is counted again."""
        if self._recount:
            return
        scheduled = self._scheduled
        for e in entities:
            if e.entity_id not in scheduled:
                self.update(e)

    def discard(self, entity_id: str) -> None:
        """Stop counting an entity that was removed."""
        self._move(entity_id, None)
        self._scheduled.pop(entity_id, None)

    def advance(self, now: datetime) -> None:
        """Let time pass: entities whose data grew stale by `now` count as unknown."""
        if self._now is not None and now < self._now:
            self._rebuild(now)  # time went back (a test's clock): count afresh
            return
        self._now = now
        heap = self._deadlines
        while heap and heap[0][0] < now:
            deadline, eid = heapq.heappop(heap)
            if self._scheduled.get(eid) != deadline:
                continue  # superseded by an earlier entry, or the entity is gone
            del self._scheduled[eid]
            entity = self._entities.get(eid)
            if entity is not None:
                self.update(entity)  # re-schedules it when it was observed since

    def _rebuild(self, now: datetime) -> None:
        self._recount = False
        self._counts.clear()
        self._counted.clear()
        self._deadlines.clear()
        self._scheduled.clear()
        self._now = now
        for entity in self._entities.values():
            self.update(entity)

    def _move(self, entity_id: str, bucket: Bucket | None) -> None:
        old = self._counted.get(entity_id)
        if old == bucket:
            return
        if old is not None:
            self._counts[old] -= 1
        if bucket is None:
            self._counted.pop(entity_id, None)
        else:
            self._counted[entity_id] = bucket
            self._counts[bucket] = self._counts.get(bucket, 0) + 1
