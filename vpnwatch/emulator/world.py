"""The state of every resource at scenario time t: a pure function of the scenario and t.

Tunnels, BGP sessions, ExpressRoute links and byte counters are all computed from the compiled
fault spans, so a request answered at t gives the same answer however the clock got there.
Byte counters grow while a tunnel or link is up and stand still while it is down; with
`counter_jitter` their rate wobbles (deterministically from the seed) but never runs backwards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vpnwatch.emulator.intervals import EMPTY, Intervals
from vpnwatch.emulator.scenario import Scenario
from vpnwatch.emulator.timeline import CompiledTimeline, compile_timeline
from vpnwatch.emulator.topology import (
    AZURE_ASN,
    Circuit,
    Connection,
    Gateway,
    Link,
    Peering,
    Site,
    Topology,
    build_topology,
    rng,
)

_JITTER_PERIOD = 120.0  # seconds of uptime per wobble of a counter's rate
# "Always" as counters can measure it: from the scenario's start on.
_FROM_START = Intervals([(0.0, math.inf)])


@dataclass(frozen=True)
class TunnelState:
    name: str
    slot: int
    connected: bool
    ingress_bytes: int
    egress_bytes: int
    established_at: float  # scenario seconds (negative: before the scenario started)


@dataclass(frozen=True)
class ConnectionState:
    status: str  # "Connected" | "NotConnected"
    ingress_bytes: int
    egress_bytes: int
    tunnels: tuple[TunnelState, ...]


@dataclass(frozen=True)
class BgpPeerRow:
    local_address: str
    neighbor: str
    asn: int
    state: str
    connected_seconds: float | None
    routes_received: int
    messages_sent: int
    messages_received: int
    routes: tuple[str, ...]  # the prefixes behind routes_received


@dataclass(frozen=True)
class BgpNeighbor:
    """A gateway's BGP neighbor over one of its connections; `far_down`: when the neighbor's own
    instance is down (a Vnet2Vnet peer gateway's)."""

    connection: Connection
    address: str
    asn: int
    routes: list[str]
    name: str
    far_down: Intervals = EMPTY


@dataclass(frozen=True)
class GatewayRouteRow:
    local_address: str
    network: str
    next_hop: str
    source_peer: str
    origin: str
    as_path: str
    weight: int


@dataclass(frozen=True)
class LinkState:
    device_path: str
    up: bool
    state: str  # BGP state of the customer-edge session when down
    since: float  # scenario seconds of the last change


@dataclass(frozen=True)
class _CounterModel:
    rate: float
    base: float
    amplitude: float
    phase: float

    def at(self, uptime: float) -> int:
        omega = 2 * math.pi / _JITTER_PERIOD
        value = self.base + self.rate * uptime
        if self.amplitude:
            value += self.amplitude * (math.sin(omega * uptime + self.phase) - math.sin(self.phase))
        return int(value)


class World:
    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.seed = scenario.seed
        self.topology: Topology = build_topology(scenario)
        self.timeline: CompiledTimeline = compile_timeline(scenario, self.topology)
        self.jitter = scenario.spec.noise.counter_jitter
        self._counters: dict[str, _CounterModel] = {}
        self._ages: dict[str, float] = {}

    # --- which resources exist -------------------------------------------------------------

    @property
    def changes_over_time(self) -> bool:
        """Whether any resource is created or deleted during the scenario."""
        return bool(self.timeline.presence)

    def exists(self, item: object, t: float) -> bool:
        """Whether a gateway, connection, site or circuit exists at `t` (`create` / `delete` on
        the timeline). A connection exists while it and its gateway do; other kinds always."""
        exists = self.timeline.exists
        if isinstance(item, Gateway):
            return exists("gateway", item.name, t)
        if isinstance(item, Connection):
            return exists("connection", item.name, t) and exists("gateway", item.gateway.name, t)
        if isinstance(item, Site):
            return exists("site", item.name, t)
        if isinstance(item, Circuit):
            return exists("circuit", item.name, t)
        return True

    # --- deterministic noise -------------------------------------------------------------

    def initial_age(self, key: str) -> float:
        """How long something had been up when the scenario started (2 to 20 hours)."""
        age = self._ages.get(key)
        if age is None:
            age = rng(self.seed, "age", key).uniform(2 * 3600, 20 * 3600)
            self._ages[key] = age
        return age

    def _counter(self, key: str, low: float, high: float) -> _CounterModel:
        model = self._counters.get(key)
        if model is None:
            r = rng(self.seed, "counter", key)
            rate = r.uniform(low, high)
            amplitude = self.jitter * rate * _JITTER_PERIOD / (2 * math.pi)
            model = _CounterModel(rate, r.uniform(5e7, 5e9), amplitude, r.uniform(0, 2 * math.pi))
            self._counters[key] = model
        return model

    def _uptime(self, key: str, down: Intervals, t: float) -> float:
        return self.initial_age(key) + max(t, 0.0) - down.measure(until=t)

    def _established(self, key: str, down: Intervals, t: float) -> float:
        """`lastConnectionEstablishedUtcTime`: "The time at which connection was established"
        (`TunnelConnectionHealth`, azure-rest-api-specs, network `virtualNetworkGateway.json`):
        the last reconnection, which moves when a tunnel comes back after a drop; while the
        tunnel is down it still names the connection it lost. vpnwatch reads gaps from it
        (`correlate/gap.py`)."""
        last = down.last_end(t)
        return last if last is not None else -self.initial_age(key)

    # --- VPN tunnels and connections -----------------------------------------------------

    def tunnel_down(self, conn: Connection, slot: int) -> Intervals:
        gateway_down = self.timeline.gateway_slot_down(conn.gateway.name, slot)
        down = gateway_down.union(self.timeline.connection_link_down(conn.name, slot))
        if conn.peer_gateway is not None:
            down = down.union(self.far_side_down(conn))
        return down

    def far_side_down(self, conn: Connection) -> Intervals:
        """When the other end of a Vnet2Vnet connection cannot carry its tunnels: the peer
        gateway has no instance up, its connection back is missing, deleted or down on every
        tunnel. Both sides drop together, each in its own connection resource."""
        peer, partner = conn.peer_gateway, conn.partner
        if peer is None:
            return EMPTY
        if partner is None:
            return _FROM_START  # one side configured only: IKE has nobody to talk to
        timeline = self.timeline
        slots = range(peer.tunnels_per_connection)
        no_instance = timeline.gateway_slot_down(peer.name, 0)
        no_link = timeline.connection_link_down(partner.name, 0)
        for slot in slots[1:]:
            no_instance = no_instance.intersection(timeline.gateway_slot_down(peer.name, slot))
            no_link = no_link.intersection(timeline.connection_link_down(partner.name, slot))
        gone = timeline.absent("connection", partner.name).union(
            timeline.absent("gateway", peer.name)
        )
        return no_instance.union(no_link, gone.intersection(_FROM_START))

    def tunnel_state(self, conn: Connection, slot: int, t: float) -> TunnelState:
        key = f"{conn.resource_id}#tunnel{slot}"
        down = self.tunnel_down(conn, slot)
        uptime = self._uptime(key, down, t)
        return TunnelState(
            name=conn.tunnel_name(slot),
            slot=slot,
            connected=not down.contains(t),
            ingress_bytes=self._counter(key + "#in", 20_000, 600_000).at(uptime),
            egress_bytes=self._counter(key + "#out", 20_000, 600_000).at(uptime),
            established_at=self._established(key, down, t),
        )

    def expressroute_connection_down(self, conn: Connection) -> Intervals:
        gw = conn.gateway
        both_instances = self.timeline.gateway_instance_down(gw.name, 0).intersection(
            self.timeline.gateway_instance_down(gw.name, 1)
        )
        down = both_instances.union(self.timeline.connection_link_down(conn.name, 0))
        if conn.circuit is not None:
            key = conn.circuit.name.lower()
            down = down.union(
                self.timeline.circuit_down.get(key, EMPTY),
                self.link_down(conn.circuit, "primary").intersection(
                    self.link_down(conn.circuit, "secondary")
                ),
            )
        return down

    def connection_state(self, conn: Connection, t: float) -> ConnectionState:
        if conn.circuit is not None:
            key = f"{conn.resource_id}#er"
            down = self.expressroute_connection_down(conn)
            uptime = self._uptime(key, down, t)
            return ConnectionState(
                status="NotConnected" if down.contains(t) else "Connected",
                ingress_bytes=self._counter(key + "#in", 1e6, 2e7).at(uptime),
                egress_bytes=self._counter(key + "#out", 1e6, 2e7).at(uptime),
                tunnels=(),
            )
        tunnels = tuple(
            self.tunnel_state(conn, slot, t) for slot in range(conn.gateway.tunnels_per_connection)
        )
        return ConnectionState(
            status="Connected" if any(tn.connected for tn in tunnels) else "NotConnected",
            ingress_bytes=sum(tn.ingress_bytes for tn in tunnels),
            egress_bytes=sum(tn.egress_bytes for tn in tunnels),
            tunnels=tunnels,
        )

    # --- BGP -----------------------------------------------------------------------------

    def _bgp_neighbors(self, gw: Gateway) -> list[BgpNeighbor]:
        """A site's BGP address, or each BGP address of a Vnet2Vnet peer gateway (an
        active/active peer has one per instance)."""
        found: list[BgpNeighbor] = []
        seen: set[str] = set()
        for conn in gw.connections:
            if not conn.bgp_enabled:
                continue
            site, peer = conn.site, conn.peer_gateway
            candidates: list[BgpNeighbor] = []
            if site is not None and site.bgp_peering_address:
                address = site.bgp_peering_address
                candidates.append(BgpNeighbor(conn, address, site.asn or 0, site.routes, site.name))
            elif peer is not None and peer.bgp_enabled:
                candidates.extend(
                    BgpNeighbor(
                        conn,
                        peer.bgp_address(slot),
                        peer.asn,
                        [str(peer.vnet.address_space)],
                        peer.name,
                        self.timeline.gateway_slot_down(peer.name, slot),
                    )
                    for slot in range(peer.tunnels_per_connection)
                )
            for neighbor in candidates:
                if neighbor.address not in seen:
                    seen.add(neighbor.address)
                    found.append(neighbor)
        return found

    def _routes_received(self, gw: Gateway, neighbor: BgpNeighbor, t: float) -> int:
        count = len(neighbor.routes)
        for override in self.timeline.routes_overrides.get(
            (gw.name.lower(), neighbor.address), []
        ):
            if override.start <= t < override.end:
                count = min(override.routes, len(neighbor.routes))
        if self.jitter and count >= 4:
            bucket = int(t // 60)
            wobble = rng(self.seed, "routes", gw.name, neighbor.name, bucket).choice(
                (-1, 0, 0, 0, 0, 1)
            )
            count = max(0, min(len(neighbor.routes), count + wobble))
        return count

    def bgp_peers(self, gw: Gateway, t: float, peer: str | None = None) -> list[BgpPeerRow]:
        if not gw.is_vpn:
            return self._expressroute_bgp_peers(gw, t, peer)
        rows: list[BgpPeerRow] = []
        for slot in range(gw.tunnels_per_connection):
            local = gw.bgp_address(slot)
            gateway_down = self.timeline.gateway_slot_down(gw.name, slot)
            for found in self._bgp_neighbors(gw):
                conn, neighbor = found.connection, found.address
                if peer is not None and peer != neighbor:
                    continue
                link_down = self.timeline.connection_link_down(conn.name, slot)
                key = f"{conn.resource_id}#tunnel{slot}"
                if conn.peer_gateway is not None:
                    link_down = link_down.union(self.far_side_down(conn), found.far_down)
                    key = f"{key}#{neighbor}"
                faults = [
                    f
                    for f in self.timeline.bgp_faults.get((gw.name.lower(), neighbor), [])
                    if f.instance is None or f.instance == slot
                ]
                session_down = EMPTY.union(*(f.spans for f in faults)) if faults else EMPTY
                # The session came up just after the tunnel that carries it.
                if gateway_down.contains(t):
                    state = "Unknown"
                elif link_down.contains(t):
                    state = "Connecting"
                else:
                    state = next((f.state for f in faults if f.spans.contains(t)), "Connected")
                rows.append(
                    self._peer_row(
                        key,
                        local,
                        neighbor,
                        found.asn,
                        state,
                        gateway_down.union(link_down, session_down),
                        t,
                        found.routes[: self._routes_received(gw, found, t)],
                    )
                )
        return rows

    def _peer_row(
        self,
        key: str,
        local: str,
        neighbor: str,
        asn: int,
        state: str,
        down: Intervals,
        t: float,
        routes: list[str],
    ) -> BgpPeerRow:
        if state != "Connected":
            return BgpPeerRow(local, neighbor, asn, state, None, 0, 0, 0, ())
        last = down.last_end(t)
        established = last if last is not None else -self.initial_age(key) + 7.0
        connected = t - established
        keepalives = int(connected // 60)
        return BgpPeerRow(
            local_address=local,
            neighbor=neighbor,
            asn=asn,
            state=state,
            connected_seconds=connected,
            routes_received=len(routes),
            messages_sent=keepalives + 4,
            messages_received=keepalives + len(routes) + 4,
            routes=tuple(routes),
        )

    def _expressroute_bgp_peers(self, gw: Gateway, t: float, peer: str | None) -> list[BgpPeerRow]:
        """An ExpressRoute gateway peers with both MSEE routers of each circuit from each of its
        instances. A failed customer-edge link leaves that session up but empty of routes."""
        rows: list[BgpPeerRow] = []
        for conn in gw.connections:
            peering = conn.circuit.private_peering if conn.circuit else None
            if peering is None or conn.circuit is None:
                continue
            for instance in gw.instances:
                instance_down = self.timeline.gateway_instance_down(gw.name, instance.index)
                for link in peering.links:
                    neighbor = link.microsoft_address
                    if peer is not None and peer != neighbor:
                        continue
                    key = f"{gw.resource_id}#bgp{instance.index}#{neighbor}"
                    state = "Unknown" if instance_down.contains(t) else "Connected"
                    link_up = self.link_state(conn.circuit, link, t).up
                    routes = peering.routes if link_up else []
                    rows.append(
                        self._peer_row(
                            key,
                            instance.private_ip,
                            neighbor,
                            AZURE_ASN,
                            state,
                            instance_down,
                            t,
                            list(routes),
                        )
                    )
        return rows

    def learned_routes(self, gw: Gateway, t: float) -> list[GatewayRouteRow]:
        rows: list[GatewayRouteRow] = []
        vnet = str(gw.vnet.address_space)
        locals_ = (
            [gw.bgp_address(s) for s in range(gw.tunnels_per_connection)]
            if gw.is_vpn
            else [i.private_ip for i in gw.instances]
        )
        for local in locals_:
            rows.append(GatewayRouteRow(local, vnet, "", local, "Network", "", 32768))
        peers = self.bgp_peers(gw, t)
        for slot, local in enumerate(locals_):
            for conn in gw.connections:
                site = conn.site
                if not gw.is_vpn or conn.circuit is not None:
                    continue
                if not self.tunnel_state(conn, slot, t).connected:
                    continue
                if site is None:
                    peer = conn.peer_gateway
                    if peer is not None and not conn.bgp_enabled:  # static: the peer's VNet
                        rows.append(
                            GatewayRouteRow(
                                local,
                                str(peer.vnet.address_space),
                                conn.remote_ip,
                                local,
                                "Network",
                                "",
                                32768,
                            )
                        )
                    continue
                if conn.bgp_enabled and site.bgp_peering_address:
                    rows.append(
                        GatewayRouteRow(
                            local,
                            f"{site.bgp_peering_address}/32",
                            site.gateway_ip,
                            local,
                            "Network",
                            "",
                            32768,
                        )
                    )
                else:
                    rows.extend(
                        GatewayRouteRow(local, p, site.gateway_ip, local, "Network", "", 32768)
                        for p in site.prefixes
                    )
        for row in peers:
            if row.state != "Connected":
                continue
            as_path = str(row.asn) if gw.is_vpn else f"{AZURE_ASN} {self._circuit_asn(gw)}"
            rows.extend(
                GatewayRouteRow(
                    row.local_address, prefix, row.neighbor, row.neighbor, "EBgp", as_path, 32768
                )
                for prefix in row.routes
            )
        return rows

    def _circuit_asn(self, gw: Gateway) -> int:
        for conn in gw.connections:
            if conn.circuit is not None and conn.circuit.private_peering is not None:
                return conn.circuit.private_peering.spec.peer_asn
        return 0

    def advertised_routes(self, gw: Gateway, peer: str, t: float) -> list[GatewayRouteRow]:
        peers = self.bgp_peers(gw, t)
        to_peer = [r for r in peers if r.neighbor == peer and r.state == "Connected"]
        rows: list[GatewayRouteRow] = []
        vnet = str(gw.vnet.address_space)
        for target in to_peer:
            rows.append(
                GatewayRouteRow(
                    target.local_address, vnet, target.local_address, "", "Igp", str(gw.asn), 0
                )
            )
            for other in peers:
                if other.neighbor == peer or other.local_address != target.local_address:
                    continue
                if other.state != "Connected":
                    continue
                rows.extend(
                    GatewayRouteRow(
                        target.local_address,
                        prefix,
                        target.local_address,
                        "",
                        "EBgp",
                        f"{gw.asn} {other.asn}",
                        0,
                    )
                    for prefix in other.routes
                )
        return rows

    # --- ExpressRoute circuits -----------------------------------------------------------

    def link_down(self, circuit: Circuit, device_path: str) -> Intervals:
        faults = self.timeline.link_faults.get((circuit.name.lower(), device_path), [])
        return EMPTY.union(*(f.spans for f in faults)) if faults else EMPTY

    def link_state(self, circuit: Circuit, link: Link | str, t: float) -> LinkState:
        device_path = link if isinstance(link, str) else link.device_path
        faults = self.timeline.link_faults.get((circuit.name.lower(), device_path), [])
        down = self.link_down(circuit, device_path)
        key = f"{circuit.resource_id}#{device_path}"
        span = down.span_at(t)
        if span is not None:
            state = next((f.state for f in faults if f.spans.contains(t)), "Idle")
            return LinkState(device_path, False, state, span[0])
        return LinkState(device_path, True, "Established", self._established(key, down, t))

    def link_bytes(
        self, circuit: Circuit, peering: Peering, device_path: str, t: float
    ) -> tuple[int, int]:
        key = f"{peering.resource_id}#{device_path}"
        uptime = self._uptime(key, self.link_down(circuit, device_path), t)
        low, high = (2e5, 5e6) if device_path == "primary" else (1e5, 3e6)
        return (
            self._counter(key + "#in", low, high).at(uptime),
            self._counter(key + "#out", low, high).at(uptime),
        )

    def circuit_stats(
        self, circuit: Circuit, t: float, peering: Peering | None = None
    ) -> dict[str, int]:
        peerings = [peering] if peering is not None else circuit.peerings
        totals = {
            "primarybytesIn": 0,
            "primarybytesOut": 0,
            "secondarybytesIn": 0,
            "secondarybytesOut": 0,
        }
        for p in peerings:
            for device_path in ("primary", "secondary"):
                bytes_in, bytes_out = self.link_bytes(circuit, p, device_path, t)
                totals[f"{device_path}bytesIn"] += bytes_in
                totals[f"{device_path}bytesOut"] += bytes_out
        return totals

    def connected_vnets(self, circuit: Circuit) -> list[tuple[str, str]]:
        """(prefix, next hop) of every VNet an ExpressRoute gateway connects to the circuit."""
        return [
            (str(conn.gateway.vnet.address_space), conn.gateway.instances[0].private_ip)
            for conn in circuit.connections
        ]


def format_timespan(seconds: float) -> str:
    """A .NET TimeSpan in its default form: `[d.]hh:mm:ss.fffffff`."""
    ticks = max(0, round(seconds * 10_000_000))
    whole, fraction = divmod(ticks, 10_000_000)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours:02d}:{minutes:02d}:{secs:02d}.{fraction:07d}"
    return f"{days}.{text}" if days else text


def format_up_down(seconds: float) -> str:
    """The Up/Down column of a BGP summary: `hh:mm:ss` for a day, then `NdNNh`."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    if days:
        return f"{days}d{rest // 3600:02d}h"
    hours, rest = divmod(rest, 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
