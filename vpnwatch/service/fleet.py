"""The fleet as the service shows it: the correlator's `FleetState` turned into response models.

The API, the status page and /metrics all read the same view, so a tunnel cannot be `up` on one
and `down` on another. Health always comes from `FleetState.health_of`, which applies staleness:
data older than the limit reads `unknown`, never a stale `up`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from vpnwatch.correlate import Correlator, FleetState, Health
from vpnwatch.correlate.azuremonitor import MonitorMemory
from vpnwatch.correlate.entities import bgp_peer_id, instance_id, link_id, tunnel_id
from vpnwatch.incidents import Evidence, Incident
from vpnwatch.observations import (
    BgpPeerObserved,
    BgpStatusObserved,
    CircuitObserved,
    ConnectionObserved,
    GatewayObserved,
    LocalNetworkGatewayObserved,
    P2SSessionsObserved,
)
from vpnwatch.resourceids import name_of
from vpnwatch.service.schemas import (
    BgpPeerOut,
    CircuitOut,
    ConnectionOut,
    EntityHealth,
    EvidenceOut,
    GatewayInstanceOut,
    GatewayOut,
    HealthCounts,
    IncidentDetail,
    IncidentOut,
    LastKnown,
    LinkOut,
    P2SOut,
    P2SSessionOut,
    P2SSessionsOut,
    PeeringOut,
    ResiliencyOut,
    SiteOut,
    TunnelOut,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BgpRow:
    """One BGP session of a gateway, with the id of its entity in the fleet state."""

    entity_id: str
    gateway_name: str
    status: BgpStatusObserved
    peer: BgpPeerObserved


def resource_name(resource_id: str | None) -> str:
    """What people call the resource an Azure resource id names."""
    return name_of(resource_id) if resource_id else ""


def max_validation_age(correlator: Correlator) -> timedelta:
    """How old an ExpressRoute resiliency validation may be (the correlator's setting)."""
    return timedelta(days=correlator.settings.resiliency.validation_max_age_days)


class FleetView:
    """Reads one `FleetState` at one moment `now`."""

    def __init__(
        self,
        state: FleetState,
        now: datetime,
        monitor: MonitorMemory | None = None,
        validation_max_age: timedelta = timedelta(days=90),
    ) -> None:
        self.state = state
        self.now = now
        self.monitor = monitor  # the newest Azure Monitor metrics (P2S counts), when known
        self.validation_max_age = validation_max_age  # ExpressRoute resiliency validation

    # --- health --------------------------------------------------------------------------------

    def health(self, entity_id: str) -> EntityHealth:
        return EntityHealth(self.state.health_of(entity_id, self.now).value)

    def last_known(self, entity_id: str) -> LastKnown | None:
        """For an entity that reads `unknown` now, the health it had when last known."""
        entity = self.state.entities.get(entity_id)
        if entity is None or entity.health is Health.UNKNOWN:
            return None
        if self.state.effective(entity, self.now) is not Health.UNKNOWN:
            return None
        reason = entity.unknown_reason or (
            f"no data for over {self.state.settings.staleness_seconds:g} s"
        )
        return LastKnown(
            health=EntityHealth(entity.health.value),
            since=entity.since,
            seen_at=entity.last_observed,
            reason=reason,
        )

    def since(self, entity_id: str) -> datetime | None:
        entity = self.state.entities.get(entity_id)
        return None if entity is None else entity.since

    def reason(self, entity_id: str) -> str | None:
        """Why an entity that is not up has its health: the evidence its state keeps."""
        health = self.state.health_of(entity_id, self.now).value
        if health == "up":
            return None
        entity = self.state.entities.get(entity_id)
        if entity is None:
            return "not observed yet"
        if health == "unknown":
            return entity.unknown_reason or "no fresh data"
        return entity.evidence or None

    def health_counts(self) -> tuple[HealthCounts, dict[str, HealthCounts]]:
        """Totals and counts per kind; the state keeps them up to date, so this costs the
        number of kinds, not of entities."""
        total: Counter[str] = Counter()
        by_kind: dict[str, Counter[str]] = {}
        for (kind, health), n in self.state.counts(self.now).items():
            by_kind.setdefault(kind, Counter())[health.value] += n
            total[health.value] += n
        return HealthCounts(**total), {k: HealthCounts(**c) for k, c in sorted(by_kind.items())}

    # --- resources -----------------------------------------------------------------------------

    def gateway(self, gateway_id: str) -> GatewayObserved | None:
        return self.state.gateway(gateway_id)

    def gateway_items(self) -> list[tuple[str, GatewayObserved]]:
        return _by_name(self.state.gateways)

    def gateways(self) -> list[GatewayOut]:
        return [self.gateway_out(k, g) for k, g in self.gateway_items()]

    def gateway_out(self, key: str, gw: GatewayObserved) -> GatewayOut:
        """`key` is the id the state files the gateway (and its entities) under."""
        instances = [
            GatewayInstanceOut(
                name=i.name,
                public_ip_address=i.public_ip_address,
                zones=list(i.zones),
                bgp_addresses=list(i.bgp_addresses),
                health=self.health(instance_id(key, i.name)),
            )
            for i in gw.instances
        ]
        return GatewayOut(
            id=gw.resource_id,
            name=gw.name,
            subscription_id=gw.subscription_id,
            resource_group=gw.resource_group,
            region=gw.region,
            gateway_type=gw.gateway_type,
            sku=gw.sku,
            active_active=gw.active_active,
            bgp_enabled=gw.bgp_enabled,
            asn=gw.asn,
            provisioning_state=gw.provisioning_state,
            zones=list(gw.zones),
            zone_redundant=len(gw.zones) > 1,
            instances=instances,
            p2s=self.p2s_out(key, gw),
            resiliency=self.resiliency_out(gw.resource_id),
            health=self.health(key),
            health_since=self.since(key),
            last_known=self.last_known(key),
            health_reason=self.reason(key),
            observed_at=gw.observed_at,
        )

    def resiliency_out(self, resource_id: str) -> ResiliencyOut | None:
        observed = self.state.resiliency.get(resource_id.lower())
        if observed is None:
            return None
        last = observed.last_validation
        overdue = observed.supported and (
            last is None or self.now - last > self.validation_max_age
        )
        return ResiliencyOut(
            supported=observed.supported,
            reason=observed.reason,
            last_validation=last,
            last_validation_succeeded=observed.last_validation_succeeded,
            validation_age_days=(
                round((self.now - last).total_seconds() / 86400, 1) if last is not None else None
            ),
            validation_overdue=overdue,
            tests=observed.tests,
            score=observed.score,
            max_score=observed.max_score,
            recommendations=list(observed.recommendations),
            read_at=observed.observed_at,
        )

    def p2s_out(self, key: str, gw: GatewayObserved) -> P2SOut | None:
        config = gw.p2s
        if config is None:
            return None
        count = self.monitor.p2s.get(key.lower()) if self.monitor is not None else None
        read = self.state.p2s_sessions.get(gw.resource_id.lower())
        return P2SOut(
            address_pools=list(config.address_pools),
            tunnel_types=list(config.tunnel_types),
            auth_types=list(config.auth_types),
            radius_servers=config.radius_servers,
            connected=count.total if count is not None else None,
            connected_at=count.at if count is not None else None,
            sessions_read_at=read.observed_at if read is not None else None,
            sessions_count=len(read.sessions) if read is not None else None,
        )

    def tunnel_instance(self, connection: ConnectionObserved, public_ip: str | None) -> str | None:
        """The gateway instance a tunnel runs on: the one whose public IP it names."""
        gw = self.gateway(connection.gateway_id)
        if gw is None or public_ip is None:
            return None
        for instance in gw.instances:
            if instance.public_ip_address == public_ip:
                return instance.name
        return None

    def connection_items(self) -> list[tuple[str, ConnectionObserved]]:
        return _by_name(self.state.connections)

    def connections(self) -> list[ConnectionOut]:
        return [self.connection_out(k, c) for k, c in self.connection_items()]

    def connection_out(self, key: str, conn: ConnectionObserved) -> ConnectionOut:
        tunnels = [
            TunnelOut(
                name=t.name,
                status=str(t.status),
                instance=self.tunnel_instance(conn, t.gateway_public_ip),
                gateway_public_ip=t.gateway_public_ip,
                ingress_bytes=t.ingress_bytes,
                egress_bytes=t.egress_bytes,
                last_connection_established=t.last_connection_established,
                health=self.health(tunnel_id(key, t.name)),
            )
            for t in conn.tunnels
        ]
        gw = self.gateway(conn.gateway_id)
        return ConnectionOut(
            id=conn.resource_id,
            name=conn.name,
            subscription_id=conn.subscription_id,
            resource_group=conn.resource_group,
            region=conn.region,
            connection_type=conn.connection_type,
            gateway_id=conn.gateway_id,
            gateway_name=gw.name if gw is not None else resource_name(conn.gateway_id),
            peer_id=conn.peer_id,
            status=str(conn.status),
            bgp_enabled=conn.bgp_enabled,
            ingress_bytes=conn.ingress_bytes,
            egress_bytes=conn.egress_bytes,
            tunnels=tunnels,
            health=self.health(key),
            health_since=self.since(key),
            last_known=self.last_known(key),
            observed_at=conn.observed_at,
        )

    def bgp_items(self) -> list[BgpRow]:
        """Every (gateway, peer) row, by gateway name, then local address and neighbor."""
        rows: list[BgpRow] = []
        statuses: Iterable[tuple[str, BgpStatusObserved]] = self.state.bgp.items()
        for key, status in statuses:
            gw = self.gateway(status.gateway_id)
            name = gw.name if gw else resource_name(status.gateway_id)
            for p in status.peers:
                entity = bgp_peer_id(key, p.local_address, p.neighbor)
                rows.append(BgpRow(entity, name, status, p))
        rows.sort(
            key=lambda r: (
                r.gateway_name.lower(),
                r.status.gateway_id,
                r.peer.local_address,
                r.peer.neighbor,
            )
        )
        return rows

    def bgp_peer_out(self, row: BgpRow) -> BgpPeerOut:
        p = row.peer
        return BgpPeerOut(
            gateway_id=row.status.gateway_id,
            gateway_name=row.gateway_name,
            local_address=p.local_address,
            neighbor=p.neighbor,
            asn=p.asn,
            state=str(p.state),
            routes_received=p.routes_received,
            connected_seconds=p.connected_seconds,
            health=self.health(row.entity_id),
            observed_at=row.status.observed_at,
        )

    def bgp_peers(self) -> list[BgpPeerOut]:
        return [self.bgp_peer_out(r) for r in self.bgp_items()]

    def site_items(self) -> list[tuple[str, LocalNetworkGatewayObserved]]:
        return _by_name(self.state.sites)

    def sites(self) -> list[SiteOut]:
        return [self.site_out(k, s) for k, s in self.site_items()]

    def site_out(self, key: str, s: LocalNetworkGatewayObserved) -> SiteOut:
        return SiteOut(
            id=s.resource_id,
            name=s.name,
            subscription_id=s.subscription_id,
            resource_group=s.resource_group,
            region=s.region,
            gateway_ip_address=s.gateway_ip_address,
            address_prefixes=list(s.address_prefixes),
            bgp_peering_address=s.bgp_peering_address,
            asn=s.asn,
            health=self.health(key),
            observed_at=s.observed_at,
        )

    def circuit_items(self) -> list[tuple[str, CircuitObserved]]:
        return _by_name(self.state.circuits)

    def circuits(self) -> list[CircuitOut]:
        return [self.circuit_out(k, c) for k, c in self.circuit_items()]

    def circuit_out(self, key: str, c: CircuitObserved) -> CircuitOut:
        peerings = [
            PeeringOut(
                name=p.name,
                peering_type=p.peering_type,
                state=p.state,
                links=[
                    LinkOut(
                        device_path=link.device_path,
                        up=link.up,
                        state=link.state,
                        prefixes_received=link.prefixes_received,
                        neighbor=link.neighbor,
                        health=self.health(link_id(key, p.name, link.device_path)),
                    )
                    for link in p.links
                ],
            )
            for p in c.peerings
        ]
        return CircuitOut(
            id=c.resource_id,
            name=c.name,
            subscription_id=c.subscription_id,
            resource_group=c.resource_group,
            region=c.region,
            circuit_provisioning_state=c.circuit_provisioning_state,
            service_provider_provisioning_state=c.service_provider_provisioning_state,
            bandwidth_mbps=c.bandwidth_mbps,
            service_provider=c.service_provider,
            peering_location=c.peering_location,
            peerings=peerings,
            resiliency=self.resiliency_out(c.resource_id),
            health=self.health(key),
            health_since=self.since(key),
            observed_at=c.observed_at,
        )


def p2s_sessions_out(observed: P2SSessionsObserved, *, fresh: bool) -> P2SSessionsOut:
    return P2SSessionsOut(
        gateway_id=observed.gateway_id,
        read_at=observed.observed_at,
        trigger=observed.trigger,
        fresh=fresh,
        count=len(observed.sessions),
        sessions=[
            P2SSessionOut(
                connection_id=s.connection_id,
                protocol=s.protocol,
                user=s.user,
                public_address=s.public_address,
                private_address=s.private_address,
                connected_at=s.connected_at,
                duration_seconds=s.duration_seconds,
                ingress_bytes=s.ingress_bytes,
                egress_bytes=s.egress_bytes,
            )
            for s in observed.sessions
        ],
    )


def incident_out(incident: Incident) -> IncidentOut:
    return IncidentOut(
        id=incident.id,
        key=incident.key,
        type=incident.type,
        severity=incident.severity,
        status=incident.status,
        title=incident.title,
        resources=list(incident.resources),
        opened_at=incident.opened_at,
        resolved_at=incident.resolved_at,
        updated_at=incident.updated_at,
        classification=incident.classification,
        outage_seconds=incident.outage_seconds,
        parent_key=incident.parent_key,
        flaps=incident.flaps,
        attributes=dict(incident.attributes),
    )


def evidence_out(evidence: Evidence) -> EvidenceOut:
    return EvidenceOut(
        at=evidence.at, message=evidence.message, resource=evidence.resource, source=evidence.source
    )


def incident_detail(incident: Incident, children: Iterable[Incident]) -> IncidentDetail:
    return IncidentDetail(
        **incident_out(incident).model_dump(),
        timeline=[evidence_out(e) for e in sorted(incident.timeline, key=lambda e: e.at)],
        children=[incident_out(c) for c in children],
    )


def _by_name(resources: Mapping[str, T]) -> list[tuple[str, T]]:
    """(key, resource) pairs sorted by resource name, then id: a stable order for paging."""
    return sorted(
        resources.items(), key=lambda kv: (str(getattr(kv[1], "name", "")).lower(), kv[0])
    )
