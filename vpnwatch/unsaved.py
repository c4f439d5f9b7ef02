"""What the store has not taken yet: every correlation cycle since the last successful write.

When a write fails (a full disk, a read-only remount), the cycle is not dropped: it is merged
here and written with the next one, until a write lands. Incidents are kept by id (the latest
object carries every earlier change and its whole timeline), entity records by entity (the
latest wins; a removal after a change removes, a change after a removal restores), and the
notification plans in order, so the outbox gets each notification once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vpnwatch.incidents import Incident
from vpnwatch.notify.planner import Plan


class UnsavedChanges:
    def __init__(self) -> None:
        self.incidents: dict[str, Incident] = {}
        # entity id -> the mapping holding its record, read (encoded) only when written
        self.records: dict[str, Mapping[str, dict[str, Any]]] = {}
        self.removed: dict[str, None] = {}  # an ordered set
        self.plans: list[Plan] = []

    def add(
        self,
        incidents: Sequence[Incident],
        records: Mapping[str, dict[str, Any]],
        removed: Sequence[str],
        plan: Plan | None,
    ) -> None:
        for incident in incidents:
            self.incidents[incident.id] = incident
        for entity_id in records:
            self.records[entity_id] = records
            self.removed.pop(entity_id, None)
        for entity_id in removed:
            self.records.pop(entity_id, None)
            self.removed[entity_id] = None
        if plan:
            self.plans.append(plan)

    def clear(self) -> None:
        self.incidents.clear()
        self.records.clear()
        self.removed.clear()
        self.plans.clear()

    def __bool__(self) -> bool:
        return bool(self.incidents or self.records or self.removed or self.plans)

    def write_arguments(self) -> dict[str, Any]:
        """Keyword arguments for `Store.apply`; encodes the entity records, so call it where
        they are written (the store's worker thread)."""
        return {
            "incidents": list(self.incidents.values()),
            "entity_records": {eid: source[eid] for eid, source in self.records.items()},
            "removed_entities": list(self.removed),
            "notifications": [e for p in self.plans for e in p.entries],
            "notification_states": [s for p in self.plans for s in p.states],
        }
