"""Point-to-site sessions: `POST .../virtualNetworkGateways/{gw}/getVpnClientConnectionHealth`.

A long-running POST (202 with `Azure-AsyncOperation` and `Location`, charged as a write) whose
result is `{"value": [VpnClientConnectionHealthDetail, ...]}`, one entry per connected user, in
the shape of `../shared/azure-wire/gateways/VirtualNetworkGatewayGetVpnclientConnectionHealth
.json` (Azure/azure-rest-api-specs, specification/network/resource-manager/Microsoft.Network/
stable/2026-01-01/examples/): vpnConnectionId ("IKEv2_<guid>"), vpnConnectionDuration
(seconds), vpnConnectionTime ("2019-05-02T22:26:22", no zone), publicIpAddress ("ip:port"),
privateIpAddress (from the address pool), vpnUserName, maxBandwidth, egress/ingress
bytes and packets, maxPacketsPerSecond.

The users are the ones `P2SConnectionCount` counts (`p2s_sessions`): all disconnected by
a failover, back over the following minutes. A gateway without point-to-site answers an empty
list.
"""

from __future__ import annotations

import ipaddress
import uuid
from datetime import datetime, timedelta
from typing import Any

from vpnwatch.emulator.instances import carrier_at
from vpnwatch.emulator.topology import Gateway
from vpnwatch.emulator.world import World

GATEWAY_ACTIONS = frozenset({"getvpnclientconnectionhealth"})
STEADY_SECONDS = 6 * 3600.0  # users connected before the scenario began: up to this long ago
BYTES_PER_SECOND = 40_000  # as P2SBandwidth counts a user
PACKET_BYTES = 600
MAX_BANDWIDTH = 240_000_000
P2S_RECONNECT_SECONDS = 600.0  # users trickle back over this long after a failover


def p2s_sessions(world: World, gw: Gateway, t: float) -> dict[int, int]:
    """Connected point-to-site users per instance at `t`.

    Azure disconnects every P2S client when the gateway fails over; clients reconnect on their
    own over the following minutes (VPN Gateway FAQ, "What happens during a failover?"). An
    active/active gateway spreads its users over both instances.
    """
    total = gw.p2s_clients
    if not total or not gw.is_vpn:
        return {}
    if gw.active_active:
        shares = {0: total // 2, 1: total - total // 2}
        out = {}
        for index, share in shares.items():
            down = world.timeline.gateway_instance_down(gw.name, index)
            out[index] = 0 if down.contains(t) else _recovered(share, down.last_end(t), t)
        return out
    instance = carrier_at(world, gw, 0, t)
    if instance is None:
        return {0: 0, 1: 0}
    last = world.timeline.gateway_slot_down(gw.name, 0).last_end(t)
    return {instance: _recovered(total, last, t), 1 - instance: 0}


def _recovered(total: int, since: float | None, t: float) -> int:
    if since is None:
        return total
    share = min(1.0, max(0.0, (t - since) / P2S_RECONNECT_SECONDS))
    return int(total * share)


def _user(gw: Gateway, instance: int, n: int) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"{gw.resource_id.lower()}#p2s#{instance}#{n}")


def _private_address(gw: Gateway, index: int) -> str:
    pools = gw.p2s.address_pool if gw.p2s is not None else ["172.16.201.0/24"]
    network = ipaddress.IPv4Network(pools[0])
    return str(network.network_address + 2 + index % max(1, network.num_addresses - 3))


def sessions(world: World, gw: Gateway, t: float, started_at: datetime) -> dict[str, Any]:
    """The operation's result at scenario second `t`."""
    now = started_at + timedelta(seconds=t)
    value: list[dict[str, Any]] = []
    protocols = gw.p2s.tunnel_types if gw.p2s is not None else ["IkeV2"]
    for instance, count in sorted(p2s_sessions(world, gw, t).items()):
        back_since = _back_since(world, gw, instance, t)
        for n in range(count):
            user = _user(gw, instance, n)
            if back_since is None:
                connected = started_at - timedelta(seconds=user.int % int(STEADY_SECONDS))
            else:
                spread = P2S_RECONNECT_SECONDS * n / max(1, count)
                connected = started_at + timedelta(seconds=back_since + spread)
            duration = max(0, int((now - connected).total_seconds()))
            moved = duration * BYTES_PER_SECOND
            protocol = protocols[n % len(protocols)]
            prefix = "IKEv2" if protocol == "IkeV2" else protocol
            value.append(
                {
                    "vpnConnectionId": f"{prefix}_{user}",
                    "vpnConnectionDuration": duration,
                    "vpnConnectionTime": connected.strftime("%Y-%m-%dT%H:%M:%S"),
                    "publicIpAddress": f"198.51.100.{1 + user.int % 254}:{1024 + user.int % 60000}",
                    "privateIpAddress": _private_address(gw, instance * 50_000 + n),
                    "vpnUserName": f"p2s-user-{instance}-{n:04d}",
                    "maxBandwidth": MAX_BANDWIDTH,
                    "egressPacketsTransferred": moved // PACKET_BYTES,
                    "egressBytesTransferred": moved,
                    "ingressPacketsTransferred": moved // PACKET_BYTES,
                    "ingressBytesTransferred": moved,
                    "maxPacketsPerSecond": 4,
                }
            )
    return {"value": value}


def _back_since(world: World, gw: Gateway, instance: int, t: float) -> float | None:
    """When this instance's users began to reconnect after the last outage (None: none)."""
    if gw.active_active:
        return world.timeline.gateway_instance_down(gw.name, instance).last_end(t)
    return world.timeline.gateway_slot_down(gw.name, 0).last_end(t)
