"""`bgp_peer_down` and `route_withdrawal`: BGP sessions of VPN gateways.

`bgp_peer_down`, one per (gateway, local address, neighbor) whose state is not `Connected`
(Azure reports an unreachable peer as `Unknown`, `Idle` or `Connecting`): warning, critical
when every peer of the gateway is down, since then nothing on-premises is routed at all. A peer
behind a connection that is down is explained by that connection's (or its gateway's, site's,
zone's) incident, so one broken tunnel is one page, not two. BGP is polled less often than
tunnels: a session seen down before its instance's tunnels came back waits for the next BGP poll.

`route_withdrawal`: the session stays `Connected` but the routes it received dropped by more than
`route_withdrawal_share` against the recent baseline: the maximum over the last
`route_baseline_samples` observations of this session (a reset session starts a new baseline, so
a peer relearning its routes after reconnecting is not a withdrawal). Peers whose baseline is
below `route_withdrawal_min_routes` are ignored: one route more or less there is noise. The
baseline at detection is kept in the incident (`baseline_routes`), so it resolves when routes come
back above the threshold of the baseline it was measured against, however long that takes.
Warning: traffic to the withdrawn prefixes fails while the tunnel looks healthy.
"""

from __future__ import annotations

from collections.abc import Iterator

from vpnwatch.config import BgpSettings
from vpnwatch.correlate.entities import SERVING, EntityKind, EntityState, Health
from vpnwatch.correlate.findings import (
    DetectorContext,
    Finding,
    Resolution,
    gone,
    name_of,
    restored,
    seconds,
    seen,
    spell_start,
)
from vpnwatch.correlate.health import bgp_predates_tunnels, tally
from vpnwatch.incidents import Evidence, IncidentType, Severity, incident_key


class BgpDetector:
    types = frozenset({IncidentType.BGP_PEER_DOWN, IncidentType.ROUTE_WITHDRAWAL})

    def evaluate(self, ctx: DetectorContext) -> Iterator[Finding | Resolution]:
        peers = ctx.state.unhealthy(EntityKind.BGP_PEER)
        peers.update(ctx.subjects(IncidentType.BGP_PEER_DOWN))
        for pid in sorted(peers):
            yield from self._peer_down(ctx, pid)
        candidates = set(ctx.subjects(IncidentType.ROUTE_WITHDRAWAL))
        entities, s = ctx.state.entities, ctx.settings.bgp
        for gkey in ctx.state.touched_bgp:
            for pid in ctx.state.bgp_peers_of_gateway(gkey):
                entity = entities.get(pid)
                if entity is not None and withdrawn(entity.routes_history, s):
                    candidates.add(pid)
        for pid in sorted(candidates):
            yield from self._withdrawal(ctx, pid)

    def _peer_down(self, ctx: DetectorContext, pid: str) -> Iterator[Finding | Resolution]:
        key = incident_key(IncidentType.BGP_PEER_DOWN, pid)
        inc = ctx.open_incidents.get(key)
        entity = ctx.entity(pid)
        if entity is None:
            if inc is not None:
                yield gone(key, ctx.now)
            return
        health = ctx.health(pid)
        gateway = entity.attributes.get("gateway", "")
        label = f"BGP peer {entity.attributes.get('neighbor', '')}"
        if health is Health.DOWN:
            tunnels = ctx.state.tunnels_beside(pid)
            known, down = tally(tunnels)
            if bgp_predates_tunnels(tunnels, [entity], known, down):
                return
            siblings = ctx.state.bgp_peers_of_gateway(gateway)
            all_down = all(ctx.health(p) is Health.DOWN for p in siblings)
            yield Finding(
                key=key,
                type=IncidentType.BGP_PEER_DOWN,
                severity=Severity.CRITICAL if all_down else Severity.WARNING,
                title=f"BGP peer {entity.attributes.get('neighbor')} of gateway "
                f"{name_of(gateway)} down"
                + (" (every peer of the gateway is down)" if all_down else ""),
                resources=(pid, gateway),
                started_at=entity.since,
                classification="all_peers_down" if all_down else None,
                outage_seconds=seconds(entity.since, ctx.now),
                attributes=self._attributes(entity),
                evidence=(seen(entity, label),),
                explains=frozenset({incident_key(IncidentType.ROUTE_WITHDRAWAL, pid)}),
            )
        elif health in SERVING and inc is not None:
            withdrawal = frozenset({incident_key(IncidentType.ROUTE_WITHDRAWAL, pid)})
            yield restored(key, entity, inc, label, withdrawal)

    def _withdrawal(self, ctx: DetectorContext, pid: str) -> Iterator[Finding | Resolution]:
        s = ctx.settings.bgp
        key = incident_key(IncidentType.ROUTE_WITHDRAWAL, pid)
        inc = ctx.open_incidents.get(key)
        entity = ctx.entity(pid)
        if entity is None:
            if inc is not None:
                yield gone(key, ctx.now)
            return
        if ctx.health(pid) is not Health.UP or not entity.routes_history:
            return  # session down or unseen: bgp_peer_down speaks for it, or nobody can tell
        current = entity.routes_history[-1]
        if inc is not None:
            baseline = int(inc.attributes.get("baseline_routes", "0"))
        elif len(entity.routes_history) >= 2:
            baseline = max(entity.routes_history[:-1])
        else:
            return
        if baseline < s.route_withdrawal_min_routes:
            return
        threshold = _threshold(baseline, s)
        neighbor = entity.attributes.get("neighbor", "")
        seen_at = entity.last_observed or ctx.now
        if current < threshold:
            fresh = inc is None or inc.clearing_since is not None  # a new spell starts now
            started = spell_start(inc) if inc is not None and not fresh else seen_at
            changed = inc is None or inc.attributes.get("routes_received") != str(current)
            gateway = entity.attributes.get("gateway", "")
            yield Finding(
                key=key,
                type=IncidentType.ROUTE_WITHDRAWAL,
                severity=Severity.WARNING,
                title=f"BGP peer {neighbor} of gateway {name_of(gateway)} withdrew routes: "
                f"{current} received, {baseline} before",
                resources=(pid, gateway),
                started_at=started,
                outage_seconds=seconds(started, ctx.now),
                attributes={
                    **self._attributes(entity),
                    "baseline_routes": str(baseline),
                    "routes_received": str(current),
                },
                evidence=(
                    Evidence(
                        seen_at,
                        f"BGP peer {neighbor}: {current} routes received (baseline {baseline})",
                        pid,
                    ),
                )
                if fresh or changed
                else (),
            )
        elif inc is not None:
            restored_at = seen_at
            yield Resolution(
                key,
                restored_at,
                max(0.0, seconds(spell_start(inc), restored_at)),
                evidence=(
                    Evidence(
                        restored_at,
                        f"BGP peer {neighbor}: {current} routes received again "
                        f"(baseline {baseline})",
                        pid,
                    ),
                ),
            )

    @staticmethod
    def _attributes(entity: EntityState) -> dict[str, str]:
        return {
            "gateway": name_of(entity.attributes.get("gateway", "")),
            "local_address": entity.attributes.get("local_address", ""),
            "neighbor": entity.attributes.get("neighbor", ""),
        }


def _threshold(baseline: int, s: BgpSettings) -> float:
    return baseline * (1.0 - s.route_withdrawal_share)


def withdrawn(history: list[int], s: BgpSettings) -> bool:
    """Whether a session's route history alone shows a withdrawal against its baseline: what a
    session without an open `route_withdrawal` needs before anything else about it is asked
    (most sessions of a gateway whose BGP status was read have steady routes)."""
    if len(history) < 2:
        return False
    baseline = max(history[:-1])
    return baseline >= s.route_withdrawal_min_routes and history[-1] < _threshold(baseline, s)
