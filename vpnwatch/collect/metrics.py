"""Azure Monitor platform metrics of VPN gateways, ExpressRoute gateways and circuits, through
the batch API (`MetricsClient.query_resources`, `POST {region}/subscriptions/{sub}/
metrics:getBatch`).

The batch API takes up to 50 resource ids of one subscription, region and namespace per call,
so resources are grouped that way and chunked. Results carry no resource id of their own; each
metric's `id` (`<resource id>/providers/Microsoft.Insights/metrics/<name>`) maps it back.

Metrics are evidence and traffic, not the fast path of detection: tunnel metrics have a 5-minute
grain, P2S and ExpressRoute ones 1 minute, and every grain lands minutes after it closed. Each
pass reads a trailing window and reports, per series, the newest grain that has data. A grain
without data is never reported, so "not aggregated yet" never reads as zero.

Batches go through the read planner like ARM reads do, against Azure Monitor's own limit for
the batch API (360,000 calls per hour per subscription, `budget.MONITOR_LIMITS`), never ARM's:
each pass queries the batches that limit affords, least recently read first.

One resource failing inside a batch (its metrics come back with an `errorCode`) costs that
resource only; the run names it in `extra["failed_resources"]`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from vpnwatch.clock import Clock
from vpnwatch.collect.base import ArmCollector, CallFailed, Scope
from vpnwatch.collect.budget import METRICS
from vpnwatch.collect.clients import AzureClients
from vpnwatch.collect.errors import Failure, classify
from vpnwatch.collect.planner import Candidate, Cost
from vpnwatch.collect.telemetry import tally_requests
from vpnwatch.observations import CollectionRun, MetricObserved, Observation

log = logging.getLogger(__name__)

GATEWAYS = "Microsoft.Network/virtualNetworkGateways"
CIRCUITS = "Microsoft.Network/expressRouteCircuits"
MAX_SERIES = 1000  # `top`: with a filter Azure returns only 10 series unless asked for more


@dataclass(frozen=True, slots=True)
class MetricQuery:
    """Metrics that share a grain and dimensions, so one batch call can ask for all of them."""

    names: tuple[str, ...]
    grain_seconds: float
    dimensions: tuple[str, ...]

    @property
    def filter(self) -> str | None:
        if not self.dimensions:
            return None
        return " and ".join(f"{d} eq '*'" for d in self.dimensions)


# Names, grains and dimensions: the supported-metrics tables of Azure Monitor for
# Microsoft.Network/virtualNetworkGateways and Microsoft.Network/expressRouteCircuits.
VPN_QUERIES = (
    MetricQuery(
        (
            "TunnelAverageBandwidth",
            "TunnelIngressBytes",
            "TunnelEgressBytes",
            "TunnelIngressPacketDropCount",
            "TunnelEgressPacketDropCount",
            "TunnelIngressPacketDropTSMismatch",
            "TunnelEgressPacketDropTSMismatch",
        ),
        300.0,
        ("ConnectionName", "RemoteIP", "Instance"),
    ),
    MetricQuery(("BgpRoutesLearned", "BgpRoutesAdvertised"), 300.0, ("BgpPeerAddress", "Instance")),
    MetricQuery(("AverageBandwidth",), 300.0, ("Instance",)),
    MetricQuery(("P2SBandwidth",), 60.0, ("Instance",)),
    MetricQuery(("P2SConnectionCount",), 60.0, ("Protocol", "Instance")),
)
EXPRESSROUTE_GATEWAY_QUERIES = (
    MetricQuery(
        ("ExpressRouteGatewayCpuUtilization", "ExpressRouteGatewayBitsPerSecond"),
        60.0,
        ("roleInstance",),
    ),
    MetricQuery(
        ("ExpressRouteGatewayCountOfRoutesLearnedFromPeer",),
        60.0,
        ("roleInstance", "BgpPeerAddress"),
    ),
)
CIRCUIT_QUERIES = (
    MetricQuery(("BgpAvailability", "ArpAvailability"), 60.0, ("PeeringType", "Peer")),
    MetricQuery(("BitsInPerSecond", "BitsOutPerSecond"), 60.0, ("PeeringType", "DeviceRole")),
)
AGGREGATIONS = ("Average", "Total", "Maximum")


@dataclass(frozen=True, slots=True)
class Watched:
    resource_id: str
    region: str
    kind: str  # "vpn" | "expressroute_gateway" | "circuit"


@dataclass(frozen=True, slots=True)
class Batch:
    namespace: str
    region: str
    queries: tuple[MetricQuery, ...]
    resource_ids: tuple[str, ...]


class MetricsCollector(ArmCollector):
    name = "monitor.metrics"
    kind = "metrics"

    def __init__(self, clients: AzureClients, clock: Clock, interval_seconds: float) -> None:
        super().__init__(clients, clock, interval_seconds)
        settings = clients.settings.collectors
        self.window = timedelta(minutes=settings.metrics.window_minutes)
        self.batch_size = settings.metrics.batch_size
        self.inventory_seconds = settings.gateways.interval_seconds
        self._inventory: dict[str, tuple[float, list[Watched]]] = {}

    async def collect(self, scope: Scope) -> list[Observation]:
        started = time.monotonic()
        began = self.clock.now()
        observations: list[Observation] = []
        failed: dict[str, str] = {}
        batch_failures: list[Failure] = []
        watched: list[Watched] = []
        with tally_requests() as tally:
            try:
                watched = await self._watched(scope)
            except CallFailed as exc:
                batch_failures.append(exc.failure)
            batches = self._planned(scope, plan_batches(watched, self.batch_size))
            results = await asyncio.gather(*(self._query(b) for b in batches))
            for result in results:
                if isinstance(result, Failure):
                    batch_failures.append(result)
                    continue
                found, errors = result
                observations.extend(found)
                failed.update(errors)
        ok = not batch_failures or (bool(batches) and len(batch_failures) < len(batches))
        reasons = [f.reason for f in batch_failures] + [f"{r}: {e}" for r, e in failed.items()]
        extra = {"failed_resources": ",".join(sorted(failed))} if failed else {}
        extra["batches"] = str(len(batches))
        observations.append(
            CollectionRun(
                observed_at=self.clock.now(),
                source=self.name,
                collector=self.name,
                scope=scope.label,
                ok=ok,
                cause=batch_failures[0].cause if batch_failures else None,
                reason="; ".join(reasons),
                resource_ids=(),
                requests=tally.requests,
                throttled=tally.throttled,
                duration_seconds=time.monotonic() - started,
                started_at=began,
                extra=extra,
            )
        )
        return observations

    # --- what to ask for -------------------------------------------------------------------

    def _planned(self, scope: Scope, batches: list[Batch]) -> list[Batch]:
        """The batches the metrics limit affords this pass (all of them, short of a fleet
        far larger than one subscription holds), each named by its first resource."""
        by_id = {b.resource_ids[0].lower(): b for b in batches}
        plan = self.clients.planner.plan(
            self.name,
            scope.subscription_id,
            [Candidate(b.resource_ids[0]) for b in batches],
            self.interval_seconds,
            Cost(reads=0.0, other=((METRICS, float(max(len(b.queries) for b in batches))),))
            if batches
            else Cost(reads=0.0),
            pass_seconds=self.pass_seconds,
        )
        return [by_id[rid.lower()] for rid in plan.read]

    async def _watched(self, scope: Scope) -> list[Watched]:
        """The gateways and circuits of the scope, relisted as often as the gateway inventory."""
        cached = self._inventory.get(scope.label)
        now = time.monotonic()
        if cached is not None and now - cached[0] < self.inventory_seconds:
            return cached[1]
        network = self.clients.network(scope.subscription_id)
        groups = await self._resource_groups(scope)
        listings = await asyncio.gather(
            *(
                self.list_all(
                    f"list virtual network gateways in resource group {g}",
                    lambda g=g: network.virtual_network_gateways.list(g),
                )
                for g in groups
            ),
            *(
                self.list_all(
                    f"list ExpressRoute circuits in resource group {g}",
                    lambda g=g: network.express_route_circuits.list(g),
                )
                for g in groups
            ),
        )
        watched: list[Watched] = []
        for listing in listings[: len(groups)]:
            for gw in listing:
                kind = "vpn" if (gw.gateway_type or "").lower() == "vpn" else "expressroute_gateway"
                watched.append(Watched(gw.id, gw.location or "", kind))
        for listing in listings[len(groups) :]:
            watched.extend(Watched(c.id, c.location or "", "circuit") for c in listing)
        self._inventory[scope.label] = (now, watched)
        return watched

    # --- one batch ---------------------------------------------------------------------------

    async def _query(self, batch: Batch) -> tuple[list[Observation], dict[str, str]] | Failure:
        client = self.clients.metrics(batch.region)
        end = self.clock.now()
        observations: list[Observation] = []
        errors: dict[str, str] = {}
        for query in batch.queries:
            bodies: list[Any] = []

            def keep_body(response: Any, bodies: list[Any] = bodies) -> None:
                bodies.append(response.http_response)

            try:
                results = await self.call(
                    f"query {batch.namespace} metrics in {batch.region}",
                    lambda query=query, keep_body=keep_body: client.query_resources(
                        resource_ids=list(batch.resource_ids),
                        metric_namespace=batch.namespace,
                        metric_names=list(query.names),
                        timespan=(end - self.window, end),
                        granularity=timedelta(seconds=query.grain_seconds),
                        aggregations=list(AGGREGATIONS),
                        filter=query.filter,
                        max_results=MAX_SERIES if query.filter else None,
                        raw_response_hook=keep_body,
                    ),
                )
            except CallFailed as exc:
                self.clients.planner.missed(self.name, batch.resource_ids[0])
                return exc.failure
            except Exception as exc:  # an unreadable body: the batch fails, never the run
                log.warning("metrics batch in %s could not be read: %r", batch.region, exc)
                return classify(exc, f"read {batch.namespace} metrics")
            errors.update(metric_errors(bodies[-1] if bodies else None))
            for result in results:
                observations.extend(self._observe(result, query, errors))
        self.clients.planner.record(self.name, batch.resource_ids[0], None)
        return observations, errors

    def _observe(
        self, result: Any, query: MetricQuery, errors: dict[str, str]
    ) -> list[Observation]:
        out: list[Observation] = []
        now = self.clock.now()
        for metric in result.metrics:
            resource_id = resource_of_metric(metric.id or "")
            if resource_id.lower() in errors:
                continue
            for series in metric.timeseries:
                points = [(p.timestamp, _value(p)) for p in series.data]
                with_data = [(at, v) for at, v in points if v is not None]
                if not with_data:
                    continue  # no grain aggregated yet: unknown, never zero
                at, value = with_data[-1]
                previous = with_data[-2][1] if len(with_data) > 1 else None
                out.append(
                    MetricObserved(
                        observed_at=now,
                        source=self.name,
                        resource_id=resource_id,
                        metric=metric.name,
                        unit=str(metric.unit or ""),
                        aggregation=_aggregation_name(series.data[-1] if series.data else None),
                        grain_seconds=query.grain_seconds,
                        at=at,
                        value=float(value),
                        previous=None if previous is None else float(previous),
                        dimensions=tuple(
                            sorted((k.lower(), str(v)) for k, v in series.metadata_values.items())
                        ),
                    )
                )
        return out


def plan_batches(watched: list[Watched], size: int) -> list[Batch]:
    """Group by namespace and region (one subscription per scope already), then chunk."""
    groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for w in watched:
        namespace = CIRCUITS if w.kind == "circuit" else GATEWAYS
        groups[(namespace, w.region.lower(), w.kind)].append(w.resource_id)
    queries = {
        "vpn": VPN_QUERIES,
        "expressroute_gateway": EXPRESSROUTE_GATEWAY_QUERIES,
        "circuit": CIRCUIT_QUERIES,
    }
    batches: list[Batch] = []
    for (namespace, region, kind), ids in sorted(groups.items()):
        for start in range(0, len(ids), size):
            batches.append(
                Batch(namespace, region, queries[kind], tuple(ids[start : start + size]))
            )
    return batches


def resource_of_metric(metric_id: str) -> str:
    """`<resource id>/providers/Microsoft.Insights/metrics/<name>` -> the resource id."""
    marker = "/providers/microsoft.insights/metrics/"
    index = metric_id.lower().rfind(marker)
    return metric_id[:index] if index >= 0 else metric_id


def metric_errors(http_response: Any) -> dict[str, str]:
    """Resources whose metrics failed inside an otherwise successful batch, by lower-case id.

    The SDK's result objects drop `errorCode`/`errorMessage`, so they are read from the body."""
    if http_response is None:
        return {}
    try:
        body = json.loads(http_response.text())
    except (ValueError, TypeError):
        return {}
    errors: dict[str, str] = {}
    for value in body.get("values") or []:
        for metric in value.get("value") or []:
            code = metric.get("errorCode")
            if code and code != "Success":
                rid = resource_of_metric(str(metric.get("id", ""))) or str(value.get("resourceid"))
                errors[rid.lower()] = f"{code}: {metric.get('errorMessage', '')}".rstrip(": ")
    return errors


def _value(point: Any) -> float | None:
    for name in ("average", "total", "maximum"):
        value = getattr(point, name, None)
        if value is not None:
            return float(value)
    return None


def _aggregation_name(point: Any) -> str:
    for name in ("average", "total", "maximum"):
        if point is not None and getattr(point, name, None) is not None:
            return name
    return "average"
