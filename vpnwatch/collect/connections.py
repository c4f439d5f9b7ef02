"""Connections and their tunnels: the signal failovers are timed by.

One list call per resource group carries every connection with its `connectionStatus` and
`tunnelConnectionStatus`. Azure may leave those read-only fields out of list responses; for
exactly those connections the collector falls back to one GET each, so the common case stays
at one request per resource group.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from vpnwatch.collect.base import (
    ArmCollector,
    GroupResult,
    RunMemo,
    Scope,
    name_of,
    resource_group_of,
    subscription_of,
)
from vpnwatch.collect.parse import as_int, connection_status, text, utc_timestamp
from vpnwatch.observations import ConnectionObserved, TunnelObserved


class ConnectionCollector(ArmCollector):
    name = "arm.connections"
    kind = "connection"

    async def collect_group(self, scope: Scope, resource_group: str, memo: RunMemo) -> GroupResult:
        network = self.clients.network(scope.subscription_id)
        connections = await self.list_all(
            f"list connections in resource group {resource_group}",
            lambda: network.virtual_network_gateway_connections.list(resource_group),
        )
        observed = await self.observe_each(
            connections, "connection", lambda c: self._connection(scope, c)
        )
        return GroupResult(observations=observed, resource_ids=[c.id for c in connections])

    async def _connection(self, scope: Scope, connection: Any) -> ConnectionObserved:
        if connection.properties is None or connection.properties.connection_status is None:
            connection = await self._get(scope, connection)
        props = connection.properties
        if props is None:
            raise ValueError(f"connection {connection.id} has no properties")
        return ConnectionObserved(
            observed_at=self.clock.now(),
            source=self.name,
            resource_id=connection.id,
            name=connection.name or name_of(connection.id),
            subscription_id=subscription_of(connection.id),
            resource_group=resource_group_of(connection.id),
            region=connection.location or "",
            connection_type=text(props.connection_type),
            gateway_id=_ref(props.virtual_network_gateway1) or "",
            peer_id=_ref(props.local_network_gateway2)
            or _ref(props.virtual_network_gateway2)
            or _ref(props.peer),
            status=connection_status(props.connection_status),
            ingress_bytes=as_int(props.ingress_bytes_transferred) or 0,
            egress_bytes=as_int(props.egress_bytes_transferred) or 0,
            bgp_enabled=bool(props.enable_bgp),
            tunnels=tuple(_tunnel(t) for t in props.tunnel_connection_status or ()),
        )

    async def _get(self, scope: Scope, connection: Any) -> Any:
        """The list response left the status out: read this one connection."""
        network = self.clients.network(subscription_of(connection.id) or scope.subscription_id)
        return await self.call(
            f"read connection {connection.id}",
            lambda: network.virtual_network_gateway_connections.get(
                resource_group_of(connection.id), connection.name or name_of(connection.id)
            ),
        )


def _ref(reference: Any) -> str | None:
    """The id of a `{"id": ..., "properties": {}}` reference, or None."""
    if reference is None:
        return None
    return getattr(reference, "id", None) or None


def _tunnel(health: Any) -> TunnelObserved:
    name = text(health.tunnel)
    return TunnelObserved(
        name=name,
        status=connection_status(health.connection_status),
        ingress_bytes=as_int(health.ingress_bytes_transferred) or 0,
        egress_bytes=as_int(health.egress_bytes_transferred) or 0,
        last_connection_established=utc_timestamp(health.last_connection_established_utc_time),
        gateway_public_ip=_gateway_ip(name),
    )


def _gateway_ip(tunnel_name: str) -> str | None:
    """Azure names a tunnel `<connectionName>_<public IP of the gateway instance>`."""
    suffix = tunnel_name.rsplit("_", 1)[-1] if "_" in tunnel_name else ""
    try:
        return str(ipaddress.ip_address(suffix))
    except ValueError:
        return None
