"""Fleet state: the health of every gateway, instance, connection, tunnel, BGP peer, site and
circuit, since when, and which observation said so.

The state is four concerns put together:
- `inventory.py`: the last observation of every resource and the lookup indexes;
- `apply.py`: how each kind of observation changes entities (`ObservationRules`), with the
  health rules of `health.py`;
- `derive.py`: the health derived for instances, gateways and sites at the end of a step
  (`DerivedHealth`);
- here: the entities themselves, their effective health, flapping, and the records a restart
  resumes from (bookkept by `recordbook.py`).

Rules, and why:
- Health comes from data, and data ages: `health_of` answers `unknown` for an entity whose last
  observation is older than `staleness_seconds`, so a monitor that stopped seeing never reports a
  stale `up`.
- A gateway instance owns the tunnels whose `gateway_public_ip` is its public IP and the BGP rows
  whose local address is one of its BGP addresses. Sites and gateways take their freshness from
  the connections that feed them (the gateway collector polls every few minutes; tunnel state
  every few seconds).
- Flapping: `flap_transitions` health changes within `flap_window_seconds`.

Everything a detector needs is here or in its own open incidents. `take_record_changes` hands
out JSON-able records for the store, one per observed resource (keyed by its id; a gateway's BGP
status under `<gatewayId>/bgpPeers`, a collector's runs under `run:<collector>|<scope>`), each
holding the resource's last observation and the entities derived from it, so a restart resumes
where it stopped. A record is handed out when anything in it changed; when only its time moved,
once it is a staleness window newer than the stored one, so the store does not rewrite the whole
fleet on every poll and a restart finds nothing staler than that.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from vpnwatch.config import MaintenanceWindow, StateSettings
from vpnwatch.correlate.apply import (
    BLINDING_CAUSES,
    ObservationRules,
    run_record_id,
    scope_prefix,
)
from vpnwatch.correlate.derive import DerivedHealth
from vpnwatch.correlate.entities import (
    EntityKind,
    EntityState,
    Health,
    RunStreak,
)
from vpnwatch.correlate.health import (
    PRIVATE_PEERING,
    bgp_predates_tunnels,
    tally,
)
from vpnwatch.correlate.inventory import BGP_SUFFIX, Inventory, bgp_record_id
from vpnwatch.correlate.maintenance import AnyWindow
from vpnwatch.correlate.reconnections import Reconnection
from vpnwatch.correlate.recordbook import RecordBook, same_material
from vpnwatch.correlate.records import RecordError, decode_observation, encode_observation
from vpnwatch.correlate.tally import HealthTally
from vpnwatch.observations import (
    BgpStatusObserved,
    CollectionRun,
    ConnectionObserved,
    MaintenanceSchedule,
    Observation,
    P2SSessionsObserved,
    ResiliencyObserved,
)
from vpnwatch.resourceids import subscription_of

__all__ = [
    "BLINDING_CAUSES",
    "PRIVATE_PEERING",
    "FleetState",
    "bgp_predates_tunnels",
    "bgp_record_id",
    "run_record_id",
    "scope_prefix",
    "tally",
]

log = logging.getLogger(__name__)

# Gateways and sites take their freshness from the connections that feed them.
PROMISE_FEEDERS = {"arm.gateways": ("arm.gateways", "arm.connections")}


def _subscription_prefix(resource_id: str) -> str:
    subscription = subscription_of(resource_id).lower()
    return f"/subscriptions/{subscription}/" if subscription else ""


class RecordChanges(Mapping[str, dict[str, Any]]):
    """The records a step changed, encoded only when read: the encoding happens where they are
    persisted (the store's worker thread), not in the correlation step. Read them before the
    next step changes the state."""

    def __init__(self, state: FleetState, record_ids: list[str]) -> None:
        self._state = state
        self._ids = record_ids
        self._known = frozenset(record_ids)

    def __getitem__(self, rid: str) -> dict[str, Any]:
        if rid not in self._known:
            raise KeyError(rid)
        return self._state.record(rid)

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, rid: object) -> bool:
        return rid in self._known


class FleetState(ObservationRules, DerivedHealth, Inventory):
    """The fleet as the correlator knows it. Mutated only through `apply` and `refresh`."""

    def __init__(self, settings: StateSettings, *, route_samples: int = 5) -> None:
        super().__init__()
        self.settings = settings
        self.route_samples = route_samples
        self.entities: dict[str, EntityState] = {}
        self.collector_runs: dict[tuple[str, str], CollectionRun] = {}
        self.run_streaks: dict[tuple[str, str], RunStreak] = {}
        # scope -> when the pass began that last saw it again after failures (`_scope_seen_again`)
        self.scope_seen_again: dict[str, datetime] = {}
        # Azure-defined gateway maintenance schedules, by subscription (lower-case id)
        self.maintenance_schedules: dict[str, tuple[MaintenanceSchedule, ...]] = {}
        # ExpressRoute resiliency per circuit / ExpressRoute gateway, by lower-cased id
        self.resiliency: dict[str, ResiliencyObserved] = {}
        # the newest on-demand reading of a gateway's point-to-site sessions, by lower-cased id
        self.p2s_sessions: dict[str, P2SSessionsObserved] = {}
        # observed during the current step (cleared by `begin_step`)
        self.touched_connections: set[str] = set()
        self.touched_bgp: set[str] = set()
        self.reconnected: list[Reconnection] = []  # tunnels that came back unseen (gap.py)
        self._unhealthy: dict[str, set[str]] = defaultdict(set)
        self._records = RecordBook()
        self.refreshed_this_step: set[str] = set()  # records observed since `begin_step`
        self._tally = HealthTally(self.entities, self.stale_after)
        # gateways and sites to derive again at the end of the step (lower-cased id -> time)
        self._dirty_gateways: dict[str, datetime] = {}
        self._dirty_sites: dict[str, datetime] = {}
        # gateways and sites whose inputs were only observed again unchanged: their health holds,
        # only their data time moves (lower-cased ids)
        self._fresh_gateways: dict[str, datetime] = {}
        self._fresh_sites: dict[str, datetime] = {}
        # (collector, "/subscriptions/<id>/" lower-cased) -> refresh its last plan promised
        self._promises: dict[tuple[str, str], float] = {}
        self._scope_of: dict[str, str] = {}  # record id -> its subscription prefix

    # --- reading ---------------------------------------------------------------------------

    def maintenance_windows(self, configured: Iterable[MaintenanceWindow]) -> list[AnyWindow]:
        """The configured maintenance windows, then every Azure-defined schedule."""
        azure = [s for group in self.maintenance_schedules.values() for s in group]
        return [*configured, *azure]

    def health_of(self, entity_id: str, now: datetime) -> Health:
        entity = self.entities.get(entity_id)
        return Health.UNKNOWN if entity is None else self.effective(entity, now)

    def effective(self, entity: EntityState, now: datetime) -> Health:
        if entity.unknown_reason is not None or entity.last_observed is None:
            return Health.UNKNOWN
        if now - entity.last_observed > timedelta(seconds=self.stale_after(entity.entity_id)):
            return Health.UNKNOWN
        return entity.health

    def counts(self, now: datetime) -> dict[tuple[str, Health], int]:
        """Entities by (kind, effective health) at `now`, without zero buckets. Kept up to date
        as entities change and grow stale, so it costs what changed since the last call."""
        self._sync_tally()
        return self._tally.counts(now)

    def stale_after(self, entity_id: str) -> float:
        """Seconds after its last observation an entity turns `unknown`: `staleness_seconds`, or
        the refresh the read planner promised the collectors that feed it plus a margin, if
        longer. A budget-limited agent keeps its fleet known, and still never shows `up` from
        data older than it promised."""
        limit = self.settings.staleness_seconds
        rid = self._records.record_of.get(entity_id)
        if rid is None or not self._promises:
            return limit
        scope = self._scope_of.get(rid)
        if scope is None:
            resource = self._records.resource.get(rid, rid)
            scope = self._scope_of[rid] = _subscription_prefix(resource)
        source = self._records.source.get(rid)
        for feeder in PROMISE_FEEDERS.get(source or "", (source,)):
            promised = self._promises.get((feeder, scope))
            if promised is not None:
                limit = max(limit, promised + self.settings.promise_margin_seconds)
        return limit

    def note_promise(self, run: CollectionRun) -> None:
        if run.promise_seconds is not None:
            key = (run.collector, scope_prefix(run.scope))
            if self._promises.get(key) != run.promise_seconds:
                self._promises[key] = run.promise_seconds
                self._tally.recount()  # staleness limits moved

    def summary(self, now: datetime) -> dict[Health, int]:
        totals = dict.fromkeys(Health, 0)
        for (_, health), n in self.counts(now).items():
            totals[health] += n
        return totals

    def is_flapping(self, entity_id: str, now: datetime) -> bool:
        entity = self.entities.get(entity_id)
        if entity is None:
            return False
        window = self.settings.flap_window_seconds
        recent = sum(1 for t in entity.transitions if (now - t).total_seconds() <= window)
        return recent >= self.settings.flap_transitions

    def unhealthy(self, kind: EntityKind) -> set[str]:
        """Entities of `kind` whose last known health is down or degraded (a copy)."""
        return set(self._unhealthy.get(kind, ()))

    def tunnels_beside(self, peer_id: str) -> list[EntityState]:
        """The tunnels of the gateway instance that carries BGP session `peer_id`."""
        gateway = peer_id.partition("/bgpPeers/")[0]
        for members in self.instance_members(gateway).values():
            if peer_id in members.peers:
                return [self.entities[t] for t in members.tunnels if t in self.entities]
        return []

    # --- a correlation step ----------------------------------------------------------------

    def begin_step(self) -> None:
        self.touched_connections.clear()
        self.touched_bgp.clear()
        self.reconnected.clear()
        self.refreshed_this_step.clear()

    def refresh(self) -> None:
        """Derive instance, gateway and site health from what this step changed."""
        for low, at in self._dirty_gateways.items():
            key = self._ids.get(low)
            if key is not None and key in self.gateways:
                self._derive_gateway(key, self.gateways[key], at)
        for low, at in self._dirty_sites.items():
            key = self._ids.get(low)
            if key is not None and key in self.sites:
                self._derive_site(key, self.sites[key], at)
        for low, at in self._fresh_gateways.items():
            key = self._ids.get(low)
            if key is not None and key in self.gateways and low not in self._dirty_gateways:
                self._freshen_gateway(key, self.gateways[key], at)
        for low, at in self._fresh_sites.items():
            key = self._ids.get(low)
            if key is not None and key in self.sites and low not in self._dirty_sites:
                self._freshen_site(key, self.sites[key], at)
        self._dirty_gateways.clear()
        self._dirty_sites.clear()
        self._fresh_gateways.clear()
        self._fresh_sites.clear()

    def remove_record(self, rid: str) -> None:
        """Forget a resource that no longer exists, with every entity derived from it."""
        members, resource = self._records.forget(rid)
        for eid in members:
            entity = self.entities.pop(eid, None)
            self._tally.discard(eid)
            if entity is not None:
                self._unhealthy[entity.kind].discard(eid)
        self._unindex(rid)
        if self._ids.get(resource.lower()) == rid:
            del self._ids[resource.lower()]
        if self._bgp_ids.get(resource.lower()) == resource and rid == bgp_record_id(resource):
            del self._bgp_ids[resource.lower()]
        self.touched_connections.discard(rid)
        self.touched_bgp.discard(resource)

    # --- entity bookkeeping ------------------------------------------------------------------

    def _claim(self, resource_id: str) -> str:
        """The key of a resource is the id its own observation gives (ids are compared ignoring
        case, so a record filed under another spelling is dropped for this one)."""
        low = resource_id.lower()
        key = self._ids.get(low)
        if key is not None and key != resource_id:
            self.remove_record(key)
        self._ids[low] = resource_id
        return resource_id

    def _entity(self, eid: str, kind: str, rid: str, at: datetime) -> EntityState:
        entity = self.entities.get(eid)
        if entity is None:
            entity = EntityState(eid, kind, Health.UNKNOWN, at, None, "not observed yet")
            self.entities[eid] = entity
            self._records.join(rid, eid)
            self._records.touch(rid)
        elif entity.kind != kind:
            entity.kind = kind  # a placeholder from a `ResourceUnknown`, now observed
            self._records.touch(rid)
        return entity

    def _known_again(self, e: EntityState) -> None:
        if e.unknown_reason is not None:
            e.unknown_reason = None
            self._records.touch_entity(e.entity_id)

    def _observe(
        self, e: EntityState, health: Health | None, at: datetime, evidence: str, unknown: str
    ) -> None:
        if e.last_observed is not None and at < e.last_observed:
            return
        if e.last_observed != at:
            e.previous_observed = e.last_observed
        e.last_observed = at
        reason = unknown if health is None else None
        if e.unknown_reason != reason:
            e.unknown_reason = reason
            self._records.touch_entity(e.entity_id)
        if health is None:
            self._note(e, unknown, at)
        else:
            self._set_health(e, health, at, evidence)

    def _note(self, e: EntityState, evidence: str, at: datetime) -> None:
        if e.evidence != evidence:
            e.evidence = evidence
            e.evidence_at = at
            self._records.touch_entity(e.entity_id)

    def _set_health(self, e: EntityState, health: Health, at: datetime, evidence: str) -> None:
        self._note(e, evidence, at)
        if e.health is health:
            return
        if e.health is not Health.UNKNOWN:
            e.previous = e.health
            e.previous_since = e.since
            e.transitions.append(at)
            cutoff = self.settings.flap_window_seconds
            e.transitions = [t for t in e.transitions if (at - t).total_seconds() <= cutoff]
        e.health = health
        e.since = at
        if health in (Health.DOWN, Health.DEGRADED):
            self._unhealthy[e.kind].add(e.entity_id)
        else:
            self._unhealthy[e.kind].discard(e.entity_id)
        self._records.touch_entity(e.entity_id)

    def _prune(self, rid: str, kind: EntityKind, keep: set[str]) -> None:
        members = self._records.members.get(rid, set())
        gone = [eid for eid in members if eid not in keep and self.entities[eid].kind == kind]
        for eid in gone:
            self._records.leave(rid, eid)
            self.entities.pop(eid)
            self._unhealthy[kind].discard(eid)
            self._tally.discard(eid)
        if gone:
            self._records.touch(rid)

    # --- filing observations -------------------------------------------------------------------

    def _store(self, rid: str, o: Observation) -> None:
        """File an observation under its record and keep the lookup indexes in step."""
        old = self.observation(rid)
        if old is None or not same_material(old, o):
            self._records.touch(rid)
        self._records.fresh(rid, o.observed_at)
        self.refreshed_this_step.add(rid)
        self._unindex(rid)
        self.file(rid, o)
        resource = o.gateway_id if isinstance(o, BgpStatusObserved) else o.resource_id
        self._records.own(rid, o.source, resource)

    def _unindex(self, rid: str) -> None:
        fed = self.unfile(rid)
        if isinstance(fed, ConnectionObserved):
            self._dirty_gateways[fed.gateway_id.lower()] = fed.observed_at
            if fed.peer_id:
                self._dirty_sites[fed.peer_id.lower()] = fed.observed_at
        elif isinstance(fed, BgpStatusObserved):
            self._dirty_gateways[fed.gateway_id.lower()] = fed.observed_at

    # --- records: what the store keeps so a restart resumes ----------------------------------

    def take_record_changes(self) -> tuple[RecordChanges, list[str]]:
        """The records changed and removed since the last call, then forgets them. The records
        are encoded when read (by the store, at persist time, before the next step)."""
        self._sync_tally()
        due, removed = self._records.take(self.settings.staleness_seconds)
        return RecordChanges(self, due), removed

    def record(self, rid: str) -> dict[str, Any]:
        if rid.startswith("run:"):
            collector, _, scope = rid.removeprefix("run:").partition("|")
            key = (collector, scope)
            return {
                "run": encode_observation(self.collector_runs[key]),
                "streak": self.run_streaks[key].to_record(),
            }
        observation = self.observation(rid)
        return {
            "observation": None if observation is None else encode_observation(observation),
            "source": self._records.source.get(rid),
            "resource": self._records.resource.get(rid, rid),
            "entities": {
                eid: self.entities[eid].to_record()
                for eid in sorted(self._records.members.get(rid, ()))
            },
        }

    def _load(self, rid: str, record: dict[str, Any]) -> None:
        if "run" in record:
            run = decode_observation(record["run"])
            streak = RunStreak.from_record(record.get("streak") or {})
            self.collector_runs[(run.collector, run.scope)] = run
            self.note_promise(run)
            self.run_streaks[(run.collector, run.scope)] = streak
            return
        observation = (
            decode_observation(record["observation"]) if record.get("observation") else None
        )
        entities = [
            EntityState.from_record(eid, data)
            for eid, data in (record.get("entities") or {}).items()
        ]
        resource = record.get("resource") or rid
        if not rid.endswith(BGP_SUFFIX):
            self._ids[resource.lower()] = rid
        if observation is not None:
            self._store(rid, observation)
        elif record.get("source"):
            self._records.own(rid, record["source"], resource)
        for entity in entities:
            self.entities[entity.entity_id] = entity
            self._records.join(rid, entity.entity_id)
            if entity.health in (Health.DOWN, Health.DEGRADED):
                self._unhealthy[entity.kind].add(entity.entity_id)

    @classmethod
    def from_records(
        cls, settings: StateSettings, records: dict[str, dict[str, Any]], *, route_samples: int = 5
    ) -> FleetState:
        """The state a previous run persisted through `take_record_changes`. A record that
        cannot be read is dropped (and reported removed, so the store forgets it too): the next
        poll observes that resource afresh, which beats not starting at all."""
        state = cls(settings, route_samples=route_samples)
        for rid, record in records.items():
            try:
                state._load(rid, record)
            except (RecordError, KeyError, TypeError, ValueError) as exc:
                log.warning("dropping unreadable entity record %s: %s", rid, exc)
                state.remove_record(rid)
        state._dirty_gateways.clear()
        state._dirty_sites.clear()
        state._records.settle()
        state._records.changed.clear()
        for entity in state.entities.values():
            state._tally.update(entity)
        return state

    def _sync_tally(self) -> None:
        """Recount the entities of every record that changed since the last call."""
        records, entities, tally = self._records, self.entities, self._tally
        tally.settle()
        for rid in records.changed:
            members = records.members.get(rid)
            if members:
                tally.update_all(
                    [entities[eid] for eid in members],
                    lambda eid: timedelta(seconds=self.stale_after(eid)),  # one per record
                )
        records.changed.clear()
