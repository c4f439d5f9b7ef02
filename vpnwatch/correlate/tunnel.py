"""`tunnel_down`: a VPN connection that is down, or one tunnel of an active/active gateway's
connection while the connection still carries traffic on the other tunnel.

Why per connection: it is the unit an on-premises team owns and the thing that stops traffic.
Why per tunnel on active/active gateways: losing one of two tunnels leaves the connection up but
without redundancy, which someone should fix before the other tunnel goes too; when a whole
instance is down that is `redundancy_lost`, which explains these per-tunnel incidents.

Severity warning: one connection is not the fleet. Bigger causes (failover, site, zone,
redundancy, hybrid connectivity) explain it, so it pages on its own only when nothing bigger
does. Classified `flapping` while the connection changed health `flap_transitions` times within
the flap window (the engine also classifies it so after two flaps). ExpressRoute connections are
left to the ExpressRoute detector.
"""

from __future__ import annotations

from collections.abc import Iterator

from vpnwatch.correlate import gap
from vpnwatch.correlate.entities import EXPRESSROUTE, SERVING, EntityKind, Health
from vpnwatch.correlate.findings import (
    DetectorContext,
    Finding,
    Resolution,
    gone,
    name_of,
    restored,
    seconds,
    seen,
)
from vpnwatch.correlate.keys import connection_keys
from vpnwatch.incidents import IncidentType, Severity, incident_key


class TunnelDetector:
    types = frozenset({IncidentType.TUNNEL_DOWN})

    def evaluate(self, ctx: DetectorContext) -> Iterator[Finding | Resolution]:
        connections = ctx.state.unhealthy(EntityKind.CONNECTION)
        tunnels = ctx.state.unhealthy(EntityKind.TUNNEL)
        for subject in ctx.subjects(IncidentType.TUNNEL_DOWN):
            (tunnels if "/tunnels/" in subject else connections).add(subject)
        for cid in sorted(connections):
            yield from self._connection(ctx, cid)
        for tid in sorted(tunnels):
            yield from self._tunnel(ctx, tid)

    def _connection(self, ctx: DetectorContext, cid: str) -> Iterator[Finding | Resolution]:
        key = incident_key(IncidentType.TUNNEL_DOWN, cid)
        inc = ctx.open_incidents.get(key)
        conn = ctx.state.connections.get(cid)
        entity = ctx.entity(cid)
        if conn is None or entity is None:
            if inc is not None:
                yield gone(key, ctx.now)
            return
        if conn.connection_type == EXPRESSROUTE:
            return
        health = ctx.health(cid)
        label = f"connection {conn.name}"
        explains = frozenset(connection_keys(ctx.state, cid) - {key})
        if health is Health.DOWN:
            flapping = ctx.state.is_flapping(cid, ctx.now)
            yield Finding(
                key=key,
                type=IncidentType.TUNNEL_DOWN,
                severity=Severity.WARNING,
                title=f"VPN connection {conn.name} down ({conn.status})",
                resources=tuple(r for r in (cid, conn.gateway_id, conn.peer_id) if r),
                started_at=entity.since,
                classification="flapping" if flapping else None,
                outage_seconds=seconds(entity.since, ctx.now),
                attributes={
                    "connection": conn.name,
                    "gateway": name_of(conn.gateway_id),
                    "region": conn.region,
                },
                evidence=(seen(entity, label, conn.source),),
                explains=explains,
            )
        elif health in SERVING and inc is not None:
            yield restored(key, entity, inc, label, explains, gap.back_in_gap(ctx.state, cid))

    def _tunnel(self, ctx: DetectorContext, tid: str) -> Iterator[Finding | Resolution]:
        key = incident_key(IncidentType.TUNNEL_DOWN, tid)
        inc = ctx.open_incidents.get(key)
        cid, _, tunnel = tid.partition("/tunnels/")
        conn = ctx.state.connections.get(cid)
        entity = ctx.entity(tid)
        if conn is None or entity is None:
            if inc is not None:
                yield gone(key, ctx.now)
            return
        gw = ctx.state.gateway(conn.gateway_id)
        if gw is None or not gw.active_active:
            return  # one tunnel per connection: the connection's incident says it all
        health = ctx.health(tid)
        label = f"tunnel {tunnel}"
        if health is Health.DOWN:
            instance = entity.attributes.get("instance", "")
            still_up = ctx.health(cid) in SERVING
            yield Finding(
                key=key,
                type=IncidentType.TUNNEL_DOWN,
                severity=Severity.WARNING,
                title=f"Tunnel {tunnel} of connection {conn.name} down"
                + (" (connection still up on the other instance)" if still_up else ""),
                resources=(tid, cid, gw.resource_id),
                started_at=entity.since,
                outage_seconds=seconds(entity.since, ctx.now),
                attributes={
                    "connection": conn.name,
                    "gateway": gw.name,
                    "instance": instance,
                    "region": conn.region,
                },
                evidence=(seen(entity, label, conn.source),),
            )
        elif health in SERVING and inc is not None:
            yield restored(key, entity, inc, label, back_at=gap.back_in_gap(ctx.state, tid))
