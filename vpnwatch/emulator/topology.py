"""The resources a scenario describes, with every id, address and name Azure would show.

Built once from a validated `ScenarioSpec`. Everything here is static; what changes over time
(tunnels, BGP sessions, counters) lives in `world.py`. Addresses are deterministic: VNets come
from 10.0.0.0/8, Azure public IPs from the benchmarking range 198.18.0.0/15 (never routed on the
internet), sites from the scenario (documentation ranges).
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
import uuid
from dataclasses import dataclass, field

from vpnwatch.emulator.scenario import (
    CircuitSpec,
    ConnectionSpec,
    ExpressRouteGatewaySpec,
    P2SSpec,
    PeeringSpec,
    ResiliencySpec,
    Scenario,
    SiteSpec,
    VpnGatewaySpec,
)

AZURE_ASN = 12076  # Microsoft's ASN on ExpressRoute peerings
GATEWAY_DEFAULT_ASN = 65515
NETWORK = "/providers/Microsoft.Network"
TENANT_ID = "72f988bf-0000-4000-8000-00000000e001"


def stable_uuid(seed: int, *parts: object) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"vpnwatch:{seed}:" + "/".join(map(str, parts))))


def rng(seed: int, *parts: object) -> random.Random:
    """A random generator fixed by the scenario seed and a resource's identity."""
    digest = hashlib.sha256(f"{seed}:{'/'.join(map(str, parts))}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@dataclass(eq=False)
class Subscription:
    id: str
    name: str
    resource_groups: list[ResourceGroup] = field(default_factory=list)

    @property
    def resource_id(self) -> str:
        return f"/subscriptions/{self.id}"


@dataclass(eq=False)
class ResourceGroup:
    subscription: Subscription
    name: str
    location: str

    @property
    def resource_id(self) -> str:
        return f"{self.subscription.resource_id}/resourceGroups/{self.name}"

    def child_id(self, kind: str, name: str) -> str:
        return f"{self.resource_id}{NETWORK}/{kind}/{name}"


@dataclass(eq=False)
class Vnet:
    rg: ResourceGroup
    name: str
    address_space: ipaddress.IPv4Network
    gateway_subnet: ipaddress.IPv4Network

    @property
    def resource_id(self) -> str:
        return self.rg.child_id("virtualNetworks", self.name)

    @property
    def gateway_subnet_id(self) -> str:
        return f"{self.resource_id}/subnets/GatewaySubnet"


@dataclass(eq=False)
class PublicIp:
    rg: ResourceGroup
    name: str
    address: str
    zones: tuple[str, ...]
    ip_configuration_id: str

    @property
    def resource_id(self) -> str:
        return self.rg.child_id("publicIPAddresses", self.name)


@dataclass(eq=False)
class Instance:
    """One role instance of a gateway (GatewayTenantWorker_IN_<index>)."""

    index: int
    zone: str | None
    private_ip: str  # its address in the GatewaySubnet; also its BGP address when active/active


@dataclass(eq=False)
class IpConfiguration:
    name: str  # "default" | "activeActive"
    resource_id: str
    public_ip: PublicIp
    bgp_address: str


@dataclass(eq=False)
class Gateway:
    rg: ResourceGroup
    name: str
    vnet: Vnet
    gateway_type: str  # "Vpn" | "ExpressRoute"
    sku: str
    active_active: bool
    bgp_enabled: bool
    asn: int
    zones: tuple[str, ...]
    instances: tuple[Instance, Instance]
    ip_configurations: list[IpConfiguration] = field(default_factory=list)
    connections: list[Connection] = field(default_factory=list)
    p2s_clients: int = 0  # point-to-site users connected when nothing is failing
    p2s: P2SSpec | None = None  # point-to-site configuration
    resiliency: ResiliencySpec | None = None  # ExpressRoute gateways: resiliency answers
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def resource_id(self) -> str:
        return self.rg.child_id("virtualNetworkGateways", self.name)

    @property
    def location(self) -> str:
        return self.rg.location

    @property
    def is_vpn(self) -> bool:
        return self.gateway_type == "Vpn"

    @property
    def tunnels_per_connection(self) -> int:
        return 2 if self.active_active else 1

    def bgp_address(self, slot: int) -> str:
        return self.ip_configurations[slot].bgp_address

    @property
    def bgp_peering_address(self) -> str:
        return ",".join(c.bgp_address for c in self.ip_configurations)


@dataclass(eq=False)
class Site:
    """A local network gateway."""

    rg: ResourceGroup
    name: str
    gateway_ip: str
    prefixes: list[str]
    asn: int | None
    bgp_peering_address: str | None
    routes: list[str]
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def resource_id(self) -> str:
        return self.rg.child_id("localNetworkGateways", self.name)


@dataclass(eq=False)
class Link:
    """One of a peering's two links (devicePath `primary` / `secondary`)."""

    device_path: str
    prefix: ipaddress.IPv4Network

    @property
    def customer_address(self) -> str:
        return str(self.prefix.network_address + 1)

    @property
    def microsoft_address(self) -> str:
        return str(self.prefix.network_address + 2)


@dataclass(eq=False)
class Peering:
    circuit: Circuit
    name: str  # "AzurePrivatePeering" | "MicrosoftPeering"
    spec: PeeringSpec
    links: tuple[Link, Link]
    routes: list[str]

    @property
    def resource_id(self) -> str:
        return f"{self.circuit.resource_id}/peerings/{self.name}"

    @property
    def is_private(self) -> bool:
        return self.name == "AzurePrivatePeering"


@dataclass(eq=False)
class Circuit:
    rg: ResourceGroup
    name: str
    spec: CircuitSpec
    location: str
    peerings: list[Peering] = field(default_factory=list)
    connections: list[Connection] = field(default_factory=list)

    @property
    def resource_id(self) -> str:
        return self.rg.child_id("expressRouteCircuits", self.name)

    @property
    def private_peering(self) -> Peering | None:
        return next((p for p in self.peerings if p.is_private), None)

    def peering(self, name: str) -> Peering | None:
        return next((p for p in self.peerings if p.name.lower() == name.lower()), None)


@dataclass(eq=False)
class Connection:
    """A connection resource of `gateway` to a site (IPsec), a circuit (ExpressRoute) or
    another VPN gateway (Vnet2Vnet). A Vnet2Vnet link is two of these, one per side: `partner`
    is the other side's connection back to this gateway, if it has one."""

    rg: ResourceGroup
    name: str
    gateway: Gateway
    site: Site | None
    circuit: Circuit | None
    bgp_enabled: bool
    protocol: str
    peer_gateway: Gateway | None = None
    partner: Connection | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def resource_id(self) -> str:
        return self.rg.child_id("connections", self.name)

    @property
    def connection_type(self) -> str:
        if self.circuit is not None:
            return "ExpressRoute"
        return "Vnet2Vnet" if self.peer_gateway is not None else "IPsec"

    @property
    def remote_ip(self) -> str:
        """The far end's public IP: the site's device, or the peer gateway's first instance."""
        if self.site is not None:
            return self.site.gateway_ip
        if self.peer_gateway is not None and self.peer_gateway.ip_configurations:
            return self.peer_gateway.ip_configurations[0].public_ip.address
        return ""

    @property
    def location(self) -> str:
        return self.gateway.location

    def tunnel_name(self, slot: int) -> str:
        return f"{self.name}_{self.gateway.ip_configurations[slot].public_ip.address}"


@dataclass
class Topology:
    seed: int
    subscriptions: list[Subscription] = field(default_factory=list)
    vnets: list[Vnet] = field(default_factory=list)
    gateways: list[Gateway] = field(default_factory=list)
    sites: list[Site] = field(default_factory=list)
    circuits: list[Circuit] = field(default_factory=list)
    connections: list[Connection] = field(default_factory=list)
    public_ips: list[PublicIp] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._gateways: dict[str, Gateway] = {}
        self._sites: dict[str, Site] = {}
        self._circuits: dict[str, Circuit] = {}
        self._connections: dict[str, Connection] = {}

    def index(self) -> None:
        """Names are unique per kind within a scenario (validated), matched case-insensitively."""
        self._gateways = {g.name.lower(): g for g in self.gateways}
        self._sites = {s.name.lower(): s for s in self.sites}
        self._circuits = {c.name.lower(): c for c in self.circuits}
        self._connections = {c.name.lower(): c for c in self.connections}

    def gateway(self, name: str) -> Gateway:
        return self._gateways[name.lower()]

    def site(self, name: str) -> Site:
        return self._sites[name.lower()]

    def circuit(self, name: str) -> Circuit:
        return self._circuits[name.lower()]

    def connection(self, name: str) -> Connection:
        return self._connections[name.lower()]

    def subscription(self, subscription_id: str) -> Subscription | None:
        key = subscription_id.lower()
        return next((s for s in self.subscriptions if s.id.lower() == key), None)


# --- building --------------------------------------------------------------------------------


class _Allocator:
    def __init__(self) -> None:
        self._vnet = 0
        self._public = ipaddress.IPv4Network("198.18.0.0/15").hosts()
        self._route_block = 0

    def vnet_space(self) -> ipaddress.IPv4Network:
        k = self._vnet
        self._vnet += 1
        return ipaddress.IPv4Network(f"10.{(k >> 6) % 256}.{(k & 63) << 2}.0/22")

    def public_ip(self) -> str:
        return str(next(self._public))

    def route_block(self) -> int:
        self._route_block += 1
        return self._route_block - 1


def _generated_routes(base: list[str], count: int, block: int, second_octet: int) -> list[str]:
    routes = list(base[:count])
    k = 0
    while len(routes) < count:
        index = block * 64 + k
        candidate = f"10.{second_octet + (index >> 8) % (256 - second_octet)}.{index & 255}.0/24"
        if candidate not in routes:
            routes.append(candidate)
        k += 1
    return routes


def _gateway_subnet(space: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
    if space.prefixlen > 27:
        return space
    return list(space.subnets(new_prefix=27))[-1]


def _instance_zones(
    spec: VpnGatewaySpec | ExpressRouteGatewaySpec,
) -> tuple[str | None, str | None]:
    if spec.instance_zones is not None:
        return spec.instance_zones[0], spec.instance_zones[1]
    if not spec.zones:
        return None, None
    if len(spec.zones) == 1:
        return spec.zones[0], spec.zones[0]
    return spec.zones[0], spec.zones[1]


def build_topology(scenario: Scenario) -> Topology:
    spec = scenario.spec
    topo = Topology(seed=spec.seed)
    alloc = _Allocator()
    site_specs: dict[str, tuple[ResourceGroup, SiteSpec]] = {}
    pending_connections: list[tuple[ResourceGroup, Gateway, ConnectionSpec]] = []

    for sub_spec in spec.topology.subscriptions:
        sub = Subscription(id=sub_spec.id, name=sub_spec.name)
        topo.subscriptions.append(sub)
        for rg_spec in sub_spec.resource_groups:
            rg = ResourceGroup(subscription=sub, name=rg_spec.name, location=rg_spec.location)
            sub.resource_groups.append(rg)
            vnets: dict[str, Vnet] = {}
            for vnet_spec in rg_spec.vnets:
                space = (
                    ipaddress.IPv4Network(vnet_spec.address_space)
                    if vnet_spec.address_space
                    else alloc.vnet_space()
                )
                vnet = Vnet(rg, vnet_spec.name, space, _gateway_subnet(space))
                vnets[vnet_spec.name.lower()] = vnet
                topo.vnets.append(vnet)
            for site_spec in rg_spec.local_network_gateways:
                site_specs[site_spec.name.lower()] = (rg, site_spec)
            for circuit_spec in rg_spec.expressroute_circuits:
                topo.circuits.append(_build_circuit(rg, circuit_spec, alloc))
            gateway_specs: list[VpnGatewaySpec | ExpressRouteGatewaySpec] = [
                *rg_spec.vpn_gateways,
                *rg_spec.expressroute_gateways,
            ]
            for gw_spec in gateway_specs:
                gateway = _build_gateway(rg, gw_spec, vnets[gw_spec.vnet.lower()], alloc, topo)
                topo.gateways.append(gateway)
                for c in gw_spec.connections:
                    pending_connections.append((rg, gateway, c))

    for rg, site_spec in site_specs.values():
        block = alloc.route_block()
        routes = _generated_routes(
            site_spec.prefixes, site_spec.bgp.routes if site_spec.bgp else 0, block, 128
        )
        topo.sites.append(
            Site(
                rg=rg,
                name=site_spec.name,
                gateway_ip=site_spec.gateway_ip,
                prefixes=list(site_spec.prefixes),
                asn=site_spec.bgp.asn if site_spec.bgp else None,
                bgp_peering_address=site_spec.bgp.peering_address if site_spec.bgp else None,
                routes=routes,
                tags=dict(site_spec.tags),
            )
        )
    topo.index()
    for rg, gateway, spec in pending_connections:
        site = topo.site(spec.site) if spec.site else None
        circuit = topo.circuit(spec.circuit) if spec.circuit else None
        connection = Connection(
            rg=rg,
            name=spec.name,
            gateway=gateway,
            site=site,
            circuit=circuit,
            bgp_enabled=spec.bgp or circuit is not None,
            protocol=spec.protocol,
            peer_gateway=topo.gateway(spec.peer_gateway) if spec.peer_gateway else None,
            tags=dict(spec.tags),
        )
        gateway.connections.append(connection)
        if circuit is not None:
            circuit.connections.append(connection)
        topo.connections.append(connection)
    for connection in topo.connections:
        peer = connection.peer_gateway
        if peer is not None:
            connection.partner = next(
                (c for c in peer.connections if c.peer_gateway is connection.gateway), None
            )
    topo.index()
    return topo


def _build_gateway(
    rg: ResourceGroup,
    spec: VpnGatewaySpec | ExpressRouteGatewaySpec,
    vnet: Vnet,
    alloc: _Allocator,
    topo: Topology,
) -> Gateway:
    is_vpn = isinstance(spec, VpnGatewaySpec)
    active_active = spec.active_active if isinstance(spec, VpnGatewaySpec) else False
    subnet = vnet.gateway_subnet
    zone0, zone1 = _instance_zones(spec)
    instances = (
        Instance(0, zone0, str(subnet.network_address + 4)),
        Instance(1, zone1, str(subnet.network_address + 5)),
    )
    asn = GATEWAY_DEFAULT_ASN
    bgp_enabled = not is_vpn
    if isinstance(spec, VpnGatewaySpec) and spec.asn is not None:
        asn, bgp_enabled = spec.asn, True
    gateway = Gateway(
        rg=rg,
        name=spec.name,
        vnet=vnet,
        gateway_type="Vpn" if is_vpn else "ExpressRoute",
        sku=spec.sku,
        active_active=active_active,
        bgp_enabled=bgp_enabled,
        asn=asn,
        zones=tuple(spec.zones or ()),
        instances=instances,
        p2s_clients=spec.p2s_clients if isinstance(spec, VpnGatewaySpec) else 0,
        p2s=spec.p2s_configuration if isinstance(spec, VpnGatewaySpec) else None,
        resiliency=spec.resiliency if isinstance(spec, ExpressRouteGatewaySpec) else None,
        tags=dict(spec.tags),
    )
    names = ["default", "activeActive"] if active_active else ["default"]
    for slot, ipconfig_name in enumerate(names):
        ipconfig_id = f"{gateway.resource_id}/ipConfigurations/{ipconfig_name}"
        pip = PublicIp(
            rg=rg,
            name=f"{spec.name}-pip{slot}",
            address=alloc.public_ip(),
            zones=gateway.zones,
            ip_configuration_id=ipconfig_id,
        )
        topo.public_ips.append(pip)
        bgp_address = (
            instances[slot].private_ip if active_active else str(subnet.broadcast_address - 1)
        )
        gateway.ip_configurations.append(
            IpConfiguration(ipconfig_name, ipconfig_id, pip, bgp_address)
        )
    return gateway


def _build_circuit(rg: ResourceGroup, spec: CircuitSpec, alloc: _Allocator) -> Circuit:
    circuit = Circuit(rg=rg, name=spec.name, spec=spec, location=spec.location or rg.location)
    for name, peering_spec in (
        ("AzurePrivatePeering", spec.private_peering),
        ("MicrosoftPeering", spec.microsoft_peering),
    ):
        if peering_spec is None:
            continue
        links = (
            Link("primary", ipaddress.IPv4Network(peering_spec.primary_prefix)),
            Link("secondary", ipaddress.IPv4Network(peering_spec.secondary_prefix)),
        )
        if name == "MicrosoftPeering":
            routes = list(peering_spec.advertised_public_prefixes[: peering_spec.routes])
        else:
            routes = _generated_routes([], peering_spec.routes, alloc.route_block(), 128)
        circuit.peerings.append(Peering(circuit, name, peering_spec, links, routes))
    return circuit
