"""The fleet's inventory: the last observation of every gateway, connection, site, circuit and
gateway BGP status, and the lookup indexes detectors use instead of scanning the fleet
(connections per gateway and per peer, gateways per VNet and per zone).

Azure ids are case-insensitive, so every lookup key is lower-cased; an observation is filed under
the spelling its own observation gives (`key_of` maps any spelling to it). Nothing here knows
about health: `FleetState` builds entities on top of this.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from vpnwatch.correlate.entities import (
    EXPRESSROUTE,
    InstanceMembers,
    bgp_peer_id,
    tunnel_id,
)
from vpnwatch.observations import (
    BgpStatusObserved,
    CircuitObserved,
    ConnectionObserved,
    GatewayObserved,
    LocalNetworkGatewayObserved,
    Observation,
)

BGP_SUFFIX = "/bgpPeers"


def bgp_record_id(gateway_id: str) -> str:
    """The record holding a gateway's BGP status (its peers are entities inside it)."""
    return f"{gateway_id}{BGP_SUFFIX}"


class Inventory:
    """What was last observed of each resource, filed by record id, with its lookup indexes."""

    def __init__(self) -> None:
        self.gateways: dict[str, GatewayObserved] = {}
        self.connections: dict[str, ConnectionObserved] = {}
        self.sites: dict[str, LocalNetworkGatewayObserved] = {}
        self.bgp: dict[str, BgpStatusObserved] = {}  # by gateway id as the BGP collector gave it
        self.circuits: dict[str, CircuitObserved] = {}
        self._ids: dict[str, str] = {}  # resource id -> key in gateways/connections/sites/...
        self._bgp_ids: dict[str, str] = {}  # gateway id -> key in `bgp`
        self._gateway_connections: dict[str, set[str]] = defaultdict(set)
        self._peer_connections: dict[str, set[str]] = defaultdict(set)
        self._vnet_gateways: dict[str, set[str]] = defaultdict(set)
        self._zonal: dict[tuple[str, str], set[str]] = defaultdict(set)
        self._region_zones: dict[str, set[str]] = defaultdict(set)
        self._pinned: dict[tuple[str, str], set[str]] = defaultdict(set)
        # instance members per gateway (lower-cased id), until a gateway, connection or BGP
        # status of that gateway is filed or unfiled again
        self._members: dict[str, dict[str, InstanceMembers]] = {}

    # --- lookups -----------------------------------------------------------------------------

    def key_of(self, resource_id: str | None) -> str | None:
        """The key this state files a gateway/connection/site/circuit under, ignoring case."""
        return None if resource_id is None else self._ids.get(resource_id.lower())

    def gateway(self, gateway_id: str | None) -> GatewayObserved | None:
        key = self.key_of(gateway_id)
        return None if key is None else self.gateways.get(key)

    def bgp_of(self, gateway_id: str) -> BgpStatusObserved | None:
        key = self._bgp_ids.get(gateway_id.lower())
        return None if key is None else self.bgp.get(key)

    def connections_of_gateway(self, gateway_id: str) -> list[str]:
        return sorted(self._gateway_connections.get(gateway_id.lower(), ()))

    def vpn_connections(self, connection_ids: Iterable[str]) -> list[str]:
        """The ones that are not ExpressRoute connections (those carry no tunnels)."""
        return [c for c in connection_ids if self.connections[c].connection_type != EXPRESSROUTE]

    def connections_of_peer(self, peer_id: str) -> list[str]:
        """Connections whose `peer_id` is this site, gateway or circuit."""
        return sorted(self._peer_connections.get(peer_id.lower(), ()))

    def gateways_in_vnet(self, vnet_id: str) -> list[str]:
        return sorted(self._vnet_gateways.get(vnet_id.lower(), ()))

    def zonal_gateways(self, region: str, zone: str) -> set[str]:
        return set(self._zonal.get((region.lower(), zone), ()))

    def zones_in_region(self, region: str) -> list[str]:
        return sorted(self._region_zones.get(region.lower(), ()))

    def gateways_with_instance_in(self, region: str, zone: str) -> set[str]:
        """Gateways with an instance in the zone: zonal ones, and zone-redundant ones whose
        public IPs span it (Azure places their instances across the zones listed)."""
        return set(self._pinned.get((region.lower(), zone), ()))

    def instance_members(self, gateway_id: str) -> dict[str, InstanceMembers]:
        """Tunnels and BGP sessions per instance of a gateway: a tunnel belongs to the instance
        whose public IP it names, a BGP row to the instance owning its local address (a gateway
        with one instance owns everything)."""
        low = gateway_id.lower()
        members = self._members.get(low)
        if members is None:
            members = self._members[low] = self._instance_members(gateway_id)
        return members

    def _instance_members(self, gateway_id: str) -> dict[str, InstanceMembers]:
        gw = self.gateway(gateway_id)
        if gw is None:
            return {}
        only = gw.instances[0].name if len(gw.instances) == 1 else None
        by_ip = {i.public_ip_address: i.name for i in gw.instances if i.public_ip_address}
        by_bgp = {a: i.name for i in gw.instances for a in i.bgp_addresses}
        tunnels: dict[str, list[str]] = {i.name: [] for i in gw.instances}
        peers: dict[str, list[str]] = {i.name: [] for i in gw.instances}
        for cid in self.connections_of_gateway(gateway_id):
            conn = self.connections[cid]
            for t in conn.tunnels:
                name = by_ip.get(t.gateway_public_ip or "") or only
                if name is not None:
                    tunnels[name].append(tunnel_id(cid, t.name))
        status = self.bgp_of(gateway_id)
        if status is not None:
            for p in status.peers:
                name = by_bgp.get(p.local_address) or only
                if name is not None:
                    peers[name].append(bgp_peer_id(status.gateway_id, p.local_address, p.neighbor))
        return {
            i.name: InstanceMembers(tuple(tunnels[i.name]), tuple(peers[i.name]))
            for i in gw.instances
        }

    def bgp_peers_of_connection(self, connection_id: str) -> list[str]:
        """BGP peer entities of the connection's gateway whose neighbor is the connection's
        remote end (the site's BGP address, or the peer gateway's)."""
        conn = self.connections.get(connection_id)
        if conn is None or conn.peer_id is None:
            return []
        status = self.bgp_of(conn.gateway_id)
        if status is None:
            return []
        neighbors = self.neighbor_addresses(conn.peer_id)
        return [
            bgp_peer_id(status.gateway_id, p.local_address, p.neighbor)
            for p in status.peers
            if p.neighbor in neighbors
        ]

    def bgp_peers_of_gateway(self, gateway_id: str) -> list[str]:
        status = self.bgp_of(gateway_id)
        if status is None:
            return []
        return [bgp_peer_id(status.gateway_id, p.local_address, p.neighbor) for p in status.peers]

    def neighbor_addresses(self, peer_id: str) -> set[str]:
        key = self.key_of(peer_id)
        if key is None:
            return set()
        site = self.sites.get(key)
        if site is not None:
            return {site.bgp_peering_address} if site.bgp_peering_address else set()
        gw = self.gateways.get(key)
        if gw is not None:
            return {a for i in gw.instances for a in i.bgp_addresses}
        return set()

    def observation(self, rid: str) -> Observation | None:
        """The observation filed under a record id."""
        if rid.endswith(BGP_SUFFIX):
            return self.bgp.get(rid.removesuffix(BGP_SUFFIX))
        return (
            self.connections.get(rid)
            or self.gateways.get(rid)
            or self.sites.get(rid)
            or self.circuits.get(rid)
        )

    # --- filing ------------------------------------------------------------------------------

    def file(self, rid: str, o: Observation) -> None:
        """File an observation under its record id and index it (after `unfile(rid)`)."""
        match o:
            case GatewayObserved():
                self._members.pop(rid.lower(), None)
                self.gateways[rid] = o
                region = o.region.lower()
                if o.vnet_id:
                    self._vnet_gateways[o.vnet_id.lower()].add(rid)
                if o.zonal_zone:
                    self._zonal[(region, o.zonal_zone)].add(rid)
                    self._region_zones[region].add(o.zonal_zone)
                for zone in pinned_zones(o):
                    self._pinned[(region, zone)].add(rid)
            case ConnectionObserved():
                self._members.pop(o.gateway_id.lower(), None)
                self.connections[rid] = o
                self._gateway_connections[o.gateway_id.lower()].add(rid)
                if o.peer_id:
                    self._peer_connections[o.peer_id.lower()].add(rid)
            case LocalNetworkGatewayObserved():
                self.sites[rid] = o
            case CircuitObserved():
                self.circuits[rid] = o
            case BgpStatusObserved():
                self._members.pop(o.gateway_id.lower(), None)
                self.bgp[self._bgp_ids.setdefault(o.gateway_id.lower(), o.gateway_id)] = o

    def unfile(self, rid: str) -> ConnectionObserved | BgpStatusObserved | None:
        """Take a record's observation out of the inventory and its indexes. Returns it when it
        is a connection or a BGP status: what they fed (gateway, site) must be derived again."""
        gw = self.gateways.pop(rid, None)
        if gw is not None:
            self._members.pop(rid.lower(), None)
            region = gw.region.lower()
            if gw.vnet_id:
                self._vnet_gateways[gw.vnet_id.lower()].discard(rid)
            if gw.zonal_zone:
                self._zonal[(region, gw.zonal_zone)].discard(rid)
            for zone in pinned_zones(gw):
                self._pinned[(region, zone)].discard(rid)
        fed: ConnectionObserved | BgpStatusObserved | None = None
        conn = self.connections.pop(rid, None)
        if conn is not None:
            self._members.pop(conn.gateway_id.lower(), None)
            self._gateway_connections[conn.gateway_id.lower()].discard(rid)
            if conn.peer_id:
                self._peer_connections[conn.peer_id.lower()].discard(rid)
            fed = conn
        self.sites.pop(rid, None)
        self.circuits.pop(rid, None)
        if rid.endswith(BGP_SUFFIX):
            status = self.bgp.pop(rid.removesuffix(BGP_SUFFIX), None)
            if status is not None:
                self._members.pop(status.gateway_id.lower(), None)
                fed = status
        return fed


def pinned_zones(gw: GatewayObserved) -> set[str]:
    return {zone for i in gw.instances for zone in i.zones}
