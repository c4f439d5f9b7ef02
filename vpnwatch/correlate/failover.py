"""`failover`: an active/standby gateway whose connections all dropped at about the same time.

Why this shape: on failover the gateway's public IP moves to the standby instance, so every
tunnel of the gateway drops at once and comes back a few seconds to minutes later. So: all its
connections (at least `failover.min_connections`) down, their first down observations within one
staleness window of each other, and each seen serving before (a failover is a drop we saw
happen; connections already down when first observed are left to `tunnel_down`). A single
connection down is a site problem, connections dropping far apart are separate problems.

Measuring the interruption: from the first observation that saw the connections down to the
restore. The restore is the latest `last_connection_established` of the tunnels when Azure
reports one between the last down and the first back observation of each connection, else the
first observation that saw them all back. The start is evidence (the timeline shows that
observation), never charges the gateway with time it was seen up, and makes the figure at most
one poll shorter than the truth.

A reconnect polling missed still counts: when every tunnel's `last_connection_established`
lies after the previous observation of its connection (both observations serving, one regular
poll apart), the gateway failed over within one poll: outage = latest established - previous
observation, bounded by the poll.

Classification, on restore: `slo_breach` beyond `slo_seconds` (critical; escalated as soon as
the interruption passes `slo_seconds`, even while still down, so it pages even if the tunnels
come back later, and stays so); else `planned` when restored within `planned_max_seconds` or
started inside a maintenance window covering the gateway (info); else `unplanned` (warning).
While in progress it is info, classification `in_progress` (`planned` inside a window): most
failovers recover within their SLO and need nobody. Explains the `tunnel_down` and BGP
incidents of the gateway, also while its resolution is held (BGP re-establishes after tunnels).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from vpnwatch.config import FailoverSettings
from vpnwatch.correlate.entities import SERVING, VPN, EntityKind, EntityState, Health
from vpnwatch.correlate.findings import (
    DetectorContext,
    Finding,
    Resolution,
    gone,
    seconds,
    seen,
    spell_start,
)
from vpnwatch.correlate.keys import gateway_keys
from vpnwatch.correlate.maintenance import AnyWindow, maintenance_window
from vpnwatch.correlate.state import FleetState
from vpnwatch.incidents import Evidence, Incident, IncidentType, Severity, incident_key
from vpnwatch.observations import ConnectionObserved, GatewayObserved


def classify(
    settings: FailoverSettings, outage: float, window: AnyWindow | None
) -> tuple[str, Severity]:
    if outage > settings.slo_seconds:
        return "slo_breach", Severity.CRITICAL
    if outage <= settings.planned_max_seconds or window is not None:
        return "planned", Severity.INFO
    return "unplanned", Severity.WARNING


def _spread(times: list[datetime]) -> float:
    return seconds(min(times), max(times))


def _latest_established(conn: ConnectionObserved) -> datetime | None:
    latest = None
    for t in conn.tunnels:
        at = t.last_connection_established
        if at is not None and (latest is None or at > latest):
            latest = at
    return latest


def _reconnected_unseen(state: FleetState, cid: str) -> bool:
    """A tunnel of this connection (re)connected after the previous observation of it."""
    entity = state.entities.get(cid)
    if entity is None or entity.previous_observed is None:
        return False
    established = _latest_established(state.connections[cid])
    return established is not None and established > entity.previous_observed


class FailoverDetector:
    types = frozenset({IncidentType.FAILOVER})

    def evaluate(self, ctx: DetectorContext) -> Iterator[Finding | Resolution]:
        state = ctx.state
        gateways = set(ctx.subjects(IncidentType.FAILOVER))
        candidates = state.unhealthy(EntityKind.CONNECTION)
        candidates.update(c for c in state.touched_connections if _reconnected_unseen(state, c))
        for cid in candidates:
            conn = state.connections.get(cid)
            gid = state.key_of(conn.gateway_id) if conn is not None else None
            if gid is not None:
                gateways.add(gid)
        for gid in sorted(gateways):
            yield from self._gateway(ctx, gid)

    def _gateway(self, ctx: DetectorContext, gid: str) -> Iterator[Finding | Resolution]:
        state = ctx.state
        key = incident_key(IncidentType.FAILOVER, gid)
        inc = ctx.open_incidents.get(key)
        gw = state.gateways.get(gid)
        conns = state.vpn_connections(state.connections_of_gateway(gid))
        if gw is None or not conns:
            if inc is not None:
                yield gone(key, ctx.now)
            return
        if gw.active_active or gw.gateway_type != VPN:
            return
        entities = [state.entities[c] for c in conns]
        healths = [ctx.health(c) for c in conns]
        down = [e for e, h in zip(entities, healths, strict=True) if h is Health.DOWN]
        serving = all(h in SERVING for h in healths)
        if inc is not None:
            if down:
                yield self._finding(ctx, gw, entities, down)
            elif serving:
                yield self._restore(ctx, gw, inc, entities)
            return
        if len(conns) < ctx.settings.failover.min_connections:
            return
        if len(down) == len(entities):
            dropped = all(e.previous in SERVING for e in entities)
            together = _spread([e.since for e in entities]) <= self._window(ctx)
            if dropped and together:
                yield self._finding(ctx, gw, entities, down)
        elif serving:
            yield from self._missed(ctx, gw, entities)

    @staticmethod
    def _window(ctx: DetectorContext) -> float:
        return ctx.settings.state.staleness_seconds

    def _finding(
        self,
        ctx: DetectorContext,
        gw: GatewayObserved,
        entities: list[EntityState],
        down: list[EntityState],
    ) -> Finding:
        s = ctx.settings.failover
        start = min(e.since for e in down)
        elapsed = seconds(start, ctx.now)
        window = maintenance_window(ctx.maintenance_windows, gw.resource_id, start)
        evidence = [self._seen(ctx, e) for e in down]
        if elapsed > s.slo_seconds:
            classification, severity = "slo_breach", Severity.CRITICAL
            evidence.append(
                Evidence(
                    start + timedelta(seconds=s.slo_seconds),
                    f"interruption passed the {s.slo_seconds:g} s SLO, still down",
                    gw.resource_id,
                )
            )
        else:
            classification = "planned" if window is not None else "in_progress"
            severity = Severity.INFO
        key = incident_key(IncidentType.FAILOVER, gw.resource_id)
        return Finding(
            key=key,
            type=IncidentType.FAILOVER,
            severity=severity,
            title=f"Failover of gateway {gw.name}: {len(down)} of {len(entities)} connections down",
            resources=(gw.resource_id, *(e.entity_id for e in entities)),
            started_at=start,
            classification=classification,
            outage_seconds=elapsed,
            attributes=self._attributes(gw, window),
            evidence=tuple(evidence),
            explains=frozenset(gateway_keys(ctx.state, gw.resource_id) - {key}),
        )

    def _restore(
        self, ctx: DetectorContext, gw: GatewayObserved, inc: Incident, entities: list[EntityState]
    ) -> Resolution:
        began = spell_start(inc)
        starts: list[datetime] = []
        restores: list[datetime] = []
        for e in entities:
            if e.previous is not Health.DOWN or e.previous_since is None:
                continue
            if e.previous_since < began:
                continue  # down long before this failover
            starts.append(e.previous_since)
            # Azure's reconnect time counts if it lies after the last observation that saw the
            # connection down (the one before the first that saw it back)
            seen_down = e.previous_since
            if e.previous_observed is not None and e.previous_observed < e.since:
                seen_down = max(seen_down, e.previous_observed)
            established = _latest_established(ctx.state.connections[e.entity_id])
            if established is not None and seen_down < established <= e.since:
                restores.append(established)
            else:
                restores.append(e.since)
        start = min(starts, default=began)
        restore = max(restores, default=max(e.since for e in entities))
        outage = max(0.0, seconds(start, restore))
        window = maintenance_window(ctx.maintenance_windows, gw.resource_id, start)
        classification, severity = classify(ctx.settings.failover, outage, window)
        if inc.classification == "slo_breach":  # paged as a breach: it stays one
            classification, severity = "slo_breach", Severity.CRITICAL
        message = (
            f"all {len(entities)} connections back; interruption {outage:g} s ({classification})"
        )
        return Resolution(
            key=inc.key,
            resolved_at=restore,
            outage_seconds=outage,
            classification=classification,
            severity=severity,
            evidence=(Evidence(restore, message, gw.resource_id),),
            explains=frozenset(gateway_keys(ctx.state, gw.resource_id) - {inc.key}),
        )

    def _missed(
        self, ctx: DetectorContext, gw: GatewayObserved, entities: list[EntityState]
    ) -> Iterator[Finding | Resolution]:
        previous: list[datetime] = []
        established: list[datetime] = []
        polls: list[float] = []
        evidence: list[Evidence] = []
        for e in entities:
            conn = ctx.state.connections[e.entity_id]
            prev, last = e.previous_observed, e.last_observed
            if prev is None or last is None or e.since > prev or not conn.tunnels:
                return
            if seconds(prev, last) > self._window(ctx):
                return  # not one regular poll apart: a guess, not a measurement
            latest = prev
            for t in conn.tunnels:
                at = t.last_connection_established
                if at is None or not prev < at <= last:
                    return
                latest = max(latest, at)
                evidence.append(
                    Evidence(
                        at,
                        f"tunnel {t.name} reconnected between polls (seen up at "
                        f"{prev.isoformat()} and {last.isoformat()})",
                        e.entity_id,
                        conn.source,
                    )
                )
            previous.append(prev)
            established.append(latest)
            polls.append(seconds(prev, last))
        if len(entities) < ctx.settings.failover.min_connections:
            return
        if _spread(established) > self._window(ctx):
            return
        start, restore = max(previous), max(established)
        outage = min(max(0.0, seconds(start, restore)), max(polls))
        window = maintenance_window(ctx.maintenance_windows, gw.resource_id, start)
        classification, severity = classify(ctx.settings.failover, outage, window)
        key = incident_key(IncidentType.FAILOVER, gw.resource_id)
        yield Finding(
            key=key,
            type=IncidentType.FAILOVER,
            severity=severity,
            title=f"Failover of gateway {gw.name}: all {len(entities)} connections reconnected "
            "between two polls",
            resources=(gw.resource_id, *(e.entity_id for e in entities)),
            started_at=start,
            classification=classification,
            outage_seconds=outage,
            attributes=self._attributes(gw, window),
            evidence=tuple(evidence),
            explains=frozenset(gateway_keys(ctx.state, gw.resource_id) - {key}),
        )
        yield Resolution(
            key,
            restore,
            outage,
            classification,
            severity,
            explains=frozenset(gateway_keys(ctx.state, gw.resource_id) - {key}),
        )

    @staticmethod
    def _seen(ctx: DetectorContext, e: EntityState) -> Evidence:
        conn = ctx.state.connections[e.entity_id]
        return seen(e, f"connection {conn.name}", conn.source)

    @staticmethod
    def _attributes(gw: GatewayObserved, window: AnyWindow | None) -> dict[str, str]:
        attributes = {"gateway": gw.name, "region": gw.region, "sku": gw.sku}
        if gw.zonal_zone:
            attributes["zone"] = gw.zonal_zone
        if window is not None:
            attributes["maintenance_window"] = window.name
        return attributes
