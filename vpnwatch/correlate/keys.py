"""Keys of the incidents that sit under a connection or a gateway.

A detector that finds a cause (a failover, a site or a zone down) names the symptoms it explains
by their keys, whether or not those incidents exist: the engine parents the ones that do and
keeps the others from opening as pages of their own.
"""

from __future__ import annotations

from vpnwatch.correlate.entities import EXPRESSROUTE, VNET2VNET, tunnel_id
from vpnwatch.correlate.state import FleetState
from vpnwatch.incidents import IncidentType, incident_key


def peer_keys(peer_id: str) -> set[str]:
    return {
        incident_key(IncidentType.BGP_PEER_DOWN, peer_id),
        incident_key(IncidentType.ROUTE_WITHDRAWAL, peer_id),
    }


def tunnel_keys(state: FleetState, connection_id: str) -> set[str]:
    """Per-tunnel `tunnel_down` keys of a connection (active/active gateways)."""
    conn = state.connections.get(connection_id)
    if conn is None:
        return set()
    return {
        incident_key(IncidentType.TUNNEL_DOWN, tunnel_id(connection_id, t.name))
        for t in conn.tunnels
    }


def connection_keys(state: FleetState, connection_id: str) -> set[str]:
    """`tunnel_down` of the connection and its tunnels, and its BGP peers' incidents."""
    keys = _tunnel_down_keys(state, connection_id)
    for peer in state.bgp_peers_of_connection(connection_id):
        keys |= peer_keys(peer)
    return keys


def _tunnel_down_keys(state: FleetState, connection_id: str) -> set[str]:
    keys = tunnel_keys(state, connection_id)
    keys.add(incident_key(IncidentType.TUNNEL_DOWN, connection_id))
    return keys


PAIR_SEPARATOR = "|"


def vnet2vnet_pair(state: FleetState, connection_id: str) -> tuple[str, str] | None:
    """The two gateways a Vnet2Vnet connection links, in a stable order (ids as the state files
    them), or None for any other connection."""
    conn = state.connections.get(connection_id)
    if conn is None or conn.connection_type != VNET2VNET or not conn.peer_id:
        return None
    here = state.key_of(conn.gateway_id) or conn.gateway_id
    there = state.key_of(conn.peer_id) or conn.peer_id
    first, second = sorted((here, there), key=str.lower)
    return first, second


def pair_key(pair: tuple[str, str]) -> str:
    """`vnet2vnet_down` of a link: its subject is both gateways, whichever side reported it."""
    return incident_key(IncidentType.VNET2VNET_DOWN, PAIR_SEPARATOR.join(pair))


def pair_connections(state: FleetState, pair: tuple[str, str]) -> list[str]:
    """Both sides' connections of a Vnet2Vnet link (one each, unless configured twice)."""
    return sorted(
        {
            cid
            for gateway in pair
            for cid in state.connections_of_gateway(gateway)
            if vnet2vnet_pair(state, cid) == pair
        }
    )


def only_links(state: FleetState, gateway_id: str, pair: tuple[str, str]) -> bool:
    """Whether the gateway has no VPN connection besides those of this link: then a link that
    drops leaves it nothing to tell its own failure from the link's."""
    return all(
        vnet2vnet_pair(state, cid) == pair
        for cid in state.connections_of_gateway(gateway_id)
        if state.connections[cid].connection_type != EXPRESSROUTE
    )


def gateway_keys(state: FleetState, gateway_id: str, *, sites: bool = False) -> set[str]:
    """Everything that goes wrong on a gateway: its failover and redundancy incidents, every
    connection's and BGP peer's incidents, its VNet-to-VNet links (when it has other
    connections to tell its own failure by), and (with `sites`) `site_down` of the sites it
    connects to."""
    keys = {
        incident_key(IncidentType.FAILOVER, gateway_id),
        incident_key(IncidentType.REDUNDANCY_LOST, gateway_id),
        incident_key(IncidentType.GATEWAY_DOWN, gateway_id),
    }
    for cid in state.connections_of_gateway(gateway_id):
        keys |= _tunnel_down_keys(state, cid)  # its BGP peers are the gateway's, below
        pair = vnet2vnet_pair(state, cid)
        if pair is not None and not only_links(state, gateway_id, pair):
            keys.add(pair_key(pair))
        peer = state.connections[cid].peer_id
        if sites and peer:
            keys.add(incident_key(IncidentType.SITE_DOWN, state.key_of(peer) or peer))
    for peer in state.bgp_peers_of_gateway(gateway_id):
        keys |= peer_keys(peer)
    return keys
