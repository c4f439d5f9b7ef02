"""Which silences hold an incident's notifications back now: the API, the status page and the
incident page all show it, so a muted incident never looks like one on-call was told about."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from vpnwatch.incidents import Incident
from vpnwatch.notify.message import labels_of
from vpnwatch.notify.pipeline import Notifications
from vpnwatch.notify.silences import Silence


def silences_holding(
    notifications: Notifications | None, incident: Incident, now: datetime
) -> list[Silence]:
    """The active silences whose matchers match `incident`'s labels; none for a resolved one."""
    if notifications is None or not incident.is_open:
        return []
    labels = labels_of(incident)
    return [s for s in notifications.silences.all() if s.active(now) and s.matches(labels)]


def silenced(
    notifications: Notifications | None, incidents: Iterable[Incident], now: datetime
) -> dict[str, list[Silence]]:
    """Incident id -> the silences holding it, for the incidents that are silenced."""
    held = {i.id: silences_holding(notifications, i, now) for i in incidents}
    return {incident_id: found for incident_id, found in held.items() if found}
