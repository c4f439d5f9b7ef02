"""Response models of the HTTP service: the OpenAPI document is generated from these.

They are the public shape of the API, kept apart from the observation and incident dataclasses so
an internal rename never changes what a dashboard or a script reads.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from vpnwatch.incidents import IncidentStatus, IncidentType, Severity


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EntityHealth(StrEnum):
    """What vpnwatch believes about one thing it watches; `unknown` when its data is stale or
    could not be read."""

    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    UNKNOWN = "unknown"


class OverallStatus(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    DOWN = "down"
    UNKNOWN = "unknown"


class ErrorResponse(_Out):
    """Every error the service answers with, whatever the status code."""

    error: str = Field(description="A short machine-readable code, e.g. `not_found`.")
    detail: str = Field(description="What went wrong and what to do about it.")


# --- health ------------------------------------------------------------------------------------


class LivezResponse(_Out):
    status: str = "alive"


class ReadyCheck(_Out):
    name: str
    ok: bool
    detail: str


class ReadyzResponse(_Out):
    ready: bool
    checks: list[ReadyCheck]


class HealthCounts(_Out):
    up: int = 0
    degraded: int = 0
    down: int = 0
    unknown: int = 0


class SeverityCounts(_Out):
    critical: int = 0
    warning: int = 0
    info: int = 0


class CollectorFreshness(_Out):
    name: str
    interval_seconds: float
    last_run_at: datetime | None
    last_success_at: datetime | None
    age_seconds: float | None = Field(description="Seconds since the last successful pass.")
    stale: bool = Field(description="No successful pass within the staleness limit.")
    last_error: str | None
    runs: int
    failures: int


class SubscriptionBudgetOut(_Out):
    """One subscription's ARM request budget as vpnwatch spends it, and what it affords."""

    subscription_id: str
    model: str = Field(description="Azure's throttling model: `bucket` or `hourly`.")
    share: float = Field(description="The share of Azure's limits vpnwatch allows itself.")
    reads_per_second: float = Field(description="Reads vpnwatch may spend per second.")
    writes_per_second: float = Field(description="Writes (POST actions) it may spend per second.")
    reads_remaining: int | None = Field(description="Azure's last remaining-reads header.")
    writes_remaining: int | None
    reads_per_hour: float = Field(description="Reads vpnwatch spent over the last hour.")
    writes_per_hour: float
    throttled: int = Field(description="429 answers met since start.")
    connections: int
    configured_interval_seconds: float
    effective_interval_seconds: float | None = Field(
        description="How often the budget lets vpnwatch read every connection: staleness "
        "follows this, not the configured interval."
    )
    achieved_interval_seconds: float | None = Field(
        description="The longest gap between two reads of a connection, recently."
    )
    oldest_connection_age_seconds: float | None
    bgp_interval_seconds: float | None
    limited: bool = Field(description="The budget does not afford the configured interval.")


class HealthResponse(_Out):
    status: OverallStatus
    ready: bool
    blind: bool = Field(description="vpnwatch cannot see Azure: its own view is unreliable.")
    checked_at: datetime
    entities: HealthCounts = Field(description="Every watched entity, by health.")
    entities_by_kind: dict[str, HealthCounts]
    open_incidents: SeverityCounts
    collectors: list[CollectorFreshness]
    subscriptions: list[SubscriptionBudgetOut] = Field(
        default_factory=list,
        description="Per subscription: the request budget and the connection interval it affords.",
    )


# --- fleet -------------------------------------------------------------------------------------


class LastKnown(_Out):
    """What an entity that now reads `unknown` was when last known: "last seen up at ..."."""

    health: EntityHealth
    since: datetime | None
    seen_at: datetime | None = Field(description="When that health was last confirmed.")
    reason: str = Field(description="Why it is unknown now.")


class GatewayInstanceOut(_Out):
    name: str
    public_ip_address: str | None
    zones: list[str]
    bgp_addresses: list[str]
    health: EntityHealth


class P2SOut(_Out):
    """A gateway's point-to-site configuration, as its GET returns it."""

    address_pools: list[str]
    tunnel_types: list[str] = Field(description="IkeV2, SSTP, OpenVPN")
    auth_types: list[str] = Field(description="Certificate, Radius, AAD")
    radius_servers: int
    connected: float | None = Field(
        None, description="Connected users in the newest P2SConnectionCount grain (None: no data)."
    )
    connected_at: datetime | None = Field(None, description="Start of that grain.")
    sessions_read_at: datetime | None = Field(
        None, description="The last on-demand reading of the sessions (POST .../p2s-sessions)."
    )
    sessions_count: int | None = None


class P2SSessionOut(_Out):
    connection_id: str
    protocol: str
    user: str
    public_address: str = Field(description="The client's address and port.")
    private_address: str = Field(description="Its address from the gateway's pool.")
    connected_at: datetime | None
    duration_seconds: int
    ingress_bytes: int
    egress_bytes: int


class P2SSessionsOut(_Out):
    """A reading of `getVpnclientConnectionHealth` (a long-running POST, charged as a write)."""

    gateway_id: str
    read_at: datetime
    trigger: str = Field(description="api: asked for; collapse: the P2S users collapsed.")
    fresh: bool = Field(
        description="True: read for this request; false: the last reading, younger than "
        "collectors.vpn_client_health.min_interval_seconds."
    )
    count: int
    sessions: list[P2SSessionOut]


class ResiliencyOut(_Out):
    """ExpressRoute resiliency as Azure last reported it (`collectors.resiliency`)."""

    supported: bool = Field(description="False: Azure says the feature is not available here.")
    reason: str = ""
    last_validation: datetime | None = Field(
        None, description="End of the newest completed failover test; null: none ever ran."
    )
    last_validation_succeeded: bool | None = None
    validation_age_days: float | None = None
    validation_overdue: bool = Field(
        description="Older than correlator.resiliency.validation_max_age_days, or never run."
    )
    tests: int = 0
    score: float | None = Field(None, description="Resiliency Insights overall score (gateways).")
    max_score: float | None = None
    recommendations: list[str] = Field(default_factory=list)
    read_at: datetime


class GatewayOut(_Out):
    id: str
    name: str
    subscription_id: str
    resource_group: str
    region: str
    gateway_type: str
    sku: str
    active_active: bool
    bgp_enabled: bool
    asn: int | None
    provisioning_state: str
    zones: list[str] = Field(description="Zones of the gateway's public IPs; empty when non-zonal.")
    zone_redundant: bool
    instances: list[GatewayInstanceOut]
    p2s: P2SOut | None = Field(None, description="Point-to-site; None when not configured.")
    resiliency: ResiliencyOut | None = Field(None, description="ExpressRoute gateways, once read.")
    health: EntityHealth
    health_since: datetime | None
    last_known: LastKnown | None = None
    health_reason: str | None = Field(
        None, description="Why the gateway has this health, in words (when it is not up)."
    )
    observed_at: datetime


class TunnelOut(_Out):
    name: str
    status: str
    instance: str | None = Field(description="The gateway instance (IP configuration) it uses.")
    gateway_public_ip: str | None
    ingress_bytes: int
    egress_bytes: int
    last_connection_established: datetime | None
    health: EntityHealth


class ConnectionOut(_Out):
    id: str
    name: str
    subscription_id: str
    resource_group: str
    region: str
    connection_type: str
    gateway_id: str
    gateway_name: str
    peer_id: str | None
    status: str
    bgp_enabled: bool
    ingress_bytes: int
    egress_bytes: int
    tunnels: list[TunnelOut]
    health: EntityHealth
    health_since: datetime | None
    last_known: LastKnown | None = None
    observed_at: datetime


class BgpPeerOut(_Out):
    gateway_id: str
    gateway_name: str
    local_address: str
    neighbor: str
    asn: int | None
    state: str
    routes_received: int
    connected_seconds: float | None
    health: EntityHealth
    observed_at: datetime


class SiteOut(_Out):
    id: str
    name: str
    subscription_id: str
    resource_group: str
    region: str
    gateway_ip_address: str | None
    address_prefixes: list[str]
    bgp_peering_address: str | None
    asn: int | None
    health: EntityHealth
    observed_at: datetime


class LinkOut(_Out):
    device_path: str
    up: bool
    state: str
    prefixes_received: int | None
    neighbor: str | None
    health: EntityHealth


class PeeringOut(_Out):
    name: str
    peering_type: str
    state: str
    links: list[LinkOut]


class CircuitOut(_Out):
    id: str
    name: str
    subscription_id: str
    resource_group: str
    region: str
    circuit_provisioning_state: str
    service_provider_provisioning_state: str
    bandwidth_mbps: int | None
    service_provider: str | None
    peering_location: str | None
    peerings: list[PeeringOut]
    resiliency: ResiliencyOut | None = Field(None, description="Once read (every 6 h).")
    health: EntityHealth
    health_since: datetime | None
    observed_at: datetime


class _Page(_Out):
    total: int = Field(description="How many match the filters, over all pages.")
    limit: int
    offset: int
    next: str | None = Field(description="The URL of the next page; null on the last one.")


class GatewayPage(_Page):
    items: list[GatewayOut]


class ConnectionPage(_Page):
    items: list[ConnectionOut]


class BgpPeerPage(_Page):
    items: list[BgpPeerOut]


class SitePage(_Page):
    items: list[SiteOut]


class CircuitPage(_Page):
    items: list[CircuitOut]


# --- incidents ---------------------------------------------------------------------------------


class EvidenceOut(_Out):
    at: datetime
    message: str
    resource: str | None
    source: str | None


class IncidentOut(_Out):
    id: str
    key: str
    type: IncidentType
    severity: Severity
    status: IncidentStatus
    title: str
    resources: list[str]
    opened_at: datetime
    resolved_at: datetime | None
    updated_at: datetime | None
    classification: str | None
    outage_seconds: float | None
    parent_key: str | None
    flaps: int
    attributes: dict[str, str]


class IncidentDetail(IncidentOut):
    timeline: list[EvidenceOut]
    children: list[IncidentOut]


class IncidentPage(_Page):
    items: list[IncidentOut]


# --- webhooks ----------------------------------------------------------------------------------


class AlertAccepted(_Out):
    alert_id: str
    duplicate: bool = Field(description="True when this alertId was received before.")
    status: str = "accepted"
