"""Compile a scenario's fault timeline into spans per gateway instance, tunnel, BGP peer and link.

The one piece of real simulation is the active/standby failover: which instance carries the
tunnels depends on the order of failures, so it is played once here, event by event, and the
result stored as "the gateway could not carry tunnels" spans. Everything else is set algebra.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from dataclasses import dataclass, field

from vpnwatch.emulator.intervals import EMPTY, Intervals
from vpnwatch.emulator.scenario import (
    ApiUnavailable,
    AuthFailure,
    BgpPeerDown,
    CircuitDown,
    CircuitLinkDown,
    Create,
    Delete,
    Flap,
    InstanceFailure,
    MetricsFailure,
    NoResponse,
    PacketDrops,
    PlannedMaintenance,
    Recover,
    RoutesWithdrawn,
    Scenario,
    SiteDown,
    SlowResponses,
    Throttle,
    TunnelDown,
    ZoneOutage,
)
from vpnwatch.emulator.topology import Gateway, Topology

API_FAULTS = (Throttle, ApiUnavailable, AuthFailure, SlowResponses, NoResponse)


@dataclass(frozen=True)
class InstanceOutage:
    """An instance is unavailable over [start, end); if it carried the tunnels of an
    active/standby gateway, the other instance takes them over after `takeover` seconds."""

    start: float
    end: float
    takeover: float


@dataclass(frozen=True)
class BgpFault:
    spans: Intervals
    instance: int | None
    state: str


@dataclass(frozen=True)
class RoutesOverride:
    start: float
    end: float
    routes: int


@dataclass(frozen=True)
class LinkFault:
    spans: Intervals
    state: str


@dataclass(frozen=True)
class ApiFault:
    # "throttle" | "api_unavailable" | "auth_failure" | "slow_responses" | "no_response"
    kind: str
    start: float
    end: float
    retry_after: float = 0.0
    subscription: str | None = None  # only requests to this subscription (lower case)
    match: str | None = None  # only requests whose path contains this
    delay: float = 0.0  # slow_responses: scenario seconds before the answer

    def active(self, t: float) -> bool:
        return self.start <= t < self.end

    def covers(self, subscription: str | None, path: str) -> bool:
        if self.subscription is not None and (subscription or "").lower() != self.subscription:
            return False
        return self.match is None or self.match in path


@dataclass(frozen=True)
class DropFault:
    spans: Intervals
    instance: int | None
    per_second: float


@dataclass
class CompiledTimeline:
    instance_down: dict[tuple[str, int], Intervals] = field(default_factory=dict)
    slot_down: dict[tuple[str, int], Intervals] = field(default_factory=dict)
    connection_down: dict[tuple[str, int | None], Intervals] = field(default_factory=dict)
    bgp_faults: dict[tuple[str, str], list[BgpFault]] = field(default_factory=dict)
    routes_overrides: dict[tuple[str, str], list[RoutesOverride]] = field(default_factory=dict)
    link_faults: dict[tuple[str, str], list[LinkFault]] = field(default_factory=dict)
    circuit_down: dict[str, Intervals] = field(default_factory=dict)
    api_faults: list[ApiFault] = field(default_factory=list)
    packet_drops: dict[str, list[DropFault]] = field(default_factory=dict)
    metrics_failures: dict[str, Intervals] = field(default_factory=dict)
    # (kind, name) -> when the resource exists; absent: always. Kinds: gateway, connection,
    # site, circuit.
    presence: dict[tuple[str, str], Intervals] = field(default_factory=dict)

    def exists(self, kind: str, name: str, t: float) -> bool:
        spans = self.presence.get((kind, name.lower()))
        return spans is None or spans.contains(t)

    def absent(self, kind: str, name: str) -> Intervals:
        """When a resource does not exist (before its `create`, after its `delete`)."""
        spans = self.presence.get((kind, name.lower()))
        return EMPTY if spans is None else spans.complement()

    def drops_per_second(self, connection: str, slot: int, t: float) -> float:
        """Packets a tunnel drops per second at `t` while it reads Connected."""
        return sum(
            f.per_second
            for f in self.packet_drops.get(connection.lower(), [])
            if (f.instance is None or f.instance == slot) and f.spans.contains(t)
        )

    def gateway_slot_down(self, gateway: str, slot: int) -> Intervals:
        """Spans when tunnel slot `slot` of the gateway has no instance to run on."""
        return self.slot_down.get((gateway.lower(), slot), EMPTY)

    def gateway_instance_down(self, gateway: str, index: int) -> Intervals:
        return self.instance_down.get((gateway.lower(), index), EMPTY)

    def connection_link_down(self, connection: str, slot: int) -> Intervals:
        """Spans when a connection's tunnel is down for reasons outside the gateway."""
        key = connection.lower()
        return self.connection_down.get((key, None), EMPTY).union(
            self.connection_down.get((key, slot), EMPTY)
        )


def fault_ends(scenario: Scenario) -> dict[int, float]:
    """The end of every timeline entry by index: its duration, its recovery, or never."""
    recoveries = {f.fault: f.at for f in scenario.timeline if isinstance(f, Recover)}
    ends: dict[int, float] = {}
    for i, fault in enumerate(scenario.timeline):
        if isinstance(fault, Recover | Create | Delete):
            continue
        if isinstance(fault, Flap):
            ends[i] = fault.at + fault.count * fault.period
        elif fault.duration is not None:
            ends[i] = fault.at + fault.duration
        elif fault.id is not None and fault.id in recoveries:
            ends[i] = recoveries[fault.id]
        else:
            ends[i] = math.inf
    return ends


def compile_timeline(scenario: Scenario, topo: Topology) -> CompiledTimeline:
    ends = fault_ends(scenario)
    outages: dict[tuple[str, int], list[InstanceOutage]] = defaultdict(list)
    planned: dict[str, list[PlannedMaintenance]] = defaultdict(list)
    conn_spans: dict[tuple[str, int | None], list[tuple[float, float]]] = defaultdict(list)
    out = CompiledTimeline()

    out.presence = _presence(scenario)
    for i, fault in enumerate(scenario.timeline):
        if isinstance(fault, Recover | Create | Delete):
            continue
        start, end = fault.at, ends[i]
        if isinstance(fault, InstanceFailure):
            gw = topo.gateway(fault.gateway)
            outages[(gw.name.lower(), fault.instance)].append(
                InstanceOutage(start, end, fault.failover_seconds)
            )
        elif isinstance(fault, ZoneOutage):
            for gw in topo.gateways:
                if gw.location.lower() != fault.region.lower():
                    continue
                for inst in gw.instances:
                    if inst.zone == fault.zone:
                        outages[(gw.name.lower(), inst.index)].append(
                            InstanceOutage(start, end, fault.failover_seconds)
                        )
        elif isinstance(fault, PlannedMaintenance):
            gw = topo.gateway(fault.gateway)
            if gw.is_vpn and not gw.active_active:
                planned[gw.name.lower()].append(fault)
            else:
                # Instances are updated one after the other; each reboot is a short blip.
                half = (end - start) / 2
                for index, offset in ((0, 0.0), (1, half)):
                    outages[(gw.name.lower(), index)].append(
                        InstanceOutage(
                            start + offset, start + offset + fault.interruption_seconds, 0.0
                        )
                    )
        elif isinstance(fault, TunnelDown):
            conn_spans[(fault.connection.lower(), fault.instance)].append((start, end))
        elif isinstance(fault, SiteDown):
            site = topo.site(fault.site)
            for conn in topo.connections:
                if conn.site is site:
                    conn_spans[(conn.name.lower(), None)].append((start, end))
        elif isinstance(fault, Flap):
            for k in range(fault.count):
                t0 = fault.at + k * fault.period
                conn_spans[(fault.connection.lower(), None)].append((t0, t0 + fault.period / 2))
        elif isinstance(fault, BgpPeerDown):
            neighbor = _neighbor_address(topo.gateway(fault.gateway), fault.neighbor)
            out.bgp_faults.setdefault((fault.gateway.lower(), neighbor), []).append(
                BgpFault(Intervals([(start, end)]), fault.instance, fault.state)
            )
        elif isinstance(fault, RoutesWithdrawn):
            neighbor = _neighbor_address(topo.gateway(fault.gateway), fault.neighbor)
            out.routes_overrides.setdefault((fault.gateway.lower(), neighbor), []).append(
                RoutesOverride(start, end, fault.routes)
            )
        elif isinstance(fault, CircuitLinkDown):
            out.link_faults.setdefault((fault.circuit.lower(), fault.link), []).append(
                LinkFault(Intervals([(start, end)]), fault.state)
            )
        elif isinstance(fault, CircuitDown):
            key = fault.circuit.lower()
            out.circuit_down[key] = out.circuit_down.get(key, EMPTY).union(
                Intervals([(start, end)])
            )
            for link in ("primary", "secondary"):
                out.link_faults.setdefault((key, link), []).append(
                    LinkFault(Intervals([(start, end)]), "Idle")
                )
        elif isinstance(
            fault, Throttle | ApiUnavailable | AuthFailure | SlowResponses | NoResponse
        ):
            out.api_faults.append(
                ApiFault(
                    fault.kind,
                    start,
                    end,
                    retry_after=getattr(fault, "retry_after", 0.0),
                    subscription=fault.subscription.lower() if fault.subscription else None,
                    match=fault.match,
                    delay=getattr(fault, "delay", 0.0),
                )
            )
        elif isinstance(fault, PacketDrops):
            out.packet_drops.setdefault(fault.connection.lower(), []).append(
                DropFault(Intervals([(start, end)]), fault.instance, fault.per_second)
            )
        elif isinstance(fault, MetricsFailure):
            key = fault.gateway.lower()
            out.metrics_failures[key] = out.metrics_failures.get(key, EMPTY).union(
                Intervals([(start, end)])
            )

    for key, spans in conn_spans.items():
        out.connection_down[key] = Intervals(spans)
    for gw in topo.gateways:
        name = gw.name.lower()
        for index in (0, 1):
            out.instance_down[(name, index)] = Intervals(
                (o.start, o.end) for o in outages.get((name, index), [])
            )
        if gw.is_vpn and not gw.active_active:
            if outages.get((name, 0)) or outages.get((name, 1)) or planned.get(name):
                out.slot_down[(name, 0)] = active_standby_outages(
                    outages.get((name, 0), []), outages.get((name, 1), []), planned.get(name, [])
                )
        else:
            for index in (0, 1):
                out.slot_down[(name, index)] = out.instance_down[(name, index)]
    return out


def _presence(scenario: Scenario) -> dict[tuple[str, str], Intervals]:
    """When each created or deleted resource exists: from its `create` (or always) until its
    `delete` (or forever)."""
    born: dict[tuple[str, str], float] = {}
    dies: dict[tuple[str, str], float] = {}
    for event in scenario.timeline:
        if isinstance(event, Create | Delete):
            kind, name = event.target
            key = (kind, name.lower())
            if isinstance(event, Create):
                born[key] = min(event.at, born.get(key, math.inf))
            else:
                dies[key] = min(event.at, dies.get(key, math.inf))
    return {
        key: Intervals([(born.get(key, -math.inf), dies.get(key, math.inf))])
        for key in set(born) | set(dies)
    }


def _neighbor_address(gateway: Gateway, neighbor: str) -> str:
    """A site's or a Vnet2Vnet peer gateway's name stands for its (first) BGP address."""
    for conn in gateway.connections:
        site, peer = conn.site, conn.peer_gateway
        if site is not None and site.name.lower() == neighbor.lower():
            return site.bgp_peering_address or neighbor
        if peer is not None and peer.name.lower() == neighbor.lower():
            return peer.bgp_address(0)
    return neighbor


_UP, _DOWN, _TAKEOVER, _PLANNED = 0, 1, 2, 3


def active_standby_outages(
    instance0: list[InstanceOutage],
    instance1: list[InstanceOutage],
    planned: list[PlannedMaintenance],
) -> Intervals:
    """When an active/standby gateway carries no tunnels.

    The active instance failing takes the tunnels down; the standby takes them over after the
    outage's `takeover` delay if it is up then, otherwise whichever instance comes back first
    carries them. Planned maintenance takes the instance that is active at that moment out for
    the maintenance duration with a short takeover. A failed standby changes nothing.
    """
    events: list[tuple[float, int, int, tuple[float, ...]]] = []
    seq = 0

    def push(t: float, kind: int, payload: tuple[float, ...]) -> None:
        nonlocal seq
        heapq.heappush(events, (t, kind, seq, payload))
        seq += 1

    for index, outages in ((0, instance0), (1, instance1)):
        for o in outages:
            push(o.start, _DOWN, (index, o.end, o.takeover))
    for p in planned:
        end = p.at + (p.duration if p.duration is not None else 60.0)
        push(p.at, _PLANNED, (end, p.interruption_seconds))

    down_count = [0, 0]
    active: int | None = 0
    pending = 0
    dark_since: float | None = None
    spans: list[tuple[float, float]] = []

    def carry(t: float, index: int) -> None:
        nonlocal active, dark_since
        active = index
        if dark_since is not None and t > dark_since:
            spans.append((dark_since, t))
        dark_since = None

    while events:
        t, kind, _, payload = heapq.heappop(events)
        if kind == _DOWN:
            index, end, takeover = int(payload[0]), payload[1], payload[2]
            down_count[index] += 1
            push(end, _UP, (index,))
            if active == index:
                active = None
                dark_since = t
                pending += 1
                push(t + takeover, _TAKEOVER, (index,))
        elif kind == _PLANNED:
            if active is not None:
                push(t, _DOWN, (active, payload[0], payload[1]))
        elif kind == _UP:
            index = int(payload[0])
            down_count[index] -= 1
            if active is None and pending == 0 and down_count[index] == 0:
                carry(t, index)
        elif kind == _TAKEOVER:
            pending -= 1
            failed = int(payload[0])
            if active is None:
                for candidate in (1 - failed, failed):
                    if down_count[candidate] == 0:
                        carry(t, candidate)
                        break
    if dark_since is not None:
        spans.append((dark_since, math.inf))
    return Intervals(spans)
