"""Incidents: what the correlator decides, the store keeps, the API shows and notifiers send.

An incident has a stable `key` (type + the resource it is about), so a repeat of the same
condition updates the open incident instead of opening a second one. Its `id` is unique for ever:
when a resolved condition comes back, a new incident with the same key and a new id opens.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


class IncidentType(StrEnum):
    TUNNEL_DOWN = "tunnel_down"
    FAILOVER = "failover"
    REDUNDANCY_LOST = "redundancy_lost"
    GATEWAY_DOWN = "gateway_down"
    BGP_PEER_DOWN = "bgp_peer_down"
    ROUTE_WITHDRAWAL = "route_withdrawal"
    EXPRESSROUTE_DOWN = "expressroute_down"
    EXPRESSROUTE_REDUNDANCY_LOST = "expressroute_redundancy_lost"
    EXPRESSROUTE_FAILOVER_TO_VPN = "expressroute_failover_to_vpn"
    HYBRID_CONNECTIVITY_LOST = "hybrid_connectivity_lost"
    ZONE_OUTAGE = "zone_outage"
    SITE_DOWN = "site_down"
    VNET2VNET_DOWN = "vnet2vnet_down"
    MONITORING_BLIND = "monitoring_blind"
    P2S_SESSIONS_LOST = "p2s_sessions_lost"
    RESILIENCY_VALIDATION_OVERDUE = "resiliency_validation_overdue"
    NOTIFICATION_FAILING = "notification_failing"  # opened by notify/, not by a detector


class IncidentStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


def incident_key(type_: IncidentType | str, subject: str) -> str:
    """The stable key of an incident: its type and the one resource (or scope) it is about."""
    value = type_.value if isinstance(type_, IncidentType) else IncidentType(type_).value
    return f"{value}:{subject}"


@dataclass(slots=True)
class Evidence:
    """One entry of an incident's timeline: what was seen, when, about which resource.

    The same message about the same resource seen again is counted here (`repeats`, `last_at`)
    rather than added as a new entry, so a flood of alerts cannot grow a timeline without bound.
    """

    at: datetime
    message: str
    resource: str | None = None
    source: str | None = None
    repeats: int = 0  # times seen again after `at`
    last_at: datetime | None = None  # when it was last seen again
    # what the store holds of this entry: -1 not written yet, else the `repeats` it has
    stored_repeats: int = field(default=-1, compare=False, repr=False)


@dataclass(slots=True)
class Incident:
    key: str
    type: IncidentType
    severity: Severity
    title: str
    resources: tuple[str, ...]
    opened_at: datetime  # when the condition started (may precede the moment it was decided)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    status: IncidentStatus = IncidentStatus.OPEN
    resolved_at: datetime | None = None
    classification: str | None = None
    outage_seconds: float | None = None
    parent_key: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)  # e.g. region, zone, gateway
    timeline: list[Evidence] = field(default_factory=list)
    updated_at: datetime | None = None
    # flap damping: the condition cleared at `clearing_since` and the incident resolves once it
    # has stayed clear for the hold time; `flaps` counts how often it came back meanwhile.
    clearing_since: datetime | None = None
    flaps: int = 0
    # bumped on every change to `timeline` (an entry added or counted again): cheap change checks
    timeline_revision: int = field(default=0, compare=False, repr=False)

    @property
    def is_open(self) -> bool:
        return self.status is IncidentStatus.OPEN
