"""Incident histories and entity health samples, for `vpnwatch replay --json [--entities]`.

`IncidentHistory` listens to the agent's correlation steps and records, per incident, each
change an on-call engineer would care about, at the agent's time of the step that made it:
opened, escalated or de-escalated, classified, retyped (a drop settled as a failover), given
or released from a parent, flapped, resolved. The notifications planned for it (paged, page
updated, page resolved) come from the outbox. `entity_sample` reads what every entity's health
is at one step, with the age of the data behind it, so "never `up` from stale data" can be
checked from outside.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vpnwatch.clock import Clock
from vpnwatch.correlate import CorrelationResult
from vpnwatch.correlate.state import FleetState
from vpnwatch.incidents import Incident, Severity
from vpnwatch.store.outbox import OutboxRow

_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


def when(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class _Seen:
    type: str
    severity: Severity
    classification: str | None
    parent: str | None
    flaps: int
    resolved: bool

    @classmethod
    def of(cls, inc: Incident) -> _Seen:
        return cls(
            inc.type.value,
            inc.severity,
            inc.classification,
            inc.parent_key,
            inc.flaps,
            not inc.is_open,
        )


class IncidentHistory:
    """An agent listener (`Agent.add_listener`) keeping each incident's events in order."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._seen: dict[str, _Seen] = {}
        self._events: dict[str, list[dict[str, Any]]] = {}

    def __call__(self, result: CorrelationResult) -> None:
        now = self._clock.now()
        for inc in (*result.opened, *result.updated, *result.resolved):
            self._note(inc, now)

    def _note(self, inc: Incident, now: datetime) -> None:
        after = _Seen.of(inc)
        before = self._seen.get(inc.id)
        if before == after:
            return
        self._seen[inc.id] = after
        events = self._events.setdefault(inc.id, [])
        at = when(now)
        if before is None:
            events.append(
                {
                    "at": at,
                    "event": "opened",
                    "type": after.type,
                    "severity": after.severity.value,
                    "classification": after.classification,
                    "parent": after.parent,
                    "started_at": when(inc.opened_at),
                }
            )
            before = _Seen(after.type, after.severity, after.classification, after.parent, 0, False)
        if after.type != before.type:
            events.append({"at": at, "event": "retyped", "from": before.type, "to": after.type})
        if after.severity != before.severity:
            rising = _RANK[after.severity] > _RANK[before.severity]
            events.append(
                {
                    "at": at,
                    "event": "escalated" if rising else "deescalated",
                    "from": before.severity.value,
                    "to": after.severity.value,
                }
            )
        if after.classification != before.classification:
            events.append(
                {
                    "at": at,
                    "event": "classified",
                    "from": before.classification,
                    "to": after.classification,
                }
            )
        if after.parent != before.parent:
            events.append(
                {"at": at, "event": "parent_changed", "from": before.parent, "to": after.parent}
            )
        if after.flaps > before.flaps:
            events.append({"at": at, "event": "flapped", "flaps": after.flaps})
        if after.resolved and not before.resolved:
            events.append(
                {
                    "at": at,
                    "event": "resolved",
                    "resolved_at": when(inc.resolved_at),
                    "outage_seconds": _seconds(inc.outage_seconds),
                }
            )

    def events(self, incident_id: str, notifications: Sequence[OutboxRow] = ()) -> list[dict]:
        """The incident's events with its notifications merged in, in time order (a step's
        notifications come after the change that caused them)."""
        merged = list(self._events.get(incident_id, []))
        paged: set[str] = set()
        for row in sorted(notifications, key=lambda r: r.seq):
            if row.event == "resolve":
                event = "page_resolved"
            elif row.receiver in paged:
                event = "page_updated"
            else:
                event = "paged"
                paged.add(row.receiver)
            at = datetime.fromisoformat(row.created_at)
            merged.append({"at": when(at), "event": event, "receiver": row.receiver})
        # ISO times of one format sort as text; sorted() is stable, so a step keeps its order
        return sorted(merged, key=lambda e: e["at"])


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def entity_sample(state: FleetState, now: datetime) -> dict[str, Any]:
    """Every entity's effective health at `now`, with when its data was last observed and
    after how long that data counts as stale."""
    entities = []
    for entity_id in sorted(state.entities):
        entity = state.entities[entity_id]
        entities.append(
            {
                "id": entity_id,
                "kind": str(entity.kind),
                "health": state.effective(entity, now).value,
                "last_observed": when(entity.last_observed),
                "stale_after_seconds": state.stale_after(entity_id),
            }
        )
    return {"at": when(now), "entities": entities}
