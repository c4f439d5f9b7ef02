"""The typed records every collector emits: the one boundary after the Azure SDKs.

Nothing downstream of this module (correlator, store, service, notifiers) imports an SDK. A
collector turns each SDK response into these frozen records, stamped with the time it observed
them. A call that failed becomes a `ResourceUnknown` or a failed `CollectionRun`: "unknown,
because ...", never a stale "up".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class ConnectionStatus(StrEnum):
    """`connectionStatus` / `tunnelConnectionStatus[].connectionStatus` as Azure spells it."""

    CONNECTED = "Connected"
    CONNECTING = "Connecting"
    NOT_CONNECTED = "NotConnected"
    UNKNOWN = "Unknown"


class BgpPeerState(StrEnum):
    """`BgpPeerStatus.state` as Azure spells it."""

    CONNECTED = "Connected"
    CONNECTING = "Connecting"
    IDLE = "Idle"
    STOPPED = "Stopped"
    UNKNOWN = "Unknown"


class FailureCause(StrEnum):
    """Why a collector could not see something. `auth`, `throttled` and `unreachable` make the
    agent itself blind; `not_found` means the resource is gone."""

    AUTH = "auth"
    THROTTLED = "throttled"
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    NOT_FOUND = "not_found"
    SERVER_ERROR = "server_error"
    INVALID_RESPONSE = "invalid_response"


# A resource's Azure tags as (name, value) pairs, sorted by name: hashable like the rest of an
# observation, and what `tag:<name>` route and silence matchers compare against.
Tags = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    observed_at: datetime  # timezone-aware UTC, from the agent's clock
    source: str  # the collector (or webhook) that produced it, e.g. "arm.connections"


# --- VPN and ExpressRoute gateways -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GatewayInstance:
    """One instance of a virtual network gateway, known by its IP configuration.

    An active/standby gateway has one IP configuration (its public IP moves on failover); an
    active/active gateway has two, each with its own public IP. Zones come from the public IP:
    `()` = not zonal, `("1",)` = pinned to zone 1, `("1","2","3")` = zone-redundant.
    """

    name: str  # ipConfiguration name, e.g. "default", "activeActive"
    public_ip_id: str | None = None
    public_ip_address: str | None = None
    zones: tuple[str, ...] = ()
    bgp_addresses: tuple[str, ...] = ()  # defaultBgpIpAddresses of this IP configuration


@dataclass(frozen=True, slots=True)
class P2SConfiguration:
    """A VPN gateway's point-to-site settings (`properties.vpnClientConfiguration`)."""

    address_pools: tuple[str, ...] = ()  # vpnClientAddressPool.addressPrefixes
    tunnel_types: tuple[str, ...] = ()  # vpnClientProtocols: IkeV2, SSTP, OpenVPN
    auth_types: tuple[str, ...] = ()  # vpnAuthenticationTypes: Certificate, Radius, AAD
    radius_servers: int = 0  # RADIUS servers configured (their addresses are not kept)


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayObserved(Observation):
    resource_id: str
    name: str
    subscription_id: str
    resource_group: str
    region: str
    vnet_id: str | None  # the VNet whose GatewaySubnet holds the gateway
    gateway_type: str  # "Vpn" | "ExpressRoute" | "LocalGateway"
    sku: str  # e.g. "VpnGw2AZ"
    active_active: bool
    bgp_enabled: bool
    asn: int | None
    provisioning_state: str
    instances: tuple[GatewayInstance, ...] = ()
    p2s: P2SConfiguration | None = None  # None: point-to-site is not configured
    tags: Tags = ()

    @property
    def zones(self) -> tuple[str, ...]:
        return tuple(sorted({z for i in self.instances for z in i.zones}))

    @property
    def zonal_zone(self) -> str | None:
        """The one zone a zonal gateway is pinned to; None when non-zonal or zone-redundant."""
        zones = self.zones
        return zones[0] if len(zones) == 1 else None


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalNetworkGatewayObserved(Observation):
    """An on-premises site as Azure knows it."""

    resource_id: str
    name: str
    subscription_id: str
    resource_group: str
    region: str
    gateway_ip_address: str | None
    address_prefixes: tuple[str, ...] = ()
    bgp_peering_address: str | None = None
    asn: int | None = None
    tags: Tags = ()


# --- connections and their tunnels -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TunnelObserved:
    """One entry of `tunnelConnectionStatus`: one tunnel per gateway instance.

    Azure names it `<connectionName>_<public IP of the gateway instance>`; `gateway_public_ip` is
    that suffix, which the correlator maps to an instance of the gateway.
    """

    name: str
    status: ConnectionStatus
    ingress_bytes: int = 0
    egress_bytes: int = 0
    last_connection_established: datetime | None = None
    gateway_public_ip: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionObserved(Observation):
    resource_id: str
    name: str
    subscription_id: str
    resource_group: str
    region: str
    connection_type: str  # "IPsec" | "Vnet2Vnet" | "ExpressRoute"
    gateway_id: str  # virtualNetworkGateway1
    peer_id: str | None  # localNetworkGateway2, virtualNetworkGateway2 or the ExpressRoute circuit
    status: ConnectionStatus
    ingress_bytes: int = 0
    egress_bytes: int = 0
    bgp_enabled: bool = False
    tunnels: tuple[TunnelObserved, ...] = ()
    tags: Tags = ()


# --- BGP -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BgpPeerObserved:
    """One row of `getBgpPeerStatus`: one (gateway instance, neighbor) pair."""

    local_address: str  # the gateway instance's BGP address
    neighbor: str
    asn: int | None
    state: BgpPeerState
    routes_received: int = 0
    connected_seconds: float | None = None  # `connectedDuration` parsed from the .NET TimeSpan


@dataclass(frozen=True, slots=True, kw_only=True)
class BgpStatusObserved(Observation):
    """Every BGP peer of one gateway at one moment (a missing row means the peer is gone)."""

    gateway_id: str
    peers: tuple[BgpPeerObserved, ...] = ()


# --- ExpressRoute ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkObserved:
    """The BGP session on one of a peering's two links (`devicePath` primary/secondary), read from
    `routeTablesSummary`: `statePfxRcd` holds a prefix count when the session is up, a BGP state
    name otherwise."""

    device_path: str  # "primary" | "secondary"
    up: bool
    state: str  # "Established" when up, else the BGP state Azure reported (e.g. "Idle")
    prefixes_received: int | None = None
    neighbor: str | None = None


@dataclass(frozen=True, slots=True)
class PeeringObserved:
    name: str  # "AzurePrivatePeering" | "MicrosoftPeering"
    peering_type: str
    state: str  # "Enabled" | "Disabled"
    links: tuple[LinkObserved, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CircuitObserved(Observation):
    resource_id: str
    name: str
    subscription_id: str
    resource_group: str
    region: str
    circuit_provisioning_state: str  # "Enabled" | "Disabled"
    service_provider_provisioning_state: str  # "Provisioned" | "NotProvisioned" | ...
    bandwidth_mbps: int | None = None
    service_provider: str | None = None
    peering_location: str | None = None
    peerings: tuple[PeeringObserved, ...] = ()
    primary_bytes_in: int = 0
    primary_bytes_out: int = 0
    secondary_bytes_in: int = 0
    secondary_bytes_out: int = 0
    tags: Tags = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ResiliencyObserved(Observation):
    """ExpressRoute resiliency of a circuit (link failover tests) or an ExpressRoute gateway
    (site failover tests, Resiliency Insights), read rarely: each read is a long-running POST.

    `supported` False: Azure answered that the feature is not available for the resource
    (`reason` says what it said); then nothing else is known, and nothing is wrong either.
    """

    resource_id: str
    kind: str  # "circuit" | "gateway"
    supported: bool = True
    reason: str = ""
    last_validation: datetime | None = None  # end of the newest completed failover test
    last_validation_succeeded: bool | None = None
    tests: int = 0  # completed failover tests Azure reported
    score: float | None = None  # Resiliency Insights overall score (gateways; None: not computed)
    max_score: float | None = None
    computed_at: datetime | None = None  # when Azure last computed the score
    recommendations: tuple[str, ...] = ()  # titles of its open recommendations


@dataclass(frozen=True, slots=True)
class P2SSession:
    """One connected point-to-site user, as `getVpnclientConnectionHealth` lists it."""

    connection_id: str  # vpnConnectionId, e.g. "IKEv2_1e1cfe59-..."
    protocol: str  # its prefix: IKEv2, OpenVPN, SSTP
    user: str
    public_address: str  # "ip:port" of the client
    private_address: str  # from the gateway's address pool
    connected_at: datetime | None
    duration_seconds: int
    ingress_bytes: int
    egress_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class P2SSessionsObserved(Observation):
    """A gateway's point-to-site sessions, read on demand (`trigger`: "api" or "collapse")."""

    gateway_id: str
    trigger: str
    sessions: tuple[P2SSession, ...] = ()


# --- Azure Monitor -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricObserved(Observation):
    """The newest grain with data of one Azure Monitor metric series.

    `dimensions` are the split-by values as Azure returns them (names lower-cased), e.g.
    `(("connectionname", "cn-a"), ("instance", "GatewayTenantWorker_IN_0"), ("remoteip", ...))`.
    A grain Azure has not aggregated yet is never reported, so no-data never reads as zero;
    `previous` is the grain before it when that one had data (to tell a climb from a level).
    """

    resource_id: str
    metric: str  # the REST name, e.g. "TunnelAverageBandwidth"
    unit: str
    aggregation: str  # "average" | "total" | ...
    grain_seconds: float
    at: datetime  # start of the grain
    value: float
    previous: float | None = None
    dimensions: tuple[tuple[str, str], ...] = ()

    def dimension(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.dimensions if k == lowered), None)


class LogEvent(StrEnum):
    """What a VPN gateway diagnostic log row says happened."""

    INSTANCE_SWITCH = "instance_switch"  # GatewayTenantPrimaryChanged
    HOST_MAINTENANCE = "host_maintenance"  # HostMaintenanceEvent
    TUNNEL_CONNECTED = "tunnel_connected"
    TUNNEL_DISCONNECTED = "tunnel_disconnected"
    BGP_CONNECTED = "bgp_connected"
    BGP_DISCONNECTED = "bgp_disconnected"
    ROUTE_UPDATE = "route_update"
    CONFIGURATION = "configuration"
    IKE = "ike"
    P2S = "p2s"
    OTHER = "other"


@dataclass(frozen=True, slots=True, kw_only=True)
class DiagnosticLogObserved(Observation):
    """One `AzureDiagnostics` row of a VPN gateway, read from Log Analytics minutes after it
    happened: evidence that confirms and classifies, never the first sign of an outage."""

    resource_id: str  # as the log writes it (upper-case)
    at: datetime  # TimeGenerated
    category: str  # "GatewayDiagnosticLog" | "TunnelDiagnosticLog" | ...
    operation: str  # OperationName, e.g. "GatewayTenantPrimaryChanged"
    event: LogEvent
    message: str = ""
    instance: str | None = None  # instance_s, e.g. "GatewayTenantWorker_IN_1"
    remote_ip: str | None = None  # remoteIP_s
    status: str | None = None  # status_s
    reason: str | None = None  # stateChangeReason_s


# --- inbound alerts --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MaintenanceSchedule:
    """One customer-controlled maintenance configuration's window, as assigned to gateways.

    `start` is the first occurrence (aware, from `startDateTime` in the configuration's
    `timeZone`); `recur_every` is Azure's text ("Day", "2Weeks Saturday,Sunday",
    "Month Third Sunday", "Month day23,day24"), "" for a one-time window.
    """

    configuration_id: str
    name: str
    start: datetime
    duration: timedelta
    time_zone: str  # the IANA zone occurrences are laid out in
    recur_every: str = ""
    expires: datetime | None = None
    resources: tuple[str, ...] = ()  # the gateways the configuration is assigned to


@dataclass(frozen=True, slots=True, kw_only=True)
class MaintenanceSchedulesObserved(Observation):
    """Every gateway maintenance schedule of one subscription (replaces the previous set)."""

    subscription_id: str
    schedules: tuple[MaintenanceSchedule, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class AzureAlertObserved(Observation):
    """An Azure Monitor alert (common alert schema) received on the webhook."""

    alert_id: str
    rule: str
    severity: str  # "Sev0".."Sev4"
    signal_type: str  # "Metric" | "Log" | "Activity Log"
    monitoring_service: str  # "Platform" | "Resource Health" | "Activity Log - Administrative"
    monitor_condition: str  # "Fired" | "Resolved"
    target_ids: tuple[str, ...] = ()
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    description: str = ""


# --- what the agent could not see ------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceUnknown(Observation):
    """A resource whose state could not be read this time: unknown, because `reason`."""

    resource_id: str
    kind: str  # "gateway" | "connection" | "bgp" | "circuit" | ...
    cause: FailureCause
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CollectionRun(Observation):
    """One pass of one collector over one scope (a subscription), successful or not.

    `resource_ids` lists what the pass saw, so the fleet state can tell a deleted resource
    from a stale one. Freshness and the agent's own blindness are computed from these.
    `promise_seconds` is how often the pass's plan reads every resource it listed (the budget
    may not allow every pass to read all of them): the fleet state judges staleness by it.
    """

    collector: str
    scope: str
    ok: bool
    cause: FailureCause | None = None
    reason: str = ""
    resource_ids: tuple[str, ...] = ()
    requests: int = 0
    throttled: int = 0
    duration_seconds: float = 0.0
    remaining_reads: int | None = None  # x-ms-ratelimit-remaining-subscription-reads, last seen
    extra: dict[str, str] = field(default_factory=dict)
    promise_seconds: float | None = None
    # when the pass began (`observed_at` is when it ended): a pass that began before another
    # one that saw the scope again says nothing about the scope now
    started_at: datetime | None = None


AnyObservation = (
    GatewayObserved
    | LocalNetworkGatewayObserved
    | ConnectionObserved
    | BgpStatusObserved
    | CircuitObserved
    | ResiliencyObserved
    | P2SSessionsObserved
    | AzureAlertObserved
    | MetricObserved
    | DiagnosticLogObserved
    | ResourceUnknown
    | CollectionRun
)
