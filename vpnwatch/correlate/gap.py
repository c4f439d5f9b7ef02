"""Outages that began while vpnwatch was not looking (not running, or unable to read).

An incident's start is the first observation that saw the condition. When the observation
before it is older than the entity's staleness limit, that first observation says only that
the condition began somewhere in between: typically an outage that started while the agent was
stopped, first seen by the first poll after the restart. Such an incident keeps the time it was
first seen as its start (so it is never earlier than the truth is known to be), and says so:
`start` = `unknown`, `last_seen_healthy` = the observation before the gap, and its title and
timeline name the gap. When Azure reports a tunnel established after that observation
(`lastConnectionEstablishedUtcTime`), the drop came after that reconnection: `started_after`
narrows the start to it. The mirror case, a tunnel seen down before the gap and connected after
it, ended when Azure says it reconnected, not when it was first seen again (`back_in_gap`).

An outage that began *and ended* in a gap leaves one trace: a tunnel seen connected before the
gap, connected after it, whose last connection was established after the last observation
(`reconnections.py`). It becomes a `tunnel_down` incident opened and resolved at once
(`unobserved`, severity `info`): its end is the reconnection, its start unknown but after the
last observation. It is recorded for the history (API, status page), never notified: it is over
before anyone could act on it (`docs/notify.md`). A restart does not record it twice: the
stored observation then carries the new reconnection time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from vpnwatch.correlate.entities import SERVING, Health, tunnel_id
from vpnwatch.correlate.findings import Finding
from vpnwatch.correlate.reconnections import Reconnection
from vpnwatch.correlate.state import FleetState
from vpnwatch.correlate.timeline import add_evidence
from vpnwatch.incidents import (
    Evidence,
    Incident,
    IncidentStatus,
    IncidentType,
    Severity,
    incident_key,
)
from vpnwatch.observations import ConnectionStatus
from vpnwatch.resourceids import name_of

START = "start"  # attribute: "unknown" when the start fell in a gap
LAST_SEEN_HEALTHY = "last_seen_healthy"
STARTED_AFTER = "started_after"  # the latest time it is known to have been healthy
RECONNECTED_AT = "reconnected_at"  # a reconnection Azure reports inside the gap
GAP_TEXT = "gap"  # attribute: the words the title ends with
UNOBSERVED = "unobserved"  # classification of an outage that began and ended in a gap

NOT_RUNNING = "while vpnwatch was not running"
UNREADABLE = "while vpnwatch could not read it"


@dataclass(frozen=True, slots=True)
class Gap:
    """What is known of a start nobody saw: healthy at `last_seen_healthy` (an observation), and
    perhaps connected again later, at `reconnected_at` (Azure's word)."""

    last_seen_healthy: datetime
    why: str
    reconnected_at: datetime | None = None

    @property
    def started_after(self) -> datetime:
        return self.reconnected_at or self.last_seen_healthy


def _why(last_seen: datetime, seen_at: datetime, stale: float, started_at: datetime | None) -> str:
    if started_at is not None and last_seen < started_at:
        return NOT_RUNNING
    return UNREADABLE if (seen_at - last_seen).total_seconds() > stale else ""


def unseen_start(state: FleetState, finding: Finding, started_at: datetime | None) -> Gap | None:
    """When `finding` began in a gap, what is known of its start. None when an observation saw
    it begin. `started_at` is when this correlator started (its first step)."""
    last_healthy: datetime | None = None
    reconnected: datetime | None = None
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
            established = _established_between(state, resource, before, entity.since)
            if established is not None:
                reconnected = established if reconnected is None else max(reconnected, established)
    if last_healthy is None:
        return None
    why = NOT_RUNNING if started_at is not None and last_healthy < started_at else UNREADABLE
    if reconnected is not None and reconnected <= last_healthy:
        reconnected = None
    return Gap(last_healthy, why, reconnected)


def _established_between(
    state: FleetState, entity_id: str, after: datetime, until: datetime
) -> datetime | None:
    """The latest `lastConnectionEstablishedUtcTime` in (after, until] of a connection's tunnels
    (or of the one tunnel `entity_id` names)."""
    times = _established_times(state, entity_id, connected_only=False)
    return max((t for t in times if after < t <= until), default=None)


def _established_times(
    state: FleetState, entity_id: str, *, connected_only: bool
) -> list[datetime]:
    """The `lastConnectionEstablishedUtcTime`s Azure gave for a connection's tunnels (or the one
    tunnel `entity_id` names); `connected_only`: of those connected now."""
    cid, _, tunnel = entity_id.partition("/tunnels/")
    conn = state.connections.get(cid)
    if conn is None:
        return []
    return [
        t.last_connection_established
        for t in conn.tunnels
        if t.last_connection_established is not None
        and (not tunnel or t.name == tunnel)
        and (not connected_only or t.status is ConnectionStatus.CONNECTED)
    ]


def _entities_of(resources: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(resources))


def mark(attributes: dict[str, str], gap: Gap, first_seen: datetime) -> str:
    """Set the gap's attributes; returns the words for the title."""
    attributes[START] = "unknown"
    attributes[LAST_SEEN_HEALTHY] = gap.last_seen_healthy.isoformat()
    attributes[STARTED_AFTER] = gap.started_after.isoformat()
    if gap.reconnected_at is not None:
        attributes[RECONNECTED_AT] = gap.reconnected_at.isoformat()
    text = f"started between {gap.started_after:%H:%M:%S} and {first_seen:%H:%M:%S} UTC, {gap.why}"
    attributes[GAP_TEXT] = text
    return text


def evidence(gap: Gap, first_seen: datetime) -> list[Evidence]:
    said = [
        Evidence(
            first_seen,
            f"start unknown: last seen healthy at {gap.last_seen_healthy.isoformat()}, first "
            f"seen like this at {first_seen.isoformat()}, {gap.why}",
        )
    ]
    if gap.reconnected_at is not None:
        said.append(
            Evidence(
                gap.reconnected_at,
                f"reconnected at {gap.reconnected_at.isoformat()} (Azure's "
                "lastConnectionEstablishedUtcTime), after it was last seen: the drop came later",
            )
        )
    return said


def titled(title: str, attributes: dict[str, str]) -> str:
    """`title` with the gap's words, for an incident whose start is unknown."""
    text = attributes.get(GAP_TEXT)
    return title if not text or text in title else f"{title} ({text})"


def back_in_gap(state: FleetState, entity_id: str) -> datetime | None:
    """When a connection (or tunnel) seen down before a gap in the data and serving after it came
    back, by Azure's word: the earliest `lastConnectionEstablishedUtcTime` inside the gap of its
    tunnels connected now. None when there was no gap (polling saw it come back) or Azure does
    not say."""
    entity = state.entities.get(entity_id)
    if entity is None or entity.previous is not Health.DOWN or entity.previous_observed is None:
        return None
    before, since = entity.previous_observed, entity.since
    if (since - before).total_seconds() <= state.stale_after(entity_id):
        return None
    times = _established_times(state, entity_id, connected_only=True)
    return min((t for t in times if before < t <= since), default=None)


# --- outages that began and ended in a gap ---------------------------------------------------


def unseen_outages(
    state: FleetState,
    started_at: datetime | None,
    now: datetime,
    known: Mapping[str, Incident],
) -> list[Incident]:
    """The outages this step's observations show began and ended in a gap, one resolved
    incident per connection. `known`: open and lately resolved incidents by key (one open, or
    one already recording the same reconnection, is not recorded again)."""
    by_connection: dict[str, list[Reconnection]] = {}
    for r in state.reconnected:
        if r.status is not ConnectionStatus.CONNECTED:
            continue  # still down: its own incident says when it started
        if not _why(r.last_seen, r.seen_at, state.stale_after(r.connection_id), started_at):
            continue  # one regular poll apart: not a gap
        by_connection.setdefault(r.connection_id, []).append(r)
    found = []
    for cid, back in sorted(by_connection.items()):
        conn = state.connections.get(cid)
        if conn is None:
            continue
        key = incident_key(IncidentType.TUNNEL_DOWN, cid)
        reconnected = max(r.reconnected_at for r in back)
        held = known.get(key)
        if held is not None and (
            held.is_open or held.attributes.get(RECONNECTED_AT) == reconnected.isoformat()
        ):
            continue
        found.append(_unseen_outage(state, cid, back, reconnected, started_at, now))
    return found


def _unseen_outage(
    state: FleetState,
    cid: str,
    back: list[Reconnection],
    reconnected: datetime,
    started_at: datetime | None,
    now: datetime,
) -> Incident:
    conn = state.connections[cid]
    last_seen = max(r.last_seen for r in back)
    seen_at = max(r.seen_at for r in back)
    why = _why(last_seen, seen_at, state.stale_after(cid), started_at)
    tunnels = sorted(r.tunnel for r in back)
    if len(conn.tunnels) > 1:
        what = f"Tunnel{'s' if len(tunnels) > 1 else ''} {', '.join(tunnels)} of VPN connection"
    else:
        what = "VPN connection"
    title = (
        f"{what} {conn.name} was down {why}: reconnected at {reconnected:%H:%M:%S} UTC, "
        f"dropped after {last_seen:%H:%M:%S} UTC (start unknown)"
    )
    tids = [tunnel_id(cid, t) for t in tunnels]
    timeline = [
        Evidence(
            last_seen,
            f"last seen Connected at {last_seen.isoformat()}, before the gap",
            cid,
            conn.source,
        ),
        *(
            Evidence(
                r.reconnected_at,
                f"tunnel {r.tunnel} reconnected at {r.reconnected_at.isoformat()} "
                f"(lastConnectionEstablishedUtcTime, read at {r.seen_at.isoformat()}): it "
                f"dropped after {r.last_seen.isoformat()}, {why}; when is unknown",
                tunnel_id(cid, r.tunnel),
                conn.source,
            )
            for r in sorted(back, key=lambda r: (r.reconnected_at, r.tunnel))
        ),
        Evidence(reconnected, "over before vpnwatch saw it: recorded, not notified"),
    ]
    inc = Incident(
        key=incident_key(IncidentType.TUNNEL_DOWN, cid),
        type=IncidentType.TUNNEL_DOWN,
        severity=Severity.INFO,
        title=title,
        resources=tuple(r for r in (cid, *tids, conn.gateway_id, conn.peer_id) if r),
        opened_at=reconnected,  # the latest it can have begun: no start is invented
        status=IncidentStatus.RESOLVED,
        resolved_at=reconnected,
        classification=UNOBSERVED,
        outage_seconds=None,
        attributes={
            "connection": conn.name,
            "gateway": name_of(conn.gateway_id),
            "region": conn.region,
            START: "unknown",
            LAST_SEEN_HEALTHY: last_seen.isoformat(),
            STARTED_AFTER: last_seen.isoformat(),
            RECONNECTED_AT: reconnected.isoformat(),
            "outage_at_most_seconds": str(round((reconnected - last_seen).total_seconds(), 3)),
            GAP_TEXT: why,
        },
        updated_at=now,
    )
    add_evidence(inc, timeline)
    return inc
