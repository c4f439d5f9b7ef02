"""Outages that began while vpnwatch was not looking (not running, or unable to read).

An incident's start is the first observation that saw the condition. When the observation
before it is older than the entity's staleness limit, that first observation says only that
the condition began somewhere in between: typically an outage that started while the agent was
stopped, first seen by the first poll after the restart. Such an incident keeps the time it was
first seen as its start (so it is never earlier than the truth is known to be), and says so:
`start` = `unknown`, `last_seen_healthy` = the observation before the gap, and its title and
timeline name the gap.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from vpnwatch.correlate.entities import SERVING
from vpnwatch.correlate.findings import Finding
from vpnwatch.correlate.state import FleetState
from vpnwatch.incidents import Evidence

START = "start"  # attribute: "unknown" when the start fell in a gap
LAST_SEEN_HEALTHY = "last_seen_healthy"
GAP_TEXT = "gap"  # attribute: the words the title ends with


def unseen_start(
    state: FleetState, finding: Finding, started_at: datetime | None
) -> tuple[datetime, str] | None:
    """When `finding` began in a gap: (last seen healthy, "while vpnwatch was ..."). None when an
    observation saw it begin. `started_at` is when this correlator started (its first step)."""
    last_healthy: datetime | None = None
    for resource in _entities_of(finding.resources):
        entity = state.entities.get(resource)
        if entity is None or entity.since != finding.started_at:
            continue
        before = entity.previous_observed
        if before is None or entity.previous not in SERVING:
            continue
        gap = (entity.since - before).total_seconds()
        if gap > state.stale_after(resource):
            last_healthy = before if last_healthy is None else max(last_healthy, before)
    if last_healthy is None:
        return None
    if started_at is not None and last_healthy < started_at:
        return last_healthy, "while vpnwatch was not running"
    return last_healthy, "while vpnwatch could not read it"


def _entities_of(resources: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(resources))


def mark(attributes: dict[str, str], last_healthy: datetime, why: str, first_seen: datetime) -> str:
    """Set the gap's attributes; returns the words for the title."""
    attributes[START] = "unknown"
    attributes[LAST_SEEN_HEALTHY] = last_healthy.isoformat()
    text = f"started between {last_healthy:%H:%M:%S} and {first_seen:%H:%M:%S} UTC, {why}"
    attributes[GAP_TEXT] = text
    return text


def evidence(last_healthy: datetime, why: str, first_seen: datetime) -> Evidence:
    return Evidence(
        first_seen,
        f"start unknown: last seen healthy at {last_healthy.isoformat()}, first seen like this "
        f"at {first_seen.isoformat()}, {why}",
    )


def titled(title: str, attributes: dict[str, str]) -> str:
    """`title` with the gap's words, for an incident whose start is unknown."""
    text = attributes.get(GAP_TEXT)
    return title if not text or text in title else f"{title} ({text})"
