"""`redundancy_lost` and `gateway_down`: an active/active gateway on one instance, or on none.

Why: an active/active gateway keeps a tunnel per instance for every connection so that losing one
instance costs nothing. When all tunnels (or all BGP sessions) of one instance are down while the
other instance carries traffic, the connections still work but the next failure is an outage:
`redundancy_lost`, warning, classification `instance_down`, resolved when no instance is down any
more. One instance must have been down for `min_down_seconds` before it opens: planned
maintenance blips one instance at a time for seconds, and that is what active/active is for.
Meanwhile the finding is `pending`: it already explains the down instance's tunnels and BGP
sessions, so they do not page instead.

When every instance is down the gateway is down, and that is its own incident, `gateway_down`
(critical, classification `outage`), at once: on-call reads the type first, and "redundancy
lost" would undersell an outage. It explains the `redundancy_lost` of the same gateway (which
becomes its child) and the per-connection `tunnel_down` of all the gateway's connections: one
gateway-level page instead of one per connection. It resolves as soon as one instance carries
traffic again; `redundancy_lost` then goes on until the last one does.
"""

from __future__ import annotations

from collections.abc import Iterator

from vpnwatch.correlate.entities import SERVING, EntityKind, Health, instance_id
from vpnwatch.correlate.findings import (
    DetectorContext,
    Finding,
    Resolution,
    all_restored,
    gone,
    seconds,
    seen,
)
from vpnwatch.correlate.keys import connection_keys, gateway_keys, peer_keys
from vpnwatch.incidents import IncidentType, Severity, incident_key


class RedundancyDetector:
    types = frozenset({IncidentType.REDUNDANCY_LOST, IncidentType.GATEWAY_DOWN})

    def evaluate(self, ctx: DetectorContext) -> Iterator[Finding | Resolution]:
        gateways = set(ctx.subjects(IncidentType.REDUNDANCY_LOST))
        gateways |= set(ctx.subjects(IncidentType.GATEWAY_DOWN))
        for iid in ctx.state.unhealthy(EntityKind.INSTANCE):
            gateways.add(iid.partition("/instances/")[0])
        for gid in sorted(gateways):
            yield from self._gateway(ctx, gid)

    def _gateway(self, ctx: DetectorContext, gid: str) -> Iterator[Finding | Resolution]:
        state = ctx.state
        key = incident_key(IncidentType.REDUNDANCY_LOST, gid)
        inc = ctx.open_incidents.get(key)
        down_key = incident_key(IncidentType.GATEWAY_DOWN, gid)
        down_inc = ctx.open_incidents.get(down_key)
        gw = state.gateways.get(gid)
        if gw is None:
            for k, i in ((key, inc), (down_key, down_inc)):
                if i is not None:
                    yield gone(k, ctx.now)
            return
        if not gw.active_active or len(gw.instances) < 2:
            return
        ids = [instance_id(gid, i.name) for i in gw.instances]
        entities = [state.entities[i] for i in ids if i in state.entities]
        healths = [ctx.health(e.entity_id) for e in entities]
        down = [e for e, h in zip(entities, healths, strict=True) if h is Health.DOWN]
        serving = [e for e, h in zip(entities, healths, strict=True) if h in SERVING]
        if down and (serving or len(down) == len(ids)):
            members = state.instance_members(gid)
            explains: set[str] = set()
            for e in down:
                m = members.get(e.entity_id.rpartition("/instances/")[2])
                if m is not None:
                    explains |= {incident_key(IncidentType.TUNNEL_DOWN, t) for t in m.tunnels}
                    for p in m.peers:
                        explains |= peer_keys(p)
            outage = len(down) == len(ids)
            names = ", ".join(e.entity_id.rpartition("/instances/")[2] for e in down)
            evidence = [seen(e, f"instance {e.entity_id.rpartition('/')[2]}") for e in down]
            attributes = {
                "gateway": gw.name,
                "region": gw.region,
                "instances_down": names,
                **({"zone": gw.zonal_zone} if gw.zonal_zone else {}),
            }
            if outage:
                for cid in state.connections_of_gateway(gid):
                    explains |= connection_keys(state, cid)
                start = max(e.since for e in down)  # down once the last instance is
                yield Finding(
                    key=down_key,
                    type=IncidentType.GATEWAY_DOWN,
                    severity=Severity.CRITICAL,
                    title=f"Gateway {gw.name} down: every instance down",
                    resources=(gid, *(e.entity_id for e in down)),
                    started_at=start,
                    classification="outage",
                    outage_seconds=seconds(start, ctx.now),
                    attributes=attributes,
                    evidence=tuple(evidence),
                    explains=frozenset(explains | {key}),
                )
                return
            if down_inc is not None:
                yield all_restored(
                    down_key,
                    serving,
                    down_inc,
                    "an instance carries traffic again",
                    gid,
                    frozenset(explains),
                )
            start = min(e.since for e in down)
            min_down = ctx.settings.redundancy.min_down_seconds
            pending = inc is None and seconds(start, ctx.now) < min_down
            yield Finding(
                key=key,
                type=IncidentType.REDUNDANCY_LOST,
                severity=Severity.WARNING,
                title=f"Gateway {gw.name} running on one instance: {names} down",
                resources=(gid, *(e.entity_id for e in down)),
                started_at=start,
                classification="instance_down",
                outage_seconds=seconds(start, ctx.now),
                attributes=attributes,
                evidence=tuple(evidence),
                explains=frozenset(explains),
                pending=pending,
            )
        elif down_inc is not None and serving:
            yield all_restored(
                down_key,
                serving,
                down_inc,
                "an instance carries traffic again",
                gid,
                frozenset(gateway_keys(state, gid) - {down_key}),
            )
        if not down and inc is not None and len(serving) == len(ids):
            yield all_restored(
                key,
                entities,
                inc,
                "every instance carries traffic again",
                gid,
                frozenset(gateway_keys(state, gid) - {key}),
            )
