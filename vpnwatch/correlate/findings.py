"""What a detector says, and what it is given to decide it.

A detector is a pure function of the fleet state, the time and its own open incidents: it keeps
no memory of its own, so a restarted correlator (state and incidents reloaded from the store)
decides exactly as the one that stopped. It answers with `Finding`s (the condition holds now)
and `Resolution`s (an open incident's condition is clear, with the final numbers). Saying
nothing about an open incident means "cannot tell" (stale or unreadable data): the engine then
leaves it as it is, so nothing is resolved from data nobody saw.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from vpnwatch.config import CorrelatorSettings
from vpnwatch.correlate.entities import EntityState, Health
from vpnwatch.correlate.maintenance import AnyWindow
from vpnwatch.correlate.state import FleetState
from vpnwatch.incidents import Evidence, Incident, IncidentType, Severity
from vpnwatch.resourceids import name_of as name_of  # what detectors call a resource

# Flap bookkeeping the engine keeps in an incident's attributes (so it is persisted with it):
# the outage of the spells before the current one, and when the current spell started.
EARLIER_OUTAGE = "earlier_outage_seconds"
SPELL_STARTED = "spell_started_at"


def spell_start(inc: Incident) -> datetime:
    """When the current spell of an incident began: its opening, or its last flap."""
    value = inc.attributes.get(SPELL_STARTED)
    return datetime.fromisoformat(value) if value else inc.opened_at


@dataclass(frozen=True, slots=True)
class Finding:
    """A condition that holds now. `started_at` is when the current spell began (the incident's
    `opened_at` when it opens); `outage_seconds` covers that spell only; `explains` names keys
    of findings or incidents this one is the cause of. A `pending` finding holds but has not
    lasted long enough to open an incident; it already explains its symptoms, so they do not
    page in its place meanwhile."""

    key: str
    type: IncidentType
    severity: Severity
    title: str
    resources: tuple[str, ...]
    started_at: datetime
    classification: str | None = None
    outage_seconds: float | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    evidence: tuple[Evidence, ...] = ()
    explains: frozenset[str] = frozenset()
    pending: bool = False


@dataclass(frozen=True, slots=True)
class Resolution:
    """The condition of open incident `key` is clear since `resolved_at`. The numbers (outage
    of the last spell, classification, severity) are taken from the first resolution of a
    clearing; `None` keeps what the incident has. `explains`: the symptoms the incident still
    accounts for while it waits out its hold (BGP sessions re-establish after their tunnels)."""

    key: str
    resolved_at: datetime
    outage_seconds: float | None = None
    classification: str | None = None
    severity: Severity | None = None
    evidence: tuple[Evidence, ...] = ()
    explains: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class DetectorContext:
    state: FleetState
    now: datetime
    settings: CorrelatorSettings
    open_incidents: Mapping[str, Incident]  # this detector's own, by key

    def health(self, entity_id: str) -> Health:
        return self.state.health_of(entity_id, self.now)

    def entity(self, entity_id: str) -> EntityState | None:
        return self.state.entities.get(entity_id)

    @property
    def maintenance_windows(self) -> list[AnyWindow]:
        """Configured and Azure-defined maintenance windows."""
        return self.state.maintenance_windows(self.settings.maintenance_windows)

    def subjects(self, type_: IncidentType) -> list[str]:
        """Subjects of this detector's open incidents of one type."""
        prefix = f"{type_.value}:"
        return [k.removeprefix(prefix) for k in self.open_incidents if k.startswith(prefix)]


class Detector(Protocol):
    types: frozenset[IncidentType]

    def evaluate(self, ctx: DetectorContext) -> Iterable[Finding | Resolution]: ...


def seconds(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds()


def seen(entity: EntityState, label: str, source: str | None = None) -> Evidence:
    """Evidence of an entity's current health and its detail, dated by the first observation
    that showed them (stable across polls, so repeating it adds nothing to a timeline)."""
    return Evidence(
        at=max(entity.since, entity.evidence_at or entity.since),
        message=f"{label} {entity.health.value}: {entity.evidence}",
        resource=entity.entity_id,
        source=source,
    )


def gone(key: str, now: datetime) -> Resolution:
    """The resource an incident is about no longer exists."""
    return Resolution(
        key,
        now,
        classification="deleted",
        evidence=(Evidence(now, "resource no longer exists; incident closed", None, None),),
    )


def restored(
    key: str,
    entity: EntityState,
    inc: Incident,
    label: str,
    explains: frozenset[str] = frozenset(),
    back_at: datetime | None = None,
) -> Resolution:
    """The resolution of an incident about one entity that is serving again: restored at the
    first observation that saw it so (or `back_at`, when Azure says it came back earlier, in a
    gap nobody saw), down since the first that saw it down."""
    start = spell_start(inc)
    if entity.previous is Health.DOWN and entity.previous_since is not None:
        start = entity.previous_since
    back = entity.since if back_at is None else back_at
    return Resolution(
        key,
        back,
        max(0.0, seconds(start, back)),
        evidence=(seen(entity, label),),
        explains=explains,
    )


def all_restored(
    key: str,
    entities: list[EntityState],
    inc: Incident,
    message: str,
    resource: str | None,
    explains: frozenset[str] = frozenset(),
) -> Resolution:
    """The resolution of an incident about several entities, all serving again: restored when
    the last of them came back, down since the current spell of the incident began."""
    began = spell_start(inc)
    restore = max(e.since for e in entities)
    return Resolution(
        key,
        restore,
        max(0.0, seconds(began, restore)),
        evidence=(Evidence(restore, message, resource),),
        explains=explains,
    )
