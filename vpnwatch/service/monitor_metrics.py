"""Azure Monitor platform metrics on `/metrics`: the newest grain of each series the metrics
collector read, under the labels of the fleet series they belong to.

Tunnel series carry `subscription`, `resource_group`, `gateway` and `connection`, like
`vpnwatch_tunnel_up`, so PromQL joins them on those labels. `azure_instance` is Azure's gateway
instance (`GatewayTenantWorker_IN_0`/`_IN_1`): on an active/standby gateway it is not the IP
configuration that `gateway_instance` names, and `instance` is Prometheus' own target label.
A series appears once Azure has aggregated a grain for it (metrics land minutes late) and goes
when no grain has come for half an hour.
"""

from __future__ import annotations

from collections.abc import Callable

from vpnwatch.correlate.azuremonitor import MonitorMemory
from vpnwatch.observations import MetricObserved
from vpnwatch.resourceids import name_of, resource_group_of, resource_type_of, subscription_of

Labels = dict[str, str]
Add = Callable[[str, float, Labels], None]

# (exported name, description, unit) of every metric; the Azure metric names map onto them below
INSTRUMENTS: tuple[tuple[str, str, str], ...] = (
    ("vpnwatch_azure_tunnel_bandwidth_bytes_per_second",
     "Azure Monitor TunnelAverageBandwidth of a connection's tunnel (newest grain)", "By/s"),
    ("vpnwatch_azure_tunnel_bytes",
     "Azure Monitor TunnelIngressBytes/TunnelEgressBytes over the newest grain", "By"),
    ("vpnwatch_azure_tunnel_packet_drops",
     "Azure Monitor tunnel packet drops over the newest grain (all, or traffic-selector "
     "mismatch)", "1"),
    ("vpnwatch_azure_gateway_bandwidth_bytes_per_second",
     "Azure Monitor AverageBandwidth (site-to-site) of a gateway instance", "By/s"),
    ("vpnwatch_azure_bgp_routes", "Azure Monitor BgpRoutesLearned/BgpRoutesAdvertised", "1"),
    ("vpnwatch_azure_p2s_connections",
     "Azure Monitor P2SConnectionCount: point-to-site users connected", "1"),
    ("vpnwatch_azure_p2s_bandwidth_bytes_per_second", "Azure Monitor P2SBandwidth", "By/s"),
    ("vpnwatch_azure_expressroute_gateway_cpu_percent",
     "Azure Monitor ExpressRouteGatewayCpuUtilization", "%"),
    ("vpnwatch_azure_expressroute_gateway_bits_per_second",
     "Azure Monitor ExpressRouteGatewayBitsPerSecond", "1"),
    ("vpnwatch_azure_expressroute_gateway_routes_learned",
     "Azure Monitor ExpressRouteGatewayCountOfRoutesLearnedFromPeer", "1"),
    ("vpnwatch_azure_expressroute_availability_percent",
     "Azure Monitor BgpAvailability/ArpAvailability of an ExpressRoute circuit peer", "%"),
    ("vpnwatch_azure_expressroute_bits_per_second",
     "Azure Monitor BitsInPerSecond/BitsOutPerSecond of an ExpressRoute circuit link", "1"),
    ("vpnwatch_azure_metric_grain_timestamp_seconds",
     "Unix time of the newest Azure Monitor grain read, per resource", "s"),
)  # fmt: skip

# Azure metric -> (exported name, extra fixed labels)
_MAP: dict[str, tuple[str, Labels]] = {
    "TunnelAverageBandwidth": ("vpnwatch_azure_tunnel_bandwidth_bytes_per_second", {}),
    "TunnelIngressBytes": ("vpnwatch_azure_tunnel_bytes", {"direction": "ingress"}),
    "TunnelEgressBytes": ("vpnwatch_azure_tunnel_bytes", {"direction": "egress"}),
    "TunnelIngressPacketDropCount": (
        "vpnwatch_azure_tunnel_packet_drops", {"direction": "ingress", "reason": "all"}),
    "TunnelEgressPacketDropCount": (
        "vpnwatch_azure_tunnel_packet_drops", {"direction": "egress", "reason": "all"}),
    "TunnelIngressPacketDropTSMismatch": (
        "vpnwatch_azure_tunnel_packet_drops", {"direction": "ingress", "reason": "ts_mismatch"}),
    "TunnelEgressPacketDropTSMismatch": (
        "vpnwatch_azure_tunnel_packet_drops", {"direction": "egress", "reason": "ts_mismatch"}),
    "AverageBandwidth": ("vpnwatch_azure_gateway_bandwidth_bytes_per_second", {}),
    "BgpRoutesLearned": ("vpnwatch_azure_bgp_routes", {"direction": "learned"}),
    "BgpRoutesAdvertised": ("vpnwatch_azure_bgp_routes", {"direction": "advertised"}),
    "P2SConnectionCount": ("vpnwatch_azure_p2s_connections", {}),
    "P2SBandwidth": ("vpnwatch_azure_p2s_bandwidth_bytes_per_second", {}),
    "ExpressRouteGatewayCpuUtilization": ("vpnwatch_azure_expressroute_gateway_cpu_percent", {}),
    "ExpressRouteGatewayBitsPerSecond": (
        "vpnwatch_azure_expressroute_gateway_bits_per_second", {}),
    "ExpressRouteGatewayCountOfRoutesLearnedFromPeer": (
        "vpnwatch_azure_expressroute_gateway_routes_learned", {}),
    "BgpAvailability": ("vpnwatch_azure_expressroute_availability_percent", {"protocol": "bgp"}),
    "ArpAvailability": ("vpnwatch_azure_expressroute_availability_percent", {"protocol": "arp"}),
    "BitsInPerSecond": ("vpnwatch_azure_expressroute_bits_per_second", {"direction": "in"}),
    "BitsOutPerSecond": ("vpnwatch_azure_expressroute_bits_per_second", {"direction": "out"}),
}  # fmt: skip

# Azure dimension (lower-cased, as Azure returns it) -> label
_DIMENSIONS = {
    "connectionname": "connection",
    "instance": "azure_instance",
    "roleinstance": "azure_instance",
    "bgppeeraddress": "neighbor",
    "protocol": "protocol",
    "peeringtype": "peering",
    "peer": "peer",
    "devicerole": "device_role",
}


def _resource_labels(resource_id: str) -> Labels:
    labels: Labels = {"subscription": subscription_of(resource_id).lower()}
    group = resource_group_of(resource_id)
    if group:
        labels["resource_group"] = group
    kind = resource_type_of(resource_id).lower()
    labels["circuit" if kind == "expressroutecircuits" else "gateway"] = name_of(resource_id)
    return labels


def resource_labels(resource_id: str) -> Labels:
    """`subscription`, `resource_group` and `gateway` or `circuit`: a resource's series labels."""
    return _resource_labels(resource_id)


def labels_of(m: MetricObserved) -> Labels:
    labels = _resource_labels(m.resource_id)
    for name, value in m.dimensions:
        label = _DIMENSIONS.get(name)
        if label is not None:
            labels[label] = value
    return labels


def export(add: Add, memory: MonitorMemory) -> None:
    """Every series the memory holds, through `add(name, value, labels)`."""
    newest: dict[str, MetricObserved] = {}
    for m in memory.latest.values():
        mapped = _MAP.get(m.metric)
        if mapped is None:
            continue
        name, fixed = mapped
        add(name, m.value, {**labels_of(m), **fixed})
        held = newest.get(m.resource_id.lower())
        if held is None or m.at > held.at:
            newest[m.resource_id.lower()] = m
    for m in newest.values():
        add("vpnwatch_azure_metric_grain_timestamp_seconds", m.at.timestamp(),
            _resource_labels(m.resource_id))  # fmt: skip
