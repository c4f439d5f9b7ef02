"""Azure Monitor's metrics batch API (`metrics:getBatch`) on loopback, driven by the timeline.

`POST /subscriptions/{sub}/metrics:getBatch?starttime=&endtime=&interval=&metricnamespace=
&metricnames=&aggregation=&filter=&top=` with `{"resourceids": [...]}`, answered in the shape of
`metrics/MetricBatchExample.json` (Azure/azure-rest-api-specs, specification/monitor/data-plane/
Microsoft.Insights/stable/2024-02-01). What Azure enforces, this enforces:

* at most 50 resource ids per call, all in the URL's subscription, one region, one namespace
  (learn.microsoft.com/azure/azure-monitor/metrics/migrate-to-batch-api, "Batching
  restrictions"); anything else is a `400 BadRequest` for the whole call;
* the grain: VPN tunnel, BGP and S2S bandwidth metrics exist from PT5M, P2S and ExpressRoute
  metrics from PT1M (the supported-metrics tables); a finer `interval` is a `400`;
* latency: a grain's point only appears `LATENCY_SECONDS` after the grain closed (Azure Monitor
  aggregates late and is eventually consistent); until then the point carries only `timeStamp`,
  exactly like a point with no data;
* splitting: only the dimensions named in `filter` split a metric into series, and with a
  filter only `top` series (default 10) come back;
* throttling: 360,000 calls per hour per subscription (Microsoft Q&A "What are the REST API calls
  per hour limitations" for the metrics data-plane API, against 12,000 for ARM's metrics API;
  the migration guide above: throttled calls are to be retried with backoff), held as a bucket
  the size of the hourly limit refilled evenly, 429 with the wait when it is empty;
* a resource that cannot be read (for example deleted since the caller listed it) fails alone:
  its metrics come back with `errorCode`/`errorMessage` and no time series, the others succeed
  (`Metric.errorCode` in the 2024-02-01 spec: "'Success' or the error details on query failures
  for this metric").
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from vpnwatch.emulator.arm import Reply, error
from vpnwatch.emulator.instances import carrier_at, instance_name, switches
from vpnwatch.emulator.p2s import p2s_sessions
from vpnwatch.emulator.scenario import BucketSpec
from vpnwatch.emulator.throttling import TokenBucket
from vpnwatch.emulator.topology import Circuit, Connection, Gateway
from vpnwatch.emulator.traffic import retry_headers
from vpnwatch.emulator.world import World
from vpnwatch.resourceids import provider_type_of, subscription_of

MAX_RESOURCE_IDS = 50
CALLS_PER_HOUR = 360_000  # per subscription
LATENCY_SECONDS = 180.0  # a grain's aggregate lands this long after the grain closed
DEFAULT_TOP = 10
BATCH_PATH = re.compile(r"^/subscriptions/([^/]+)/metrics:getbatch$", re.IGNORECASE)

GATEWAYS = "microsoft.network/virtualnetworkgateways"
CIRCUITS = "microsoft.network/expressroutecircuits"

Dims = tuple[tuple[str, str], ...]
# (scenario seconds at the grain's start, grain seconds) -> {dimensions: value}
Sampler = Callable[[Any, float, float], dict[Dims, float]]


@dataclass(frozen=True)
class MetricDef:
    name: str
    unit: str
    dimensions: tuple[str, ...]
    min_grain: float  # seconds
    combine: str  # how series merge when a dimension is not split: "sum" | "mean"
    sample: Sampler
    description: str = ""


def is_metrics_batch(path: str) -> bool:
    return BATCH_PATH.match(path) is not None


class MetricsApi:
    def __init__(self, world: World, started_at: datetime, speed: float = 1.0) -> None:
        self.world = world
        self.started_at = started_at
        self.speed = speed
        self._quota: dict[str, TokenBucket] = {}
        self.topo = world.topology
        self.defs: dict[str, dict[str, MetricDef]] = {
            GATEWAYS: {m.name.lower(): m for m in _gateway_metrics(world)},
            CIRCUITS: {m.name.lower(): m for m in _circuit_metrics(world)},
        }

    # --- the call ------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, str], body: bytes, t: float) -> Reply:
        match = BATCH_PATH.match(path)
        if match is None or method != "POST":
            return error(404, "NotFound", f"No route for '{method} {path}'.")
        sub = match.group(1)
        throttled = self._take(sub, t)
        if throttled is not None:
            return throttled
        try:
            request = json.loads(body or b"{}")
            resource_ids = [str(r) for r in request.get("resourceids") or []]
        except (ValueError, AttributeError, TypeError):
            return _bad('The request body must be {"resourceids": [...]}.')
        namespace = query.get("metricnamespace", "").lower()
        names = [n for n in query.get("metricnames", "").split(",") if n]
        if not resource_ids:
            return _bad("At least one resource id is required.")
        if len(resource_ids) > MAX_RESOURCE_IDS:
            return _bad(
                f"The batch holds {len(resource_ids)} resource ids; at most "
                f"{MAX_RESOURCE_IDS} are allowed per call."
            )
        if namespace not in self.defs:
            return _bad(f"Metric namespace '{query.get('metricnamespace', '')}' is not supported.")
        if not names:
            return _bad("metricnames is required.")
        defs = self.defs[namespace]
        unknown = [n for n in names if n.lower() not in defs]
        if unknown:
            return _bad(f"Failed to find metric configuration for {', '.join(unknown)}.")
        try:
            start, end = _when(query["starttime"]), _when(query["endtime"])
            grain = _duration(query.get("interval") or "PT1M")
        except (KeyError, ValueError) as exc:
            return _bad(f"Invalid time range or interval: {exc}.")
        for name in names:
            metric = defs[name.lower()]
            if grain < metric.min_grain:
                return _bad(
                    f"Invalid time grain {query.get('interval')} for metric {metric.name}; "
                    f"the finest supported is PT{int(metric.min_grain // 60)}M."
                )
        for rid in resource_ids:
            if subscription_of(rid).lower() != sub.lower():
                return _bad(f"Resource {rid} is not in subscription {sub}.")
            if provider_type_of(rid).lower() != namespace:
                return _bad(f"Resource {rid} is not of namespace {namespace}.")
        resources = {rid: self._resource(namespace, rid) for rid in resource_ids}
        regions = {r.location.lower() for r in resources.values() if r is not None}
        if len(regions) > 1:
            return _bad(f"All resources of a batch must be in one region, not {sorted(regions)}.")
        region = regions.pop() if regions else "unknown"
        split = _split_dimensions(query.get("filter", ""))
        top = int(query.get("top") or DEFAULT_TOP)
        values = [
            self._resource_values(
                rid,
                resources[rid],
                namespace,
                region,
                [defs[n.lower()] for n in names],
                start,
                end,
                grain,
                split,
                top,
                t,
            )
            for rid in resource_ids
        ]
        return Reply(200, {"values": values})

    def _take(self, subscription: str, t: float) -> Reply | None:
        bucket = self._quota.get(subscription.lower())
        if bucket is None:
            spec = BucketSpec(capacity=CALLS_PER_HOUR, refill_per_second=CALLS_PER_HOUR / 3600)
            bucket = self._quota[subscription.lower()] = TokenBucket(spec, t)
        wait = bucket.take(t)
        if wait is None:
            return None
        reply = error(
            429,
            "TooManyRequests",
            f"The metrics batch quota of subscription {subscription} is used up; retry later.",
        )
        reply.headers.update(retry_headers(max(wait, 1.0), self.speed))
        return reply

    # --- one resource ----------------------------------------------------------------------

    def _resource(self, namespace: str, rid: str) -> Gateway | Circuit | None:
        items = self.topo.gateways if namespace == GATEWAYS else self.topo.circuits
        return next((i for i in items if i.resource_id.lower() == rid.lower()), None)

    def _failing(self, resource: Gateway | Circuit, t: float) -> bool:
        spans = self.world.timeline.metrics_failures.get(resource.name.lower())
        return spans is not None and spans.contains(t)

    def _resource_values(
        self,
        rid: str,
        resource: Gateway | Circuit | None,
        namespace: str,
        region: str,
        metrics: list[MetricDef],
        start: datetime,
        end: datetime,
        grain: float,
        split: set[str],
        top: int,
        t: float,
    ) -> dict[str, Any]:
        blocks = []
        for metric in metrics:
            block: dict[str, Any] = {
                "id": f"{rid}/providers/Microsoft.Insights/metrics/{metric.name}",
                "type": "Microsoft.Insights/metrics",
                "name": {"value": metric.name, "localizedValue": metric.name},
                "displayDescription": metric.description,
                "unit": metric.unit,
                "timeseries": [],
            }
            if resource is None:
                block["errorCode"] = "ResourceNotFound"
                block["errorMessage"] = f"The resource {rid} was not found."
            elif self._failing(resource, t):
                block["errorCode"] = "InternalServerError"
                block["errorMessage"] = f"Metrics of {rid} could not be read; retry later."
            else:
                block["errorCode"] = "Success"
                block["timeseries"] = self._series(
                    resource, metric, start, end, grain, split, top, t
                )
            blocks.append(block)
        return {
            "starttime": _iso(start),
            "endtime": _iso(end),
            "interval": _iso_duration(grain),
            "value": blocks,
            "namespace": namespace,
            "resourceregion": region,
            "resourceid": rid,
        }

    def _series(
        self,
        resource: Any,
        metric: MetricDef,
        start: datetime,
        end: datetime,
        grain: float,
        split: set[str],
        top: int,
        t: float,
    ) -> list[dict[str, Any]]:
        keep = [d for d in metric.dimensions if d.lower() in split]
        stamps = list(_grains(start, end, grain))
        series: dict[Dims, dict[float, list[float]]] = {}
        for stamp in stamps:
            at = (stamp - self.started_at).total_seconds()
            if at + grain + LATENCY_SECONDS > t:
                continue  # not aggregated yet: the point has no value
            # Before the scenario began, traffic was what it is in the scenario's first grain.
            for dims, value in metric.sample(resource, max(at, 0.0), grain).items():
                key = tuple((k, v) for k, v in dims if k in keep)
                series.setdefault(key, {}).setdefault(at, []).append(value)
        out = []
        for key in sorted(series)[:top] if split else sorted(series)[:1]:
            points = series[key]
            data = []
            for stamp in stamps:
                at = (stamp - self.started_at).total_seconds()
                point: dict[str, Any] = {"timeStamp": _iso(stamp)}
                values = points.get(at)
                if values:
                    total = sum(values)
                    point[_aggregation(metric)] = (
                        total / len(values) if metric.combine == "mean" else total
                    )
                data.append(point)
            out.append(
                {
                    "metadatavalues": [
                        {"name": {"value": k.lower(), "localizedValue": k.lower()}, "value": v}
                        for k, v in key
                    ],
                    "data": data,
                }
            )
        return out


# --- what each metric measures ------------------------------------------------------------


def _aggregation(metric: MetricDef) -> str:
    return "average" if metric.combine == "mean" or metric.unit.endswith("PerSecond") else "total"


def _tunnel_samples(
    world: World, gw: Gateway, at: float, grain: float
) -> Iterator[tuple[Connection, int, int, float, float]]:
    """(connection, slot, instance, ingress bytes, egress bytes) moved in [at, at + grain).

    Bytes count on the instance that carried the tunnel at the grain's end (or, while dark, the
    one that carried it before), so a failover shows as a dip and the series moving to the
    other instance."""
    for conn in gw.connections:
        if conn.circuit is not None:
            continue
        for slot in range(gw.tunnels_per_connection):
            before = world.tunnel_state(conn, slot, at)
            after = world.tunnel_state(conn, slot, at + grain)
            instance = carrier_at(world, gw, slot, at + grain)
            if instance is None:
                instance = carrier_at(world, gw, slot, at)
            if instance is None:
                instance = _last_carrier(world, gw, slot, at)
            yield (
                conn,
                slot,
                instance,
                max(0, after.ingress_bytes - before.ingress_bytes),
                max(0, after.egress_bytes - before.egress_bytes),
            )


def _last_carrier(world: World, gw: Gateway, slot: int, at: float) -> int:
    if gw.active_active:
        return slot
    found = 0
    for switch in switches(world, gw):
        if switch.down_at <= at:
            found = switch.from_instance
    return found


def _tunnel_dims(conn: Connection, instance: int) -> Dims:
    return (
        ("ConnectionName", conn.name),
        ("RemoteIP", conn.remote_ip),
        ("Instance", instance_name(instance)),
    )


def _gateway_metrics(world: World) -> list[MetricDef]:
    def tunnel(pick: Callable[[float, float, float], float]) -> Sampler:
        def sample(gw: Gateway, at: float, grain: float) -> dict[Dims, float]:
            if not gw.is_vpn:
                return {}
            return {
                _tunnel_dims(conn, inst): pick(ingress, egress, grain)
                for conn, _, inst, ingress, egress in _tunnel_samples(world, gw, at, grain)
            }

        return sample

    def drops(gw: Gateway, at: float, grain: float) -> dict[Dims, float]:
        if not gw.is_vpn:
            return {}
        out: dict[Dims, float] = {}
        for conn, slot, inst, _, _ in _tunnel_samples(world, gw, at, grain):
            rate = world.timeline.drops_per_second(conn.name, slot, at + grain / 2)
            out[_tunnel_dims(conn, inst)] = round(rate * grain)
        return out

    def no_drops(gw: Gateway, at: float, grain: float) -> dict[Dims, float]:
        if not gw.is_vpn:
            return {}
        return {
            _tunnel_dims(conn, inst): 0.0
            for conn, _, inst, _, _ in _tunnel_samples(world, gw, at, grain)
        }

    def bandwidth(gw: Gateway, at: float, grain: float) -> dict[Dims, float]:
        if not gw.is_vpn:
            return {}
        out: dict[Dims, float] = {
            (("Instance", instance_name(i.index)),): 0.0 for i in gw.instances
        }
        for _, _, inst, ingress, egress in _tunnel_samples(world, gw, at, grain):
            out[(("Instance", instance_name(inst)),)] += (ingress + egress) / grain
        return out

    def bgp(count: Callable[[Gateway, Any, float], int]) -> Sampler:
        def sample(gw: Gateway, at: float, grain: float) -> dict[Dims, float]:
            if not gw.is_vpn:
                return {}
            end = at + grain
            out: dict[Dims, float] = {}
            for slot, row in _bgp_rows(world, gw, end):
                instance = carrier_at(world, gw, slot, end)
                if instance is None:
                    continue
                dims = (("BgpPeerAddress", row.neighbor), ("Instance", instance_name(instance)))
                out[dims] = float(count(gw, row, end))
            return out

        return sample

    def p2s_count(gw: Gateway, at: float, grain: float) -> dict[Dims, float]:
        return {
            (("Protocol", "IkeV2"), ("Instance", instance_name(inst))): float(n)
            for inst, n in p2s_sessions(world, gw, at).items()
        }

    def p2s_bandwidth(gw: Gateway, at: float, grain: float) -> dict[Dims, float]:
        return {
            (("Instance", instance_name(inst)),): n * P2S_BYTES_PER_SESSION
            for inst, n in p2s_sessions(world, gw, at).items()
        }

    def er_cpu(gw: Gateway, at: float, grain: float) -> dict[Dims, float]:
        if gw.is_vpn:
            return {}
        return {
            (("roleInstance", instance_name(i.index)),): 8.0 + 4 * i.index
            for i in gw.instances
            if not world.timeline.gateway_instance_down(gw.name, i.index).contains(at + grain)
        }

    def er_bits(gw: Gateway, at: float, grain: float) -> dict[Dims, float]:
        if gw.is_vpn:
            return {}
        out: dict[Dims, float] = {}
        for conn in gw.connections:
            before, after = (
                world.connection_state(conn, at),
                world.connection_state(conn, at + grain),
            )
            moved = (after.ingress_bytes - before.ingress_bytes) * 8 / grain
            up = [
                i.index
                for i in gw.instances
                if not world.timeline.gateway_instance_down(gw.name, i.index).contains(at + grain)
            ]
            for index in up:
                dims = (("roleInstance", instance_name(index)),)
                out[dims] = out.get(dims, 0.0) + moved / len(up)
        return out

    def er_routes(gw: Gateway, at: float, grain: float) -> dict[Dims, float]:
        if gw.is_vpn:
            return {}
        out: dict[Dims, float] = {}
        for row in world.bgp_peers(gw, at + grain):
            index = next((i.index for i in gw.instances if i.private_ip == row.local_address), 0)
            dims = (("roleInstance", instance_name(index)), ("BgpPeerAddress", row.neighbor))
            out[dims] = float(row.routes_received)
        return out

    tunnel_dims = ("ConnectionName", "RemoteIP", "Instance")
    bgp_dims = ("BgpPeerAddress", "Instance")
    five = 300.0
    return [
        MetricDef(
            "TunnelAverageBandwidth",
            "BytesPerSecond",
            tunnel_dims,
            five,
            "sum",
            tunnel(lambda i, e, g: (i + e) / g),
            "Average bandwidth of a tunnel in bytes per second",
        ),
        MetricDef(
            "TunnelIngressBytes",
            "Bytes",
            tunnel_dims,
            five,
            "sum",
            tunnel(lambda i, e, g: i),
            "Incoming bytes of a tunnel",
        ),
        MetricDef(
            "TunnelEgressBytes",
            "Bytes",
            tunnel_dims,
            five,
            "sum",
            tunnel(lambda i, e, g: e),
            "Outgoing bytes of a tunnel",
        ),
        MetricDef(
            "TunnelIngressPacketDropCount",
            "Count",
            tunnel_dims,
            five,
            "sum",
            drops,
            "Incoming packet drop count from traffic selector mismatch of a tunnel",
        ),
        MetricDef(
            "TunnelEgressPacketDropCount",
            "Count",
            tunnel_dims,
            five,
            "sum",
            drops,
            "Outgoing packet drop count of a tunnel",
        ),
        MetricDef(
            "TunnelIngressPacketDropTSMismatch",
            "Count",
            tunnel_dims,
            five,
            "sum",
            no_drops,
            "Incoming packet drop count from traffic selector mismatch of a tunnel",
        ),
        MetricDef(
            "TunnelEgressPacketDropTSMismatch",
            "Count",
            tunnel_dims,
            five,
            "sum",
            no_drops,
            "Outgoing packet drop count from traffic selector mismatch of a tunnel",
        ),
        MetricDef(
            "AverageBandwidth",
            "BytesPerSecond",
            ("Instance",),
            five,
            "sum",
            bandwidth,
            "Site-to-site bandwidth of a gateway in bytes per second",
        ),
        MetricDef(
            "BgpRoutesLearned",
            "Count",
            bgp_dims,
            five,
            "sum",
            bgp(lambda gw, row, t: row.routes_received),
            "Routes learned from a BGP peer",
        ),
        MetricDef(
            "BgpRoutesAdvertised",
            "Count",
            bgp_dims,
            five,
            "sum",
            bgp(lambda gw, row, t: 1 if row.state == "Connected" else 0),
            "Routes advertised to a BGP peer",
        ),
        MetricDef(
            "P2SConnectionCount",
            "Count",
            ("Protocol", "Instance"),
            60.0,
            "sum",
            p2s_count,
            "Point-to-site connection count of a gateway",
        ),
        MetricDef(
            "P2SBandwidth",
            "BytesPerSecond",
            ("Instance",),
            60.0,
            "sum",
            p2s_bandwidth,
            "Point-to-site bandwidth of a gateway in bytes per second",
        ),
        MetricDef(
            "ExpressRouteGatewayCpuUtilization",
            "Percent",
            ("roleInstance",),
            60.0,
            "mean",
            er_cpu,
            "CPU utilization of the ExpressRoute gateway",
        ),
        MetricDef(
            "ExpressRouteGatewayBitsPerSecond",
            "BitsPerSecond",
            ("roleInstance",),
            60.0,
            "sum",
            er_bits,
            "Bits received per second by the ExpressRoute gateway",
        ),
        MetricDef(
            "ExpressRouteGatewayCountOfRoutesLearnedFromPeer",
            "Count",
            ("roleInstance", "BgpPeerAddress"),
            60.0,
            "sum",
            er_routes,
            "Count of routes learned from the peer",
        ),
    ]


def _bgp_rows(world: World, gw: Gateway, t: float) -> Iterator[tuple[int, Any]]:
    per_slot = {gw.bgp_address(s): s for s in range(gw.tunnels_per_connection)}
    for row in world.bgp_peers(gw, t):
        yield per_slot.get(row.local_address, 0), row


P2S_BYTES_PER_SESSION = 40_000.0  # steady bytes per second per connected user


def _circuit_metrics(world: World) -> list[MetricDef]:
    def availability(kind: str) -> Sampler:
        def sample(circuit: Circuit, at: float, grain: float) -> dict[Dims, float]:
            out: dict[Dims, float] = {}
            for peering in circuit.peerings:
                for link in peering.links:
                    up = world.link_state(circuit, link, at + grain / 2).up
                    peer = link.customer_address if kind == "bgp" else link.microsoft_address
                    dims = (("PeeringType", peering.name), ("Peer", peer))
                    out[dims] = 100.0 if up else 0.0
            return out

        return sample

    def bits(direction: int) -> Sampler:
        def sample(circuit: Circuit, at: float, grain: float) -> dict[Dims, float]:
            out: dict[Dims, float] = {}
            for peering in circuit.peerings:
                for device_path in ("primary", "secondary"):
                    before = world.link_bytes(circuit, peering, device_path, at)
                    after = world.link_bytes(circuit, peering, device_path, at + grain)
                    role = "Primary" if device_path == "primary" else "Secondary"
                    dims = (("PeeringType", peering.name), ("DeviceRole", role))
                    out[dims] = (after[direction] - before[direction]) * 8 / grain
            return out

        return sample

    peer_dims = ("PeeringType", "Peer")
    role_dims = ("PeeringType", "DeviceRole")
    return [
        MetricDef(
            "BgpAvailability",
            "Percent",
            peer_dims,
            60.0,
            "mean",
            availability("bgp"),
            "BGP availability from MSEE towards all peers",
        ),
        MetricDef(
            "ArpAvailability",
            "Percent",
            peer_dims,
            60.0,
            "mean",
            availability("arp"),
            "ARP availability from MSEE towards all peers",
        ),
        MetricDef(
            "BitsInPerSecond",
            "BitsPerSecond",
            role_dims,
            60.0,
            "sum",
            bits(0),
            "Bits ingressing Azure per second",
        ),
        MetricDef(
            "BitsOutPerSecond",
            "BitsPerSecond",
            role_dims,
            60.0,
            "sum",
            bits(1),
            "Bits egressing Azure per second",
        ),
    ]


# --- parsing --------------------------------------------------------------------------------


def _bad(message: str) -> Reply:
    reply = error(400, "BadRequest", message, {"x-ms-error-code": "BadRequest"})
    return reply


def _split_dimensions(filter_: str) -> set[str]:
    return {m.lower() for m in re.findall(r"([A-Za-z]+)\s+eq\s+'", filter_)}


def _when(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _duration(text: str) -> float:
    m = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?", text.upper())
    if m is None or not any(m.groups()):
        raise ValueError(f"unsupported interval {text!r}")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in m.groups())
    return hours * 3600 + minutes * 60 + seconds


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"PT{minutes // 60}H" if minutes % 60 == 0 and minutes >= 60 else f"PT{minutes}M"


def _grains(start: datetime, end: datetime, grain: float) -> Iterator[datetime]:
    """Grain starts covering [start, end), aligned to whole grains as Azure aligns them."""
    epoch = start.timestamp()
    first = math.floor(epoch / grain) * grain
    at = datetime.fromtimestamp(first, UTC)
    step = timedelta(seconds=grain)
    while at < end:
        yield at
        at += step
