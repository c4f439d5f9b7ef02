"""The estate as a picture: on-premises sites and ExpressRoute circuits on the left, gateways with
their instances and zones in the middle, VNets on the right, each link coloured by live health.

This module only lays the graph out (boxes and lines with coordinates and a health each); the
`topology.svg` template draws it. A site's line ends at the instance its tunnel runs on, so an
active/active gateway that lost one instance shows one red and one green line. A VNet-to-VNet
link is one dashed curve between its two gateways (a gateway not drawn appears on the left).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from vpnwatch.correlate.entities import instance_id, link_id, tunnel_id
from vpnwatch.observations import CircuitObserved, ConnectionObserved, GatewayObserved
from vpnwatch.service.fleet import FleetView, resource_name
from vpnwatch.service.links import Links

MAX_GATEWAYS = 60  # beyond this the picture is unreadable; gateways not up are drawn first

WIDTH = 1100
LEFT_X, LEFT_W = 10, 230
MID_X, MID_W = 420, 300
RIGHT_X, RIGHT_W = 880, 210
TOP = 30
NODE_H = 34
GAP = 10
GROUP_GAP = 26
INSTANCE_H = 20
HEALTH_RANK = {"down": 0, "degraded": 1, "unknown": 2, "up": 3}


@dataclass(slots=True)
class Box:
    """A drawn resource: a site, circuit, gateway, instance or VNet."""

    x: float
    y: float
    w: float
    h: float
    label: str
    detail: str
    health: str
    url: str | None = None
    kind: str = ""


@dataclass(slots=True)
class Line:
    """A drawn link between two boxes (a connection, or a tunnel to one instance)."""

    x1: float
    y1: float
    x2: float
    y2: float
    health: str
    title: str
    dashed: bool = False
    kind: str = ""  # "vnet2vnet" for a link between two gateways


@dataclass(slots=True)
class Label:
    x: float
    y: float
    text: str


@dataclass(slots=True)
class Topology:
    width: int
    height: int
    boxes: list[Box] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    not_drawn: int = 0


@dataclass(slots=True)
class _GatewayPlace:
    box: Box
    instances: dict[str, Box]


def _zone_text(zones: tuple[str, ...]) -> str:
    if not zones:
        return "no zone"
    return f"zone {zones[0]}" if len(zones) == 1 else "zone-redundant"


def build_topology(view: FleetView, links: Links) -> Topology:
    """Lay out the fleet `view` shows; gateways grouped by region and zone."""
    items = view.gateway_items()
    ranked = sorted(items, key=lambda kg: HEALTH_RANK.get(view.health(kg[0]).value, 9))
    drawn_keys = {k for k, _ in ranked[:MAX_GATEWAYS]}
    gateways = [(k, g) for k, g in items if k in drawn_keys]
    topo = Topology(width=WIDTH, height=0, not_drawn=len(items) - len(gateways))
    topo.labels += [
        Label(LEFT_X, TOP - 12, "On-premises sites and ExpressRoute circuits"),
        Label(MID_X, TOP - 12, "Gateways (instances, zones)"),
        Label(RIGHT_X, TOP - 12, "Virtual networks"),
    ]

    places = _place_gateways(view, links, gateways, topo)
    connections = [
        c for _, c in view.connection_items() if view.state.key_of(c.gateway_id) in places
    ]
    _place_peers(view, links, places, connections, topo)
    _place_vnets(view, places, gateways, topo)
    topo.height = int(max([b.y + b.h for b in topo.boxes], default=TOP) + 20)
    return topo


def _place_gateways(
    view: FleetView, links: Links, gateways: list[tuple[str, GatewayObserved]], topo: Topology
) -> dict[str, _GatewayPlace]:
    groups: dict[tuple[str, str], list[tuple[str, GatewayObserved]]] = defaultdict(list)
    for key, gw in gateways:
        groups[(gw.region, _zone_text(gw.zones))].append((key, gw))
    places: dict[str, _GatewayPlace] = {}
    y = TOP
    for region, zone in sorted(groups):
        topo.labels.append(Label(MID_X, y + 12, f"{region} · {zone}"))
        y += 20
        for key, gw in groups[(region, zone)]:
            height = NODE_H + INSTANCE_H * len(gw.instances) + 4
            box = Box(
                MID_X, y, MID_W, height, gw.name,
                f"{gw.gateway_type} · {gw.sku}" + (" · active/active" if gw.active_active else ""),
                view.health(key).value, links.resource(key), "gateway",
            )  # fmt: skip
            topo.boxes.append(box)
            instances: dict[str, Box] = {}
            for n, inst in enumerate(gw.instances):
                ibox = Box(
                    MID_X + 12, y + NODE_H + n * INSTANCE_H, MID_W - 24, INSTANCE_H - 3,
                    inst.name, f"{_zone_text(inst.zones)} · {inst.public_ip_address or ''}",
                    view.health(instance_id(key, inst.name)).value,
                    links.resource(instance_id(key, inst.name)), "instance",
                )  # fmt: skip
                topo.boxes.append(ibox)
                instances[inst.name] = ibox
            places[key] = _GatewayPlace(box, instances)
            y += height + GAP
        y += GROUP_GAP - GAP
    return places


def _mid_y(box: Box) -> float:
    return box.y + box.h / 2


def _place_peers(
    view: FleetView,
    links: Links,
    places: dict[str, _GatewayPlace],
    connections: list[ConnectionObserved],
    topo: Topology,
) -> None:
    """Sites and circuits on the left, each near the gateways it connects to."""
    peers: dict[str, list[ConnectionObserved]] = defaultdict(list)
    links_between: dict[tuple[str, str], list[ConnectionObserved]] = defaultdict(list)
    for conn in connections:
        peer_key = view.state.key_of(conn.peer_id)
        if peer_key is not None and peer_key in places:  # VNet-to-VNet: gateway to gateway
            first, second = sorted((view.state.key_of(conn.gateway_id) or "", peer_key))
            links_between[(first, second)].append(conn)
        elif peer_key is not None:
            peers[peer_key].append(conn)
    for pair, sides in sorted(links_between.items()):
        _vnet_to_vnet(view, places, pair, sides, topo)

    def wanted_y(key: str) -> float:
        ys = [_mid_y(places[view.state.key_of(c.gateway_id) or ""].box) for c in peers[key]]
        return sum(ys) / len(ys)

    y = TOP + 20
    for key in sorted(peers, key=wanted_y):
        y = max(y, wanted_y(key) - NODE_H / 2)
        circuit = view.state.circuits.get(key)
        if circuit is not None:
            box = _circuit_box(view, links, key, circuit, y)
        elif key in view.state.gateways:  # the far gateway of a VNet-to-VNet link, not drawn
            box = Box(
                LEFT_X, y, LEFT_W, NODE_H, resource_name(key), "gateway · VNet-to-VNet peer",
                view.health(key).value, links.resource(key), "gateway",
            )  # fmt: skip
        else:
            site = view.state.sites.get(key)
            name = site.name if site else resource_name(key)
            address = site.gateway_ip_address if site else None
            box = Box(
                LEFT_X, y, LEFT_W, NODE_H, name, f"site · {address or ''}",
                view.health(key).value, links.resource(key), "site",
            )  # fmt: skip
        topo.boxes.append(box)
        y += box.h + GAP
        for conn in peers[key]:
            _connection_lines(view, places, conn, box, topo)


def _circuit_box(view: FleetView, links: Links, key: str, c: CircuitObserved, y: float) -> Box:
    down = [
        f"{p.name}/{link.device_path}"
        for p in c.peerings
        for link in p.links
        if view.health(link_id(key, p.name, link.device_path)).value != "up"
    ]
    detail = "circuit · " + (f"not up: {', '.join(down)}" if down else (c.service_provider or ""))
    return Box(
        LEFT_X, y, LEFT_W, NODE_H, c.name, detail, view.health(key).value,
        links.resource(key), "circuit",
    )  # fmt: skip


def _connection_lines(
    view: FleetView,
    places: dict[str, _GatewayPlace],
    conn: ConnectionObserved,
    peer: Box,
    topo: Topology,
) -> None:
    conn_key = view.state.key_of(conn.resource_id) or conn.resource_id
    place = places[view.state.key_of(conn.gateway_id) or ""]
    x1, y1 = peer.x + peer.w, _mid_y(peer)
    drawn = False
    for t in conn.tunnels:
        instance = view.tunnel_instance(conn, t.gateway_public_ip)
        target = place.instances.get(instance or "")
        if target is None:
            continue
        health = view.health(tunnel_id(conn_key, t.name)).value
        topo.lines.append(
            Line(x1, y1, target.x, _mid_y(target), health, f"{conn.name} · tunnel {t.name}")
        )
        drawn = True
    if not drawn:
        health = view.health(conn_key).value
        topo.lines.append(Line(x1, y1, place.box.x, place.box.y + NODE_H / 2, health, conn.name))


def _vnet_to_vnet(
    view: FleetView,
    places: dict[str, _GatewayPlace],
    pair: tuple[str, str],
    sides: list[ConnectionObserved],
    topo: Topology,
) -> None:
    """One dashed curve between the two gateways of a VNet-to-VNet link, however many of its
    connection resources (one per side) are observed, coloured by the worse side."""
    a, b = places[pair[0]].box, places[pair[1]].box
    healths = [view.health(view.state.key_of(c.resource_id) or c.resource_id).value for c in sides]
    health = min(healths, key=lambda h: HEALTH_RANK.get(h, 9))
    names = ", ".join(sorted(c.name for c in sides))
    title = f"VNet-to-VNet {a.label} ↔ {b.label} ({names})"
    x = a.x + a.w
    topo.lines.append(Line(x, a.y + 10, x, b.y + 10, health, title, dashed=True, kind="vnet2vnet"))


def _place_vnets(
    view: FleetView,
    places: dict[str, _GatewayPlace],
    gateways: list[tuple[str, GatewayObserved]],
    topo: Topology,
) -> None:
    by_vnet: dict[str, list[str]] = defaultdict(list)
    for key, gw in gateways:
        if gw.vnet_id:
            by_vnet[gw.vnet_id.lower()].append(key)
    names = {gw.vnet_id.lower(): resource_name(gw.vnet_id) for _, gw in gateways if gw.vnet_id}
    y = TOP + 20

    def wanted_y(vnet: str) -> float:
        ys = [_mid_y(places[k].box) for k in by_vnet[vnet]]
        return sum(ys) / len(ys)

    for vnet in sorted(by_vnet, key=wanted_y):
        y = max(y, wanted_y(vnet) - NODE_H / 2)
        serving = [view.health(k).value for k in by_vnet[vnet]]
        health = min(serving, key=lambda h: HEALTH_RANK.get(h, 9))
        box = Box(RIGHT_X, y, RIGHT_W, NODE_H, names[vnet], "virtual network", health, None, "vnet")
        topo.boxes.append(box)
        for key in by_vnet[vnet]:
            gw_box = places[key].box
            topo.lines.append(
                Line(
                    gw_box.x + gw_box.w, gw_box.y + NODE_H / 2, box.x, _mid_y(box),
                    view.health(key).value, f"{gw_box.label} → {box.label}",
                )
            )  # fmt: skip
        y += NODE_H + GAP
