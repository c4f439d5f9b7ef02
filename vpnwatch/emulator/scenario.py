"""Scenario files: a topology plus a timeline of faults, validated before anything serves them.

`load_scenario("quiet")` reads `vpnwatch/scenarios/quiet.yaml`; any other argument is a path.
Every problem becomes a `ScenarioError` naming the file and the key (`timeline[2].gateway`), so
a typo never turns into a silently quiet run. The format is documented in docs/scenarios.md.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from vpnwatch.windowszones import iana_zone

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"

ZONES = ("1", "2", "3")


class ScenarioError(ValueError):
    """A scenario file that cannot be served; the message names the file and every bad key."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid scenario {source}:\n{lines}")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_ipv4(value: str) -> str:
    ipaddress.IPv4Address(value)
    return value


def _check_cidr(value: str) -> str:
    ipaddress.IPv4Network(value, strict=True)
    return value


def _check_zones(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    if not value:
        raise ValueError("zones must not be empty; omit the key for a non-zonal gateway")
    for zone in value:
        if zone not in ZONES:
            raise ValueError(f"zone {zone!r} is not one of {', '.join(ZONES)}")
    if len(set(value)) != len(value):
        raise ValueError("zones must not repeat")
    return sorted(value)


# --- topology ------------------------------------------------------------------------------


def _check_tags(value: dict[str, str]) -> dict[str, str]:
    """Azure's limits on a resource's tags: at most 50, names up to 512 characters and values
    up to 256 (learn.microsoft.com/azure/azure-resource-manager/management/tag-resources,
    "Limitations")."""
    if len(value) > 50:
        raise ValueError("a resource takes at most 50 tags")
    for name, text in value.items():
        if not name or len(name) > 512 or len(text) > 256:
            raise ValueError(f"tag {name!r}: names are 1-512 characters, values up to 256")
    return value


# A resource's Azure tags (`tags` on its GET; `tag:<name>` in notification routes)
Tags = Annotated[dict[str, str], AfterValidator(_check_tags)]


class VnetSpec(_Spec):
    name: str
    address_space: str | None = None  # CIDR; allocated from 10.0.0.0/8 when omitted

    @field_validator("address_space")
    @classmethod
    def check_address_space(cls, value: str | None) -> str | None:
        return value if value is None else _check_cidr(value)


class SiteBgpSpec(_Spec):
    asn: int = Field(ge=1, le=4294967295)
    peering_address: str
    routes: int = Field(10, ge=0, le=10000)  # how many prefixes the site advertises

    @field_validator("peering_address")
    @classmethod
    def check_peering_address(cls, value: str) -> str:
        return _check_ipv4(value)


class SiteSpec(_Spec):
    """A local network gateway: the on-premises VPN device as Azure knows it."""

    name: str
    gateway_ip: str
    prefixes: list[str] = Field(default_factory=list)
    bgp: SiteBgpSpec | None = None
    tags: Tags = Field(default_factory=dict)

    @field_validator("gateway_ip")
    @classmethod
    def check_gateway_ip(cls, value: str) -> str:
        return _check_ipv4(value)

    @field_validator("prefixes")
    @classmethod
    def check_prefixes(cls, value: list[str]) -> list[str]:
        return [_check_cidr(p) for p in value]


class ConnectionSpec(_Spec):
    """A connection of a VPN gateway to a site (IPsec) or to another VPN gateway
    (`peer_gateway`: Vnet2Vnet), or of an ExpressRoute gateway to a circuit (ExpressRoute).

    A Vnet2Vnet link is two connection resources, one on each gateway naming the other, as
    Azure has it (`New-AzVirtualNetworkGatewayConnection -ConnectionType Vnet2Vnet` once per
    direction, MicrosoftDocs/azure-docs articles/vpn-gateway/vpn-gateway-vnet-vnet-rm-ps.md):
    a side whose partner connection does not exist never connects."""

    name: str
    site: str | None = None
    peer_gateway: str | None = None
    circuit: str | None = None
    bgp: bool = False
    protocol: Literal["IKEv2", "IKEv1"] = "IKEv2"
    tags: Tags = Field(default_factory=dict)


class _GatewaySpec(_Spec):
    name: str
    vnet: str
    zones: list[str] | None = None
    instance_zones: list[str] | None = None  # where instance 0 and 1 run
    connections: list[ConnectionSpec] = Field(default_factory=list)
    tags: Tags = Field(default_factory=dict)

    @field_validator("zones")
    @classmethod
    def check_zones(cls, value: list[str] | None) -> list[str] | None:
        return _check_zones(value)

    @field_validator("instance_zones")
    @classmethod
    def check_instance_zones(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if len(value) != 2 or any(z not in ZONES for z in value):
            raise ValueError('instance_zones needs two zones, e.g. ["1", "2"]')
        return value


class P2SSpec(_Spec):
    """A gateway's point-to-site configuration (`vpnClientConfiguration`)."""

    address_pool: list[str] = Field(default_factory=lambda: ["172.16.201.0/24"])
    tunnel_types: list[Literal["IkeV2", "SSTP", "OpenVPN"]] = Field(
        default_factory=lambda: ["IkeV2", "OpenVPN"]
    )
    auth_types: list[Literal["Certificate", "Radius", "AAD"]] = Field(
        default_factory=lambda: ["Certificate"]
    )

    @field_validator("address_pool")
    @classmethod
    def check_pool(cls, value: list[str]) -> list[str]:
        for prefix in value:
            ipaddress.IPv4Network(prefix, strict=True)
        return value


class VpnGatewaySpec(_GatewaySpec):
    sku: str = "VpnGw2AZ"
    active_active: bool = False
    asn: int | None = Field(None, ge=1, le=4294967295)  # set: BGP enabled with this ASN
    p2s_clients: int = Field(0, ge=0, le=100_000)  # connected point-to-site users when steady
    p2s: P2SSpec | None = None  # point-to-site settings (`p2s_clients` alone: the defaults)

    @property
    def p2s_configuration(self) -> P2SSpec | None:
        """Users connect only through a configuration: clients imply the default one."""
        if self.p2s is None and self.p2s_clients:
            return P2SSpec()
        return self.p2s


class ResiliencySpec(_Spec):
    """What ExpressRoute's resiliency features report for a circuit or an ExpressRoute gateway
    (`emulator/resiliency.py`). Without it: supported, never validated, no insights computed."""

    supported: bool = True  # False: Azure answers that the feature is not available here
    # the last completed failover test ended this many days before the scenario starts
    validated_days_ago: float | None = Field(None, ge=0)
    validation_succeeded: bool = True
    score: int | None = Field(None, ge=0, le=100)  # gateway resiliency insights: overall score


class ExpressRouteGatewaySpec(_GatewaySpec):
    sku: str = "ErGw1AZ"
    resiliency: ResiliencySpec | None = None


class PeeringSpec(_Spec):
    peer_asn: int = Field(ge=1, le=4294967295)
    primary_prefix: str  # /30 of the primary link
    secondary_prefix: str  # /30 of the secondary link
    vlan_id: int = Field(ge=1, le=4094)
    routes: int = Field(20, ge=0, le=10000)  # prefixes the customer edge advertises
    advertised_public_prefixes: list[str] = Field(default_factory=list)  # Microsoft peering

    @field_validator("primary_prefix", "secondary_prefix")
    @classmethod
    def check_slash30(cls, value: str) -> str:
        network = ipaddress.IPv4Network(value, strict=True)
        if network.prefixlen != 30:
            raise ValueError("a peering link prefix must be a /30")
        return value


class CircuitSpec(_Spec):
    name: str
    provider: str
    peering_location: str
    bandwidth_mbps: int = Field(ge=50)
    tier: Literal["Standard", "Premium", "Local"] = "Standard"
    family: Literal["MeteredData", "UnlimitedData"] = "MeteredData"
    location: str | None = None  # the resource group's location when omitted
    private_peering: PeeringSpec | None = None
    microsoft_peering: PeeringSpec | None = None
    resiliency: ResiliencySpec | None = None
    tags: Tags = Field(default_factory=dict)


class MaintenanceConfigurationSpec(_Spec):
    """Customer-controlled gateway maintenance: a `Microsoft.Maintenance` configuration in this
    resource group, assigned to `gateways` (names of gateways anywhere in the subscription).
    The window opens `start_offset` scenario seconds after the start (rendered as Azure does,
    "yyyy-MM-dd HH:mm" local to `time_zone`, so to the minute), lasts `duration` ("HH:mm") and
    repeats by `recur_every` (Azure's spelling; empty: once)."""

    name: str
    start_offset: float = 0.0
    duration: str = Field("05:00", pattern=r"^\d{1,2}:\d{2}$")
    time_zone: str = "UTC"
    recur_every: str = ""
    expires_offset: float | None = None
    gateways: list[str] = Field(default_factory=list)


class ResourceGroupSpec(_Spec):
    name: str
    location: str
    vnets: list[VnetSpec] = Field(default_factory=list)
    local_network_gateways: list[SiteSpec] = Field(default_factory=list)
    vpn_gateways: list[VpnGatewaySpec] = Field(default_factory=list)
    expressroute_gateways: list[ExpressRouteGatewaySpec] = Field(default_factory=list)
    expressroute_circuits: list[CircuitSpec] = Field(default_factory=list)
    maintenance_configurations: list[MaintenanceConfigurationSpec] = Field(default_factory=list)


class SubscriptionSpec(_Spec):
    id: str
    name: str
    resource_groups: list[ResourceGroupSpec] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def check_plain_id(cls, value: str) -> str:
        if not value or "/" in value or "?" in value:
            raise ValueError("a subscription id is a plain GUID-like string")
        return value


class FleetSpec(_Spec):
    """Generates many similar VPN gateways, sites, connections and ExpressRoute circuits
    (benchmarks)."""

    subscription: str
    subscription_name: str | None = None
    name_prefix: str = "fleet"
    regions: list[str] = Field(min_length=1)
    gateways: int = Field(ge=1, le=10000)
    connections_per_gateway: int = Field(4, ge=0, le=30)
    sites_per_region: int = Field(50, ge=1)
    sku: str = "VpnGw2AZ"
    active_active_every: int = Field(2, ge=0)  # every Nth gateway is active/active; 0 = none
    zones: list[list[str] | None] = Field(
        default_factory=lambda: [["1"], ["2"], ["3"], ["1", "2", "3"]]
    )
    asn: int | None = Field(65515, ge=1, le=4294967295)
    bgp: bool = True
    routes_per_site: int = Field(8, ge=0, le=10000)
    circuits: int = Field(0, ge=0, le=2000)  # ExpressRoute circuits with a private peering
    routes_per_circuit: int = Field(20, ge=0, le=10000)

    @field_validator("zones")
    @classmethod
    def check_zone_cycle(cls, value: list[list[str] | None]) -> list[list[str] | None]:
        if not value:
            raise ValueError("zones needs at least one entry (null = non-zonal)")
        return [_check_zones(z) for z in value]


class TopologySpec(_Spec):
    subscriptions: list[SubscriptionSpec] = Field(default_factory=list)
    generate: list[FleetSpec] = Field(default_factory=list)


# --- timeline ------------------------------------------------------------------------------


class _Fault(_Spec):
    at: float = Field(ge=0)
    duration: float | None = Field(None, gt=0)
    id: str | None = None


class InstanceFailure(_Fault):
    kind: Literal["instance_failure"]
    gateway: str
    instance: Literal[0, 1]
    failover_seconds: float = Field(45.0, ge=0)


class PlannedMaintenance(_Fault):
    kind: Literal["planned_maintenance"]
    gateway: str
    interruption_seconds: float = Field(3.0, ge=0)
    duration: float | None = Field(60.0, gt=0)


class TunnelDown(_Fault):
    kind: Literal["tunnel_down"]
    connection: str
    instance: Literal[0, 1] | None = None  # only this tunnel of an active/active connection


class SiteDown(_Fault):
    kind: Literal["site_down"]
    site: str


class Flap(_Fault):
    kind: Literal["flap"]
    connection: str
    count: int = Field(ge=1, le=1000)
    period: float = Field(gt=0)


class BgpPeerDown(_Fault):
    kind: Literal["bgp_peer_down"]
    gateway: str
    neighbor: str  # the neighbor's BGP address or the local network gateway's name
    instance: Literal[0, 1] | None = None
    state: Literal["Idle", "Connecting", "Stopped", "Unknown"] = "Idle"


class RoutesWithdrawn(_Fault):
    kind: Literal["routes_withdrawn"]
    gateway: str
    neighbor: str
    routes: int = Field(ge=0)


class CircuitLinkDown(_Fault):
    kind: Literal["circuit_link_down"]
    circuit: str
    link: Literal["primary", "secondary"]
    state: Literal["Idle", "Active", "Connect"] = "Idle"


class CircuitDown(_Fault):
    kind: Literal["circuit_down"]
    circuit: str


class ZoneOutage(_Fault):
    kind: Literal["zone_outage"]
    region: str
    zone: Literal["1", "2", "3"]
    failover_seconds: float = Field(45.0, ge=0)


class _ApiFault(_Fault):
    """A fault of the API rather than the network: every request it covers, or only those to
    one `subscription` (an id) and/or whose path contains `match` (e.g. `/connections`,
    `metrics:getBatch`). See `emulator/faults.py`."""

    subscription: str | None = None
    match: str | None = Field(None, min_length=1)


class Throttle(_ApiFault):
    kind: Literal["throttle"]
    retry_after: float = Field(30.0, gt=0)


class ApiUnavailable(_ApiFault):
    kind: Literal["api_unavailable"]
    retry_after: float = Field(10.0, gt=0)


class AuthFailure(_ApiFault):
    kind: Literal["auth_failure"]


class SlowResponses(_ApiFault):
    """Every covered request is answered `delay` scenario seconds late (then normally)."""

    kind: Literal["slow_responses"]
    delay: float = Field(gt=0)


class NoResponse(_ApiFault):
    """Covered requests get no answer: the connection is held open and silent (for ten
    scenario minutes, even past the fault's end), so clients meet their read timeout."""

    kind: Literal["no_response"]


class PacketDrops(_Fault):
    """A tunnel stays Connected while it drops packets (Azure Monitor's
    `Tunnel*PacketDropCount` climb; ARM's connection status does not change)."""

    kind: Literal["packet_drops"]
    connection: str
    instance: Literal[0, 1] | None = None
    per_second: float = Field(50.0, gt=0)


class MetricsFailure(_Fault):
    """The metrics batch API cannot read this gateway's metrics: its entries in a batch come
    back with an `errorCode`, the other resources of the batch are unaffected."""

    kind: Literal["metrics_failure"]
    gateway: str


class _Lifecycle(_Spec):
    """A resource that appears (`create`) or disappears (`delete`) at `at`: name exactly one
    of gateway, connection, site or circuit. A gateway's connections share its lifetime."""

    at: float = Field(ge=0)
    gateway: str | None = None
    connection: str | None = None
    site: str | None = None
    circuit: str | None = None

    @property
    def target(self) -> tuple[str, str]:
        for kind in ("gateway", "connection", "site", "circuit"):
            name = getattr(self, kind)
            if name is not None:
                return kind, name
        return "", ""


class Create(_Lifecycle):
    kind: Literal["create"]


class Delete(_Lifecycle):
    kind: Literal["delete"]


class Recover(_Spec):
    kind: Literal["recover"]
    at: float = Field(ge=0)
    fault: str  # the `id` of the fault this ends


Fault = Annotated[
    InstanceFailure
    | PlannedMaintenance
    | TunnelDown
    | SiteDown
    | Flap
    | BgpPeerDown
    | RoutesWithdrawn
    | CircuitLinkDown
    | CircuitDown
    | ZoneOutage
    | Throttle
    | ApiUnavailable
    | AuthFailure
    | SlowResponses
    | NoResponse
    | PacketDrops
    | MetricsFailure
    | Create
    | Delete
    | Recover,
    Field(discriminator="kind"),
]

FAULT_KINDS = (
    "instance_failure",
    "planned_maintenance",
    "tunnel_down",
    "site_down",
    "flap",
    "bgp_peer_down",
    "routes_withdrawn",
    "circuit_link_down",
    "circuit_down",
    "zone_outage",
    "throttle",
    "api_unavailable",
    "auth_failure",
    "slow_responses",
    "no_response",
    "packet_drops",
    "metrics_failure",
    "create",
    "delete",
    "recover",
)


# --- noise ---------------------------------------------------------------------------------


class MissedPoll(_Spec):
    at: float = Field(ge=0)
    match: str = Field(min_length=1)  # substring of the request path
    count: int = Field(1, ge=1)


class NoiseSpec(_Spec):
    counter_jitter: float = Field(0.0, ge=0, le=0.9)  # relative; `true` means 0.1
    missed_polls: list[MissedPoll] = Field(default_factory=list)
    resource_health_delay: float = Field(60.0, ge=0)  # scenario seconds Resource Health lags

    @field_validator("counter_jitter", mode="before")
    @classmethod
    def check_bool_jitter(cls, value: Any) -> Any:
        if value is True:
            return 0.1
        if value is False or value is None:
            return 0.0
        return value


# --- throttling ----------------------------------------------------------------------------


class BucketSpec(_Spec):
    capacity: int = Field(ge=1)
    refill_per_second: float = Field(ge=0)


class GraphQuotaSpec(_Spec):
    """Azure Resource Graph's per-caller quota: `queries` per `window_seconds` window."""

    queries: int = Field(15, ge=1)
    window_seconds: float = Field(5.0, gt=0)


class ThrottlingSpec(_Spec):
    """ARM's per-subscription request limits (see `emulator/throttling.py` for the sources).

    `bucket` is today's model (reads 250 refilled at 25/s, writes 200 at 10/s), `hourly` the
    older one (12,000 reads and 1,200 writes per hour), `off` reports the bucket in the headers
    but never answers 429. `reads` / `writes` replace the model's bucket.
    """

    model: Literal["bucket", "hourly", "off"] = "bucket"
    reads: BucketSpec | None = None
    writes: BucketSpec | None = None
    resource_graph: GraphQuotaSpec = Field(default_factory=GraphQuotaSpec)


class ScenarioSpec(_Spec):
    name: str
    description: str = ""
    duration: float = Field(gt=0)
    seed: int = 0
    topology: TopologySpec
    timeline: list[Fault] = Field(default_factory=list)
    noise: NoiseSpec = Field(default_factory=NoiseSpec)
    throttling: ThrottlingSpec = Field(default_factory=ThrottlingSpec)
    agent: dict[str, Any] = Field(default_factory=dict)
    expect: list[dict[str, Any]] = Field(default_factory=list)


# --- the loaded scenario ---------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Scenario:
    """A validated scenario with generated fleets expanded into plain topology."""

    spec: ScenarioSpec
    source: str

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def description(self) -> str:
        return self.spec.description

    @property
    def duration_seconds(self) -> float:
        return float(self.spec.duration)

    @property
    def seed(self) -> int:
        return self.spec.seed

    @property
    def subscription_ids(self) -> list[str]:
        return [s.id for s in self.spec.topology.subscriptions]

    @property
    def agent(self) -> dict[str, Any]:
        return self.spec.agent

    @property
    def expect(self) -> list[dict[str, Any]]:
        return self.spec.expect

    @property
    def timeline(self) -> list[Any]:
        return list(self.spec.timeline)


def scenario_path(path_or_name: str | Path) -> Path:
    """A shipped scenario name (`quiet`) or a path to a YAML file."""
    candidate = Path(path_or_name)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists() or len(candidate.parts) > 1:
        return candidate
    return SCENARIO_DIR / f"{path_or_name}.yaml"


def shipped_scenarios() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def load_scenario(path_or_name: str | Path) -> Scenario:
    path = scenario_path(path_or_name)
    source = str(path)
    if not path.is_file():
        known = ", ".join(shipped_scenarios())
        raise ScenarioError(source, [f"no such scenario file (shipped scenarios: {known})"])
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ScenarioError(source, [f"not valid YAML: {exc}"]) from exc
    return parse_scenario(raw, source=source)


def parse_scenario(raw: Any, *, source: str = "<scenario>") -> Scenario:
    """Validate an already-parsed YAML document."""
    if not isinstance(raw, dict):
        raise ScenarioError(source, ["the document must be a mapping with name, duration, ..."])
    try:
        spec = ScenarioSpec.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(source, [_describe(err) for err in exc.errors()]) from None
    spec = _expand_fleets(spec, source)
    problems = list(_cross_check(spec))
    if problems:
        raise ScenarioError(source, problems)
    return Scenario(spec=spec, source=source)


def _describe(err: Any) -> str:
    parts: list[str] = []
    for item in err["loc"]:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in FAULT_KINDS and parts and parts[-1].endswith("]"):
            continue  # the discriminator tag pydantic inserts for timeline entries
        else:
            parts.append(("." if parts else "") + str(item))
    key = "".join(parts) or "(top level)"
    message = err["msg"]
    if err["type"] == "extra_forbidden":
        message = "unknown key"
    elif err["type"] == "union_tag_invalid":
        message = f"unknown fault kind; expected one of: {', '.join(FAULT_KINDS)}"
    return f"{key}: {message}"


# --- fleet generation ------------------------------------------------------------------------

_SITE_BLOCKS = ("203.0.113.0/24", "198.51.100.0/24", "192.0.2.0/24")


def _site_addresses() -> Iterator[str]:
    for block in _SITE_BLOCKS:
        for host in ipaddress.IPv4Network(block).hosts():
            yield str(host)


def _expand_fleets(spec: ScenarioSpec, source: str) -> ScenarioSpec:
    if not spec.topology.generate:
        return spec
    subscriptions = {s.id: s.model_dump() for s in spec.topology.subscriptions}
    order = [s.id for s in spec.topology.subscriptions]
    used_site_ips = {
        site.gateway_ip
        for sub in spec.topology.subscriptions
        for rg in sub.resource_groups
        for site in rg.local_network_gateways
    }
    site_ips = (ip for ip in _site_addresses() if ip not in used_site_ips)
    link_prefixes = _link_prefixes()
    for index, fleet in enumerate(spec.topology.generate):
        if fleet.subscription not in subscriptions:
            subscriptions[fleet.subscription] = {
                "id": fleet.subscription,
                "name": fleet.subscription_name or f"{fleet.name_prefix}-subscription",
                "resource_groups": [],
            }
            order.append(fleet.subscription)
        groups = _fleet_groups(fleet, site_ips, f"topology.generate[{index}]", source)
        _fleet_circuits(fleet, groups, link_prefixes)
        subscriptions[fleet.subscription]["resource_groups"].extend(groups)
    topology = {"subscriptions": [subscriptions[i] for i in order], "generate": []}
    raw = spec.model_dump()
    raw["topology"] = topology
    try:
        return ScenarioSpec.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(source, [_describe(err) for err in exc.errors()]) from None


def _link_prefixes() -> Iterator[str]:
    """/30s for generated ExpressRoute peering links, from 100.64.0.0/10 (shared space)."""
    for subnet in ipaddress.IPv4Network("100.64.0.0/10").subnets(new_prefix=30):
        yield str(subnet)


def _fleet_circuits(
    fleet: FleetSpec, groups: list[dict[str, Any]], link_prefixes: Iterator[str]
) -> None:
    """Circuits with a private peering, spread over the fleet's regions."""
    for i in range(fleet.circuits):
        rg = groups[i % len(groups)]
        rg.setdefault("expressroute_circuits", []).append(
            {
                "name": f"{fleet.name_prefix}-er-{i:04d}",
                "provider": ("Equinix", "Megaport", "AT&T")[i % 3],
                "peering_location": ("Amsterdam", "London", "Frankfurt", "Washington DC")[i % 4],
                "bandwidth_mbps": (1000, 2000, 10000)[i % 3],
                "private_peering": {
                    "peer_asn": 65000 + i % 500,
                    "primary_prefix": next(link_prefixes),
                    "secondary_prefix": next(link_prefixes),
                    "vlan_id": 100 + i % 3900,
                    "routes": fleet.routes_per_circuit,
                },
            }
        )


def _fleet_groups(
    fleet: FleetSpec, site_ips: Iterator[str], key: str, source: str
) -> list[dict[str, Any]]:
    prefix = fleet.name_prefix
    groups: dict[str, dict[str, Any]] = {}
    site_counter = 0
    for region in fleet.regions:
        rg: dict[str, Any] = {
            "name": f"rg-{prefix}-{region}",
            "location": region,
            "vnets": [],
            "local_network_gateways": [],
            "vpn_gateways": [],
        }
        for j in range(fleet.sites_per_region):
            try:
                ip = next(site_ips)
            except StopIteration:
                raise ScenarioError(
                    source,
                    [
                        f"{key}.sites_per_region: more generated sites than documentation "
                        "addresses (762 at most across all fleets)"
                    ],
                ) from None
            octet2, octet3 = divmod(site_counter, 256)
            site: dict[str, Any] = {
                "name": f"{prefix}-site-{region}-{j:03d}",
                "gateway_ip": ip,
                "prefixes": [f"172.{16 + octet2 % 16}.{octet3}.0/24"],
            }
            if fleet.bgp:
                site["bgp"] = {
                    "asn": 64512 + site_counter % 1000,
                    "peering_address": f"172.{16 + octet2 % 16}.{octet3}.254",
                    "routes": fleet.routes_per_site,
                }
            rg["local_network_gateways"].append(site)
            site_counter += 1
        groups[region] = rg
    for g in range(fleet.gateways):
        region = fleet.regions[g % len(fleet.regions)]
        rg = groups[region]
        name = f"{prefix}-vpngw-{g:04d}"
        rg["vnets"].append({"name": f"{prefix}-vnet-{g:04d}"})
        sites = rg["local_network_gateways"]
        connections = []
        for k in range(fleet.connections_per_gateway):
            site = sites[(g // len(fleet.regions) * fleet.connections_per_gateway + k) % len(sites)]
            connections.append({"name": f"{name}-cn{k}", "site": site["name"], "bgp": fleet.bgp})
        gateway: dict[str, Any] = {
            "name": name,
            "vnet": f"{prefix}-vnet-{g:04d}",
            "sku": fleet.sku,
            "active_active": bool(fleet.active_active_every) and g % fleet.active_active_every == 0,
            "asn": fleet.asn,
            "connections": connections,
        }
        zones = fleet.zones[g % len(fleet.zones)]
        if zones is not None:
            gateway["zones"] = zones
        rg["vpn_gateways"].append(gateway)
    return list(groups.values())


# --- cross references ------------------------------------------------------------------------


def _cross_check(spec: ScenarioSpec) -> Iterable[str]:
    gateways: dict[str, str] = {}
    vpn_gateways: dict[str, VpnGatewaySpec] = {}
    connections: dict[str, ConnectionSpec] = {}
    connection_gateway: dict[str, str] = {}
    sites: dict[str, SiteSpec] = {}
    circuits: dict[str, CircuitSpec] = {}
    regions: set[str] = set()
    names: dict[str, dict[str, str]] = {"gateway": {}, "connection": {}, "site": {}, "circuit": {}}

    def unique(kind: str, name: str, key: str) -> Iterable[str]:
        seen = names[kind].get(name.lower())
        if seen is not None:
            yield f"{key}.name: {kind} name {name!r} is already used at {seen}"
        names[kind][name.lower()] = key

    seen_subs: set[str] = set()
    for si, sub in enumerate(spec.topology.subscriptions):
        skey = f"topology.subscriptions[{si}]"
        if sub.id.lower() in seen_subs:
            yield f"{skey}.id: subscription {sub.id!r} is listed twice"
        seen_subs.add(sub.id.lower())
        seen_rgs: set[str] = set()
        for ri, rg in enumerate(sub.resource_groups):
            rkey = f"{skey}.resource_groups[{ri}]"
            if rg.name.lower() in seen_rgs:
                yield f"{rkey}.name: resource group {rg.name!r} is listed twice"
            seen_rgs.add(rg.name.lower())
            regions.add(rg.location.lower())
            vnets = {v.name.lower() for v in rg.vnets}
            if len(vnets) != len(rg.vnets):
                yield f"{rkey}.vnets: vnet names repeat"
            for i, site in enumerate(rg.local_network_gateways):
                yield from unique("site", site.name, f"{rkey}.local_network_gateways[{i}]")
                sites[site.name.lower()] = site
            for i, circuit in enumerate(rg.expressroute_circuits):
                yield from unique("circuit", circuit.name, f"{rkey}.expressroute_circuits[{i}]")
                circuits[circuit.name.lower()] = circuit
                if circuit.private_peering is None and circuit.microsoft_peering is None:
                    yield (
                        f"{rkey}.expressroute_circuits[{i}]: a circuit needs private_peering "
                        "or microsoft_peering"
                    )
                if circuit.location:
                    regions.add(circuit.location.lower())
            for field, group in (
                ("vpn_gateways", rg.vpn_gateways),
                ("expressroute_gateways", rg.expressroute_gateways),
            ):
                for i, gw in enumerate(group):
                    gkey = f"{rkey}.{field}[{i}]"
                    yield from unique("gateway", gw.name, gkey)
                    gateways[gw.name.lower()] = gkey
                    if isinstance(gw, VpnGatewaySpec):
                        vpn_gateways[gw.name.lower()] = gw
                    if gw.vnet.lower() not in vnets:
                        yield f"{gkey}.vnet: no vnet {gw.vnet!r} in resource group {rg.name!r}"
                    if gw.instance_zones is not None and gw.zones is None:
                        yield f"{gkey}.instance_zones: only a zonal gateway has instance zones"
                    if gw.instance_zones is not None and gw.zones is not None:
                        for zone in gw.instance_zones:
                            if zone not in gw.zones:
                                yield (
                                    f"{gkey}.instance_zones: zone {zone!r} is not in the "
                                    f"gateway's zones {gw.zones}"
                                )
                    for ci, conn in enumerate(gw.connections):
                        ckey = f"{gkey}.connections[{ci}]"
                        yield from unique("connection", conn.name, ckey)
                        connections[conn.name.lower()] = conn
                        connection_gateway[conn.name.lower()] = gw.name.lower()
                        if field == "vpn_gateways" and (
                            (conn.site is None) == (conn.peer_gateway is None) or conn.circuit
                        ):
                            yield (
                                f"{ckey}.site: a VPN connection names its site or its "
                                "peer_gateway (one of them, and no circuit)"
                            )
                        if field == "expressroute_gateways" and (
                            conn.circuit is None or conn.site or conn.peer_gateway
                        ):
                            yield (
                                f"{ckey}.circuit: an ExpressRoute connection names its circuit "
                                "(and no site)"
                            )
    for gkey, owner, conn in _all_connections(spec):
        ckey = gkey
        if conn.peer_gateway is not None:
            yield from _check_peer_gateway(ckey, owner, conn, vpn_gateways)
        if conn.site is not None and conn.site.lower() not in sites:
            yield f"{ckey}.site: no local network gateway named {conn.site!r}"
        if conn.circuit is not None and conn.circuit.lower() not in circuits:
            yield f"{ckey}.circuit: no ExpressRoute circuit named {conn.circuit!r}"
        if conn.circuit is not None:
            circuit = circuits.get(conn.circuit.lower())
            if circuit is not None and circuit.private_peering is None:
                yield f"{ckey}.circuit: circuit {conn.circuit!r} has no private_peering to connect"
        if conn.bgp and conn.site is not None:
            site = sites.get(conn.site.lower())
            if site is not None and site.bgp is None:
                yield f"{ckey}.bgp: site {conn.site!r} has no bgp settings"
    for si, sub in enumerate(spec.topology.subscriptions):
        for ri, rg in enumerate(sub.resource_groups):
            for mi, mc in enumerate(rg.maintenance_configurations):
                mkey = (
                    f"topology.subscriptions[{si}].resource_groups[{ri}]."
                    f"maintenance_configurations[{mi}]"
                )
                for name in mc.gateways:
                    if name.lower() not in gateways:
                        yield f"{mkey}.gateways: no gateway named {name!r}"
                try:
                    iana_zone(mc.time_zone)
                except ValueError as exc:
                    yield f"{mkey}.time_zone: {exc}"

    ids = {f.id: i for i, f in enumerate(spec.timeline) if getattr(f, "id", None)}
    recovered: set[str] = set()
    for i, fault in enumerate(spec.timeline):
        key = f"timeline[{i}]"
        if isinstance(fault, Recover):
            target = ids.get(fault.fault)
            if target is None:
                yield f"{key}.fault: no timeline entry has id {fault.fault!r}"
                continue
            original = spec.timeline[target]
            if fault.fault in recovered:
                yield f"{key}.fault: {fault.fault!r} is already recovered"
            recovered.add(fault.fault)
            if isinstance(original, Flap | PlannedMaintenance):
                yield f"{key}.fault: a {original.kind} ends by itself; it cannot be recovered"
            elif getattr(original, "duration", None) is not None:
                yield f"{key}.fault: {fault.fault!r} already has a duration"
            if fault.at <= original.at:
                yield f"{key}.at: the recovery must come after the fault (at {original.at})"
            continue
        if isinstance(fault, Create | Delete):
            yield from _check_lifecycle(fault, key, gateways, connections, sites, circuits)
            continue
        if isinstance(fault, Flap) and fault.duration is not None:
            yield f"{key}.duration: a flap lasts count x period; drop duration"
        gateway = getattr(fault, "gateway", None)
        if gateway is not None and gateway.lower() not in gateways:
            yield f"{key}.gateway: no gateway named {gateway!r}"
        connection = getattr(fault, "connection", None)
        if connection is not None and connection.lower() not in connections:
            yield f"{key}.connection: no connection named {connection!r}"
        site = getattr(fault, "site", None)
        if isinstance(fault, SiteDown) and site.lower() not in sites:
            yield f"{key}.site: no local network gateway named {site!r}"
        circuit = getattr(fault, "circuit", None)
        if circuit is not None and circuit.lower() not in circuits:
            yield f"{key}.circuit: no ExpressRoute circuit named {circuit!r}"
        if isinstance(fault, ZoneOutage) and fault.region.lower() not in regions:
            yield f"{key}.region: no resource group is in region {fault.region!r}"
        if isinstance(fault, BgpPeerDown | RoutesWithdrawn) and gateway is not None:
            gw = vpn_gateways.get(gateway.lower())
            if gw is None:
                if gateway.lower() in gateways:
                    yield f"{key}.gateway: {gateway!r} is not a VPN gateway"
                continue
            neighbors = _neighbors_of(gw, sites)
            if fault.neighbor.lower() not in neighbors:
                known = ", ".join(sorted(neighbors)) or "none"
                yield (
                    f"{key}.neighbor: {fault.neighbor!r} is not a BGP neighbor of "
                    f"{gw.name!r} (known: {known})"
                )
        if isinstance(fault, TunnelDown) and fault.instance == 1:
            owner = vpn_gateways.get(connection_gateway.get(fault.connection.lower(), ""))
            if owner is not None and not owner.active_active:
                yield f"{key}.instance: an active/standby connection has a single tunnel (0)"


def _check_lifecycle(
    event: Create | Delete,
    key: str,
    gateways: dict[str, str],
    connections: dict[str, ConnectionSpec],
    sites: dict[str, SiteSpec],
    circuits: dict[str, CircuitSpec],
) -> Iterable[str]:
    named = [k for k in ("gateway", "connection", "site", "circuit") if getattr(event, k)]
    if len(named) != 1:
        yield f"{key}: a {event.kind} names exactly one of gateway, connection, site, circuit"
        return
    kind, name = event.target
    known = {"gateway": gateways, "connection": connections, "site": sites, "circuit": circuits}
    if name.lower() not in known[kind]:
        yield f"{key}.{kind}: no {kind} named {name!r}"


def _check_peer_gateway(
    key: str, owner: str, conn: ConnectionSpec, vpn_gateways: dict[str, VpnGatewaySpec]
) -> Iterable[str]:
    peer = vpn_gateways.get((conn.peer_gateway or "").lower())
    if peer is None:
        yield f"{key}.peer_gateway: no VPN gateway named {conn.peer_gateway!r}"
        return
    if peer.name.lower() == owner.lower():
        yield f"{key}.peer_gateway: a gateway cannot connect to itself"
    if conn.bgp:
        local = vpn_gateways.get(owner.lower())
        if peer.asn is None or local is None or local.asn is None:
            yield f"{key}.bgp: both gateways of a Vnet2Vnet connection need an asn for BGP"
        elif peer.asn == local.asn:
            yield f"{key}.bgp: the two gateways need different ASNs for BGP (both {peer.asn})"


def _all_connections(spec: ScenarioSpec) -> Iterable[tuple[str, str, ConnectionSpec]]:
    for si, sub in enumerate(spec.topology.subscriptions):
        for ri, rg in enumerate(sub.resource_groups):
            for field, group in (
                ("vpn_gateways", rg.vpn_gateways),
                ("expressroute_gateways", rg.expressroute_gateways),
            ):
                for gi, gw in enumerate(group):
                    for ci, conn in enumerate(gw.connections):
                        key = (
                            f"topology.subscriptions[{si}].resource_groups[{ri}]."
                            f"{field}[{gi}].connections[{ci}]"
                        )
                        yield key, gw.name, conn


def _neighbors_of(gw: VpnGatewaySpec, sites: dict[str, SiteSpec]) -> set[str]:
    """Sites by BGP address or name; Vnet2Vnet peer gateways by name (their addresses are
    derived from the topology)."""
    found: set[str] = set()
    for conn in gw.connections:
        site = sites.get((conn.site or "").lower())
        if conn.bgp and site is not None and site.bgp is not None:
            found.add(site.bgp.peering_address)
            found.add(site.name.lower())
        if conn.bgp and conn.peer_gateway is not None:
            found.add(conn.peer_gateway.lower())
    return found
