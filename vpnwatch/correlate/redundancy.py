"""`redundancy_lost`: an active/active gateway running on one instance.

Why: an active/active gateway keeps a tunnel per instance for every connection so that losing one
instance costs nothing. When all tunnels (or all BGP sessions) of one instance are down while the
other instance carries traffic, the connections still work but the next failure is an outage:
warning, classification `instance_down`. When every instance is down the same incident escalates
to critical, classification `outage`, and stays so until resolved (the incident then records
that there was an outage). Resolved when no instance is down any more. One instance must have
been down for `min_down_seconds` before it opens: planned maintenance blips one instance at a
time for seconds, and that is what active/active is for. Meanwhile the finding is `pending`: it
already explains the down instance's tunnels and BGP sessions, so they do not page instead.

It explains the per-tunnel `tunnel_down` and the BGP incidents of the down instance(s), and,
when every instance is down, the per-connection `tunnel_down` of all the gateway's connections:
one gateway-level page instead of one per connection.
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
    types = frozenset({IncidentType.REDUNDANCY_LOST})

    def evaluate(self, ctx: DetectorContext) -> Iterator[Finding | Resolution]:
        gateways = set(ctx.subjects(IncidentType.REDUNDANCY_LOST))
        for iid in ctx.state.unhealthy(EntityKind.INSTANCE):
            gateways.add(iid.partition("/instances/")[0])
        for gid in sorted(gateways):
            yield from self._gateway(ctx, gid)

    def _gateway(self, ctx: DetectorContext, gid: str) -> Iterator[Finding | Resolution]:
        state = ctx.state
        key = incident_key(IncidentType.REDUNDANCY_LOST, gid)
        inc = ctx.open_incidents.get(key)
        gw = state.gateways.get(gid)
        if gw is None:
            if inc is not None:
                yield gone(key, ctx.now)
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
            start = min(e.since for e in down)
            min_down = ctx.settings.redundancy.min_down_seconds
            pending = inc is None and not outage and seconds(start, ctx.now) < min_down
            if outage:
                for cid in state.connections_of_gateway(gid):
                    explains |= connection_keys(state, cid)
            sticky = inc is not None and inc.classification == "outage"
            names = ", ".join(e.entity_id.rpartition("/instances/")[2] for e in down)
            evidence = [seen(e, f"instance {e.entity_id.rpartition('/')[2]}") for e in down]
            yield Finding(
                key=key,
                type=IncidentType.REDUNDANCY_LOST,
                severity=Severity.CRITICAL if outage or sticky else Severity.WARNING,
                title=f"Gateway {gw.name}: every instance down"
                if outage
                else f"Gateway {gw.name} running on one instance: {names} down",
                resources=(gid, *(e.entity_id for e in down)),
                started_at=start,
                classification="outage" if outage or sticky else "instance_down",
                outage_seconds=seconds(start, ctx.now),
                attributes={
                    "gateway": gw.name,
                    "region": gw.region,
                    "instances_down": names,
                    **({"zone": gw.zonal_zone} if gw.zonal_zone else {}),
                },
                evidence=tuple(evidence),
                explains=frozenset(explains),
                pending=pending,
            )
        elif inc is not None and len(serving) == len(ids):
            yield all_restored(
                key,
                entities,
                inc,
                "every instance carries traffic again",
                gid,
                frozenset(gateway_keys(state, gid) - {key}),
            )
