"""Small builders of observations for correlator tests: a fleet described in a few lines, with
fixed times so every measured outage is exact."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from vpnwatch.config import CorrelatorSettings
from vpnwatch.correlate import Correlator
from vpnwatch.incidents import Incident, IncidentType, incident_key
from vpnwatch.observations import (
    BgpPeerObserved,
    BgpPeerState,
    BgpStatusObserved,
    CircuitObserved,
    CollectionRun,
    ConnectionObserved,
    ConnectionStatus,
    FailureCause,
    GatewayInstance,
    GatewayObserved,
    LinkObserved,
    LocalNetworkGatewayObserved,
    PeeringObserved,
    ResourceUnknown,
    TunnelObserved,
)

T0 = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)  # a Monday
SUB = "11111111-2222-3333-4444-555555555555"
SCOPE = f"/subscriptions/{SUB}"
UP = ConnectionStatus.CONNECTED
DOWN = ConnectionStatus.NOT_CONNECTED
CONNECTING = ConnectionStatus.CONNECTING


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def rid(kind: str, name: str, rg: str = "rg-net", sub: str = SUB) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/{kind}/{name}"


def vnet_id(name: str) -> str:
    return rid("virtualNetworks", name)


def settings(**sections: dict[str, Any]) -> CorrelatorSettings:
    """Correlator settings with some sections overridden, e.g. `settings(state={...})`."""
    return CorrelatorSettings.model_validate(sections)


def gateway(
    name: str,
    *,
    t: float = 0,
    active_active: bool = False,
    zone: str | None = None,
    region: str = "westeurope",
    vnet: str = "hub",
    gateway_type: str = "Vpn",
    n: int = 1,
) -> GatewayObserved:
    """A gateway; `n` numbers its public IPs (20.0.<n>.1 and .2), so each gateway differs."""
    zones = (zone,) if zone else ()
    instances = [
        GatewayInstance(
            "default",
            rid("publicIPAddresses", f"{name}-pip1"),
            f"20.0.{n}.1",
            zones,
            (f"10.{n}.255.4",),
        )
    ]
    if active_active:
        instances.append(
            GatewayInstance(
                "activeActive",
                rid("publicIPAddresses", f"{name}-pip2"),
                f"20.0.{n}.2",
                zones,
                (f"10.{n}.255.5",),
            )
        )
    return GatewayObserved(
        observed_at=at(t),
        source="arm.gateways",
        resource_id=rid("virtualNetworkGateways", name),
        name=name,
        subscription_id=SUB,
        resource_group="rg-net",
        region=region,
        vnet_id=vnet_id(vnet),
        gateway_type=gateway_type,
        sku="VpnGw2AZ" if zone else "VpnGw2",
        active_active=active_active,
        bgp_enabled=True,
        asn=65515,
        provisioning_state="Succeeded",
        instances=tuple(instances),
    )


def site(name: str, *, t: float = 0, bgp_address: str | None = None) -> LocalNetworkGatewayObserved:
    return LocalNetworkGatewayObserved(
        observed_at=at(t),
        source="arm.gateways",
        resource_id=rid("localNetworkGateways", name),
        name=name,
        subscription_id=SUB,
        resource_group="rg-net",
        region="westeurope",
        gateway_ip_address="198.51.100.10",
        address_prefixes=("10.100.0.0/16",),
        bgp_peering_address=bgp_address,
    )


def connection(
    name: str,
    gw: GatewayObserved,
    *,
    t: float = 0,
    status: ConnectionStatus = UP,
    peer: str | None = None,
    tunnels: Sequence[ConnectionStatus] | None = None,
    established: Sequence[datetime | None] | None = None,
    connection_type: str = "IPsec",
) -> ConnectionObserved:
    """A connection with one tunnel per instance of `gw`, named `<connection>_<instance IP>`.
    `tunnels` gives each tunnel's status (default: the connection's)."""
    statuses = list(tunnels) if tunnels is not None else [status] * len(gw.instances)
    times = list(established) if established is not None else [None] * len(gw.instances)
    tunnel_rows = tuple(
        TunnelObserved(
            name=f"{name}_{inst.public_ip_address}",
            status=st,
            last_connection_established=when,
            gateway_public_ip=inst.public_ip_address,
        )
        for inst, st, when in zip(gw.instances, statuses, times, strict=True)
    )
    if connection_type == "ExpressRoute":
        tunnel_rows = ()
    return ConnectionObserved(
        observed_at=at(t),
        source="arm.connections",
        resource_id=rid("connections", name),
        name=name,
        subscription_id=SUB,
        resource_group="rg-net",
        region=gw.region,
        connection_type=connection_type,
        gateway_id=gw.resource_id,
        peer_id=peer if peer is not None else rid("localNetworkGateways", f"site-{name}"),
        status=status,
        tunnels=tunnel_rows,
    )


def bgp(
    gw: GatewayObserved,
    peers: Iterable[tuple[str, str, BgpPeerState, int]],
    *,
    t: float = 0,
) -> BgpStatusObserved:
    """`peers`: (local address, neighbor, state, routes received)."""
    return BgpStatusObserved(
        observed_at=at(t),
        source="arm.bgp",
        gateway_id=gw.resource_id,
        peers=tuple(
            BgpPeerObserved(local, neighbor, 65010, state, routes)
            for local, neighbor, state, routes in peers
        ),
    )


def circuit(
    name: str,
    *,
    t: float = 0,
    primary: bool = True,
    secondary: bool = True,
    circuit_state: str = "Enabled",
    provider_state: str = "Provisioned",
    peering_state: str = "Enabled",
) -> CircuitObserved:
    def link(path: str, up: bool) -> LinkObserved:
        return LinkObserved(path, up, "Established" if up else "Idle", 12 if up else None)

    return CircuitObserved(
        observed_at=at(t),
        source="arm.expressroute",
        resource_id=rid("expressRouteCircuits", name),
        name=name,
        subscription_id=SUB,
        resource_group="rg-net",
        region="westeurope",
        circuit_provisioning_state=circuit_state,
        service_provider_provisioning_state=provider_state,
        service_provider="Equinix",
        peering_location="Amsterdam",
        peerings=(
            PeeringObserved(
                "AzurePrivatePeering",
                "AzurePrivatePeering",
                peering_state,
                (link("primary", primary), link("secondary", secondary)),
            ),
        ),
    )


def run(
    collector: str,
    *,
    t: float = 0,
    ok: bool = True,
    cause: FailureCause | None = None,
    resource_ids: Sequence[str] = (),
    scope: str = SCOPE,
) -> CollectionRun:
    return CollectionRun(
        observed_at=at(t),
        source=collector,
        collector=collector,
        scope=scope,
        ok=ok,
        cause=cause,
        reason="" if ok else f"{cause} while listing",
        resource_ids=tuple(resource_ids),
    )


def unknown(
    resource_id: str,
    *,
    t: float = 0,
    kind: str = "connection",
    cause: FailureCause = FailureCause.THROTTLED,
    source: str = "arm.connections",
) -> ResourceUnknown:
    return ResourceUnknown(
        observed_at=at(t),
        source=source,
        resource_id=resource_id,
        kind=kind,
        cause=cause,
        reason=f"{cause} reading {resource_id}",
    )


def key(type_: IncidentType, subject: str) -> str:
    return incident_key(type_, subject)


def open_by_key(corr: Correlator) -> dict[str, Incident]:
    return {i.key: i for i in corr.open_incidents()}


def keys(incidents: Iterable[Incident]) -> set[str]:
    return {i.key for i in incidents}
