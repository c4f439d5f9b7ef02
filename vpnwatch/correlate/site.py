"""`site_down`: an on-premises site (local network gateway) unreachable on every connection.

Why: when every connection to one site (at least `site.min_connections`) is down at once while
the gateways on the Azure side keep their other connections up, the fault is at the site (its
VPN device, its internet line), not in Azure. That is one critical page naming the site instead
of a `tunnel_down` per connection and a `bgp_peer_down` per session, which it explains.

The Azure side must be shown healthy: at least one gateway involved has another connection up,
and none of them has all its other connections down (that would be the gateway, not the site).
A gateway whose only connections go to the site cannot tell a site failure from its own: while
the others prove the site is the cause, its `failover` is explained too. Once open it stays open
while any connection to the site is down (warning, `partial`, when some are back) and resolves
when they all are.
"""

from __future__ import annotations

from collections.abc import Iterator

from vpnwatch.correlate.entities import SERVING, EntityKind, Health
from vpnwatch.correlate.findings import (
    DetectorContext,
    Finding,
    Resolution,
    all_restored,
    gone,
    name_of,
    seconds,
    seen,
)
from vpnwatch.correlate.keys import connection_keys, peer_keys
from vpnwatch.correlate.state import FleetState
from vpnwatch.incidents import IncidentType, Severity, incident_key


class SiteDetector:
    types = frozenset({IncidentType.SITE_DOWN})

    def evaluate(self, ctx: DetectorContext) -> Iterator[Finding | Resolution]:
        state = ctx.state
        sites = set(ctx.subjects(IncidentType.SITE_DOWN))
        for cid in state.unhealthy(EntityKind.CONNECTION):
            conn = state.connections.get(cid)
            key = state.key_of(conn.peer_id) if conn is not None else None
            if key is not None and key in state.sites:
                sites.add(key)
        for sid in sorted(sites):
            yield from self._site(ctx, sid)

    def _site(self, ctx: DetectorContext, sid: str) -> Iterator[Finding | Resolution]:
        state = ctx.state
        key = incident_key(IncidentType.SITE_DOWN, sid)
        inc = ctx.open_incidents.get(key)
        site = state.sites.get(sid)
        conns = state.vpn_connections(state.connections_of_peer(sid))
        if site is None or not conns:
            if inc is not None:
                yield gone(key, ctx.now)
            return
        entities = [state.entities[c] for c in conns]
        healths = [ctx.health(c) for c in conns]
        down = [e for e, h in zip(entities, healths, strict=True) if h is Health.DOWN]
        if inc is None:
            if len(conns) < ctx.settings.site.min_connections or len(down) < len(conns):
                return
            if not self._azure_side_healthy(ctx, conns):
                return
        elif not down:
            if all(h in SERVING for h in healths):
                message = "every connection to the site is up again"
                yield all_restored(key, entities, inc, message, sid, self._explains(state, conns))
            return
        start = min(e.since for e in down)
        partial = len(down) < len(conns)
        gateways = sorted({state.connections[c].gateway_id for c in conns})
        yield Finding(
            key=key,
            type=IncidentType.SITE_DOWN,
            severity=Severity.WARNING if partial else Severity.CRITICAL,
            title=f"Site {site.name} unreachable: {len(down)} of {len(conns)} connections down",
            resources=(sid, *conns),
            started_at=start,
            classification="partial" if partial else None,
            outage_seconds=seconds(start, ctx.now),
            attributes={
                "site": site.name,
                "gateway_ip_address": site.gateway_ip_address or "",
                "gateways": ", ".join(name_of(g) for g in gateways),
            },
            evidence=tuple(
                seen(e, f"connection {name_of(e.entity_id)}", state.connections[e.entity_id].source)
                for e in down
            ),
            explains=self._explains(state, conns),
        )

    @staticmethod
    def _explains(state: FleetState, conns: list[str]) -> frozenset[str]:
        """The site's connections and BGP sessions, and the gateways that connect to nothing
        else: all their connections down is the site, not a failover."""
        explains: set[str] = set()
        mine = set(conns)
        for c in conns:
            explains |= connection_keys(state, c)
        for gateway in {state.connections[c].gateway_id for c in conns}:
            others = [c for c in state.connections_of_gateway(gateway) if c not in mine]
            if not others:
                gid = state.key_of(gateway) or gateway
                explains.add(incident_key(IncidentType.FAILOVER, gid))
                explains.add(incident_key(IncidentType.REDUNDANCY_LOST, gid))
                explains.add(incident_key(IncidentType.GATEWAY_DOWN, gid))
                for peer in state.bgp_peers_of_gateway(gid):
                    explains |= peer_keys(peer)
        return frozenset(explains)

    @staticmethod
    def _azure_side_healthy(ctx: DetectorContext, conns: list[str]) -> bool:
        state = ctx.state
        mine = set(conns)
        any_up = False
        for gateway in {state.connections[c].gateway_id.lower() for c in conns}:
            others = [c for c in state.connections_of_gateway(gateway) if c not in mine]
            healths = [ctx.health(c) for c in others]
            up = any(h in SERVING for h in healths)
            if others and not up:
                return False
            any_up = any_up or up
        return any_up
