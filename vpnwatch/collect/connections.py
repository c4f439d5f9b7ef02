"""Connections and their tunnels: the signal failovers are timed by.

Azure's list of connections leaves `connectionStatus` and `tunnelConnectionStatus` out (its own
example, `VirtualNetworkGatewayConnectionsList.json`, has neither); only a GET by name returns
them. So a pass lists every resource group (which also tells deleted connections from stale
ones), then GETs the connections the read planner picks within the subscription's budget: hot
ones every pass, the rest in rotation, a gateway's connections together. A connection whose list
entry does carry its status costs no GET. Why no cheaper read exists: `docs/read-budget.md`.
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
from vpnwatch.collect.parse import as_int, connection_status, tags, text, utc_timestamp
from vpnwatch.collect.planner import Candidate, Cost
from vpnwatch.observations import ConnectionObserved, Observation, TunnelObserved

# A changed connection has its gateway (BGP status, and a Vnet2Vnet peer's connections) read in
# the next pass: long enough for one pass of each to begin. A reading that changed there heats
# itself for the planner's `HOT_SECONDS`; one that did not goes back to its rotation, whose
# reads the heat would otherwise take for two minutes on every fault.
BGP_HEAT_SECONDS = 30.0
VNET2VNET = "Vnet2Vnet"


class ConnectionCollector(ArmCollector):
    name = "arm.connections"
    kind = "connection"

    async def collect_group(self, scope: Scope, resource_group: str, memo: RunMemo) -> GroupResult:
        network = self.clients.network(scope.subscription_id)
        connections = await self.list_kept(
            scope,
            resource_group,
            memo,
            f"list connections in resource group {resource_group}",
            lambda: network.virtual_network_gateway_connections.list(resource_group),
            keep=lambda listed: not any(_has_status(c) for c in listed),
        )
        with_status = [c for c in connections if _has_status(c)]
        memo.later.extend(connections)
        observed = await self.observe_each(
            with_status, "connection", lambda c: self._connection(scope, c)
        )
        return GroupResult(observations=observed, resource_ids=[c.id for c in connections])

    async def finish(self, scope: Scope, memo: RunMemo, groups: int) -> list[Observation]:
        """GET the connections the planner picks for this pass (those listed with their status
        were observed already and count as read)."""
        listed = {_wire(c, "id").lower(): c for c in memo.later}
        candidates = [
            Candidate(_wire(c, "id"), _wire(c, "properties", "virtualNetworkGateway1", "id") or "")
            for c in memo.later
        ]
        plan = self.clients.planner.plan(
            self.name,
            scope.subscription_id,
            candidates,
            self.interval_seconds,
            # Listed with their status, connections cost nothing more: every pass reads them.
            Cost(
                reads=1.0 if any(not _has_status(c) for c in memo.later) else 0.0,
                fixed_reads=self.list_cost(scope, memo, groups),
            ),
            pass_seconds=self.pass_seconds,
        )
        chosen = [c for c in (listed[rid.lower()] for rid in plan.read) if not _has_status(c)]
        return await self.observe_each(
            chosen,
            "connection",
            lambda c: self._connection(scope, c),
            plan if len(chosen) == len(plan.read) else None,  # paced when all are GETs
        )

    def promise(self, scope: Scope) -> float | None:
        return self.clients.planner.promise(self.name, scope.subscription_id)

    async def _connection(self, scope: Scope, connection: Any) -> ConnectionObserved:
        if not _has_status(connection):
            try:
                connection = await self._get(scope, connection)
            except Exception:
                self.clients.planner.missed(self.name, connection.id)
                raise
        observed = self._observed(connection)
        changed = self.clients.planner.record(
            self.name,
            observed.resource_id,
            (observed.status, tuple((t.name, t.status) for t in observed.tunnels)),
            group=observed.gateway_id,
        )
        if changed:
            self.changed(observed.resource_id)
        if changed and observed.gateway_id:  # read its gateway's BGP status next, too
            hot = [observed.gateway_id]
            if observed.connection_type == VNET2VNET and observed.peer_id:
                # the far gateway's side of the link, and its other connections, which tell
                # which gateway failed, are read in its next pass instead of in rotation
                hot.append(observed.peer_id)
            self.clients.planner.heat(hot, seconds=BGP_HEAT_SECONDS)
        return observed

    def _observed(self, connection: Any) -> ConnectionObserved:
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
            tags=tags(connection.tags),
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


def _has_status(connection: Any) -> bool:
    return _wire(connection, "properties", "connectionStatus") is not None


def _wire(model: Any, *path: str) -> Any:
    """A value of a response as it came over the wire, read through the model's mapping view.
    Attribute access deserialises every nested object again on each read: over a listing of
    2,000 connections, read every pass, that held the event loop for most of a second."""
    value = model
    for key in path:
        if value is None:
            return None
        value = value.get(key)
    return value


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
