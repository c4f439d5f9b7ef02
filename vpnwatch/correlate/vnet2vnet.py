"""`vnet2vnet_down`: a VNet-to-VNet link down, one incident for both of its sides.

Why: a Vnet2Vnet link is two connection resources, one on each gateway (possibly in different
subscriptions and regions), and whatever breaks it drops both. Each side alone would open a
`tunnel_down`: two pages for one event. This opens one incident about the pair, explaining
both connections' tunnel and BGP incidents, as soon as either side reads down, and resolves
when every side is back.

Which gateway is at fault: Azure reports both sides the same way, so the link itself cannot
say. The evidence is each gateway's other connections and BGP sessions: a gateway whose other
connections or sessions dropped within one staleness window of the link (an instance lost, a
failover) is at fault when the other gateway shows nothing of the kind. Otherwise (both show
faults, neither does, or one side is not monitored and the other shows nothing) the incident
says it cannot tell which. A gateway's own incident (`failover`, `gateway_down`, a zone) then
explains the link, so the link is its child and pages with it, never beside it.

A gateway whose only connections are this link cannot tell its own failure from the link's:
its `failover`, `redundancy_lost` and `gateway_down` are symptoms the link explains. Its
diagnostic log can: `GatewayTenantPrimaryChanged` during the link's outage (minutes late, so
often after the link resolved) says that gateway switched instances, and names it
(`note_switch`, called by the engine as the row arrives).
Severity warning, as for a single connection down; classification `gateway_fault` when one
gateway is named, `cause_unknown` otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from vpnwatch.correlate.entities import SERVING, EntityKind, EntityState, Health
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
from vpnwatch.correlate.keys import (
    PAIR_SEPARATOR,
    connection_keys,
    only_links,
    pair_connections,
    pair_key,
    peer_keys,
    vnet2vnet_pair,
)
from vpnwatch.correlate.state import FleetState
from vpnwatch.incidents import Evidence, Incident, IncidentType, Severity, incident_key

GATEWAY_FAULT = "gateway_fault"
CAUSE_UNKNOWN = "cause_unknown"
SWITCHED = "instance_switched"  # gateways whose log showed an instance switch in the outage
_SWITCH = "switched instances (GatewayTenantPrimaryChanged)"


@dataclass(frozen=True, slots=True)
class Blame:
    """What one gateway's other connections and sessions say about it."""

    gateway_id: str
    monitored: bool
    faults: tuple[str, ...]  # e.g. "2 of 3 other connections down"
    evidence: tuple[Evidence, ...]


class Vnet2VnetDetector:
    types = frozenset({IncidentType.VNET2VNET_DOWN})

    def evaluate(self, ctx: DetectorContext) -> Iterator[Finding | Resolution]:
        state = ctx.state
        pairs: set[tuple[str, str]] = set()
        for subject in ctx.subjects(IncidentType.VNET2VNET_DOWN):
            first, _, second = subject.partition(PAIR_SEPARATOR)
            pairs.add((first, second))
        for cid in state.unhealthy(EntityKind.CONNECTION):
            pair = vnet2vnet_pair(state, cid)
            if pair is not None:
                pairs.add(pair)
        for pair in sorted(pairs):
            yield from self._pair(ctx, pair)

    def _pair(self, ctx: DetectorContext, pair: tuple[str, str]) -> Iterator[Finding | Resolution]:
        state = ctx.state
        key = pair_key(pair)
        inc = ctx.open_incidents.get(key)
        conns = [c for c in pair_connections(state, pair) if c in state.entities]
        if not conns:
            if inc is not None:
                yield gone(key, ctx.now)
            return
        entities = [state.entities[c] for c in conns]
        healths = [ctx.health(c) for c in conns]
        down = [e for e, h in zip(entities, healths, strict=True) if h is Health.DOWN]
        explains = _explains(state, pair, conns)
        if not down:
            if inc is not None and all(h in SERVING for h in healths):
                message = "every side of the link is connected again"
                yield all_restored(key, entities, inc, message, None, explains)
            return
        start = min(e.since for e in down)
        switched = switched_gateways(inc) if inc is not None else set()
        blames = [_blame(ctx, gid, set(conns), start, name_of(gid) in switched) for gid in pair]
        at_fault, reason = _verdict(blames)
        title = _title([name_of(g) for g in pair], name_of(at_fault) if at_fault else None)
        evidence = [seen(e, f"connection {name_of(e.entity_id)}", _source(state, e)) for e in down]
        for b in blames:
            evidence.extend(b.evidence)
        attributes = {
            "gateways": ", ".join(name_of(g) for g in pair),
            "connections": ", ".join(name_of(c) for c in conns),
            "gateway_at_fault": name_of(at_fault) if at_fault is not None else "",
            "fault_evidence": reason,
            "sides_down": f"{len(down)} of {len(conns)}",
        }
        if at_fault is not None:  # what routes and silences match a gateway by
            attributes["gateway"] = name_of(at_fault)
            gw = state.gateways.get(at_fault)
            if gw is not None:
                attributes["region"] = gw.region
        yield Finding(
            key=key,
            type=IncidentType.VNET2VNET_DOWN,
            severity=Severity.WARNING,
            title=f"{title} ({reason})",
            resources=(*pair, *conns),
            started_at=start,
            classification=GATEWAY_FAULT if at_fault is not None else CAUSE_UNKNOWN,
            outage_seconds=seconds(start, ctx.now),
            attributes=attributes,
            evidence=tuple(evidence),
            explains=explains,
        )


def _title(names: list[str], at_fault: str | None) -> str:
    link = f"VNet-to-VNet link between {' and '.join(names)} down"
    if at_fault is not None:
        return f"{link}: gateway {at_fault} at fault"
    return f"{link}: cannot tell which gateway"


def switched_gateways(inc: Incident) -> set[str]:
    return {n for n in inc.attributes.get(SWITCHED, "").split(", ") if n}


def note_switch(inc: Incident, gateway_name: str) -> None:
    """The gateway's diagnostic log shows an instance switch during the link's outage. Named at
    once when the link could not tell and nothing blames the other side; an open incident's
    next finding weighs it with the rest (`_blame`)."""
    switched = switched_gateways(inc) | {gateway_name}
    inc.attributes[SWITCHED] = ", ".join(sorted(switched))
    if inc.classification != CAUSE_UNKNOWN or len(switched) != 1:
        return
    if inc.attributes.get("fault_evidence", "").startswith("both"):
        return
    reason = f"{gateway_name} {_SWITCH}"
    inc.classification = GATEWAY_FAULT
    inc.attributes.update(
        gateway_at_fault=gateway_name, fault_evidence=reason, gateway=gateway_name
    )
    names = [n for n in inc.attributes.get("gateways", "").split(", ") if n]
    inc.title = f"{_title(names, gateway_name)} ({reason})"


def _source(state: FleetState, entity: EntityState) -> str | None:
    conn = state.connections.get(entity.entity_id)
    return conn.source if conn is not None else None


def _explains(state: FleetState, pair: tuple[str, str], conns: list[str]) -> frozenset[str]:
    """Both sides' connection, tunnel and BGP incidents, and the gateway-level incidents of a
    gateway that connects to nothing but this link."""
    keys: set[str] = set()
    for c in conns:
        keys |= connection_keys(state, c)
    for gid in pair:
        if gid in state.gateways and only_links(state, gid, pair):
            for type_ in (
                IncidentType.FAILOVER,
                IncidentType.REDUNDANCY_LOST,
                IncidentType.GATEWAY_DOWN,
            ):
                keys.add(incident_key(type_, gid))
            for peer in state.bgp_peers_of_gateway(gid):
                keys |= peer_keys(peer)
    return frozenset(keys)


def _blame(
    ctx: DetectorContext, gid: str, link: set[str], start: datetime, switched: bool = False
) -> Blame:
    """The gateway's other connections and BGP sessions that went down about when the link did
    (within one staleness window), or an instance switch in its log: the sign of a fault of the
    gateway, not of the link."""
    state = ctx.state
    if gid not in state.gateways:
        return Blame(gid, False, (), ())
    window = ctx.settings.state.staleness_seconds
    others = [
        c
        for c in state.vpn_connections(state.connections_of_gateway(gid))
        if c not in link and c in state.entities
    ]
    link_peers = {p for c in link for p in state.bgp_peers_of_connection(c)}
    sessions = [
        p for p in state.bgp_peers_of_gateway(gid) if p not in link_peers and p in state.entities
    ]
    faults: list[str] = [f"{name_of(gid)} {_SWITCH}"] if switched else []
    evidence: list[Evidence] = []
    for label, noun, ids in (
        ("other connections", "connection", others),
        ("BGP sessions", "BGP session", sessions),
    ):
        dropped = [
            state.entities[i]
            for i in ids
            if ctx.health(i) in (Health.DOWN, Health.DEGRADED)
            and abs(seconds(start, state.entities[i].since)) <= window
        ]
        if dropped:
            faults.append(f"{len(dropped)} of {len(ids)} {label} of {name_of(gid)} down")
            evidence.extend(seen(e, f"{noun} {_short(e.entity_id)}") for e in dropped)
    return Blame(gid, True, tuple(faults), tuple(evidence))


def _short(entity_id: str) -> str:
    """A connection's name, or a BGP session's `<local address>/<neighbor>`."""
    if "/bgpPeers/" in entity_id:
        return entity_id.partition("/bgpPeers/")[2]
    return name_of(entity_id)


def _verdict(blames: list[Blame]) -> tuple[str | None, str]:
    """The gateway at fault and why, or None and why not."""
    faulty = [b for b in blames if b.faults]
    if len(faulty) == 1:
        other = next(b for b in blames if b is not faulty[0])
        suffix = "" if other.monitored else f"; {name_of(other.gateway_id)} is not monitored"
        return faulty[0].gateway_id, "; ".join(faulty[0].faults) + suffix
    if faulty:
        return None, "both gateways lost other connections or sessions: " + "; ".join(
            f for b in faulty for f in b.faults
        )
    unmonitored = [name_of(b.gateway_id) for b in blames if not b.monitored]
    if unmonitored:
        return None, f"{', '.join(unmonitored)} not monitored, the other side shows no fault"
    return None, "neither gateway shows a fault of its own"
