"""The service's metrics in the Prometheus text format on `/metrics` (and over OTLP/HTTP when
`service.otlp_endpoint` is set; see `otlp.py`).

Fleet gauges come from one snapshot of the agent taken after a correlation step, while the state
holds still (`Agent.add_step_hook`): on the agent's loop in the agent process of `vpnwatch run`
(whose front answers `/metrics` from what it publishes), else in a worker thread, off the loop
that answers. The snapshot's families are rendered there too, by `prometheus_client` through a
custom collector, and the body is kept until the next snapshot. A snapshot of a 1,000-gateway
fleet costs a few hundred milliseconds of CPU and the read planner makes steps small and
frequent, so a step takes one only while someone scrapes (within `SCRAPED_RECENTLY_SECONDS`),
and at most every `SNAPSHOT_SECONDS`. A scrape serves the body as it is, adding only the few
event series (Azure requests, incidents opened, failovers), so it costs neither the event loop
nor the fleet's size; only the first scrape, or one after a pause in scraping that left the body
older than `MAX_AGE_SECONDS`, waits for a snapshot. What the agent process publishes to its front
carries those event series rendered again only once they changed, at most every
`EVENTS_EVERY_SECONDS` (`servable`).

Labels are bounded by the fleet: resource names, resource groups and subscriptions (names repeat
across subscriptions), never resource ids, timestamps or free text. `*_up` is 1 while the
thing carries traffic (up or degraded), 0 when down, and absent while its health is unknown
(stale data).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from vpnwatch.config import ServiceSettings
from vpnwatch.correlate import FleetState
from vpnwatch.correlate.entities import (
    SERVING,
    Health,
    bgp_peer_id,
    instance_id,
    link_id,
    tunnel_id,
)
from vpnwatch.incidents import IncidentType, Severity
from vpnwatch.resourceids import subscription_of
from vpnwatch.service import monitor_metrics, resiliency_metrics
from vpnwatch.service.fleet import resource_name
from vpnwatch.service.otlp import OtlpPush

if TYPE_CHECKING:
    from vpnwatch.affordable import SubscriptionBudget
    from vpnwatch.agent import Agent, CollectorStatus
    from vpnwatch.correlate import CorrelationResult
    from vpnwatch.incidents import Incident

log = logging.getLogger("vpnwatch.service.metrics")

# Counters and histograms keep the names and series they always had: no `*_created` twins.
disable_created_metrics()

PROMETHEUS_CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

# In seconds of the agent's clock:
SNAPSHOT_SECONDS = 10.0  # the fewest between two fleet snapshots taken by steps
SCRAPED_RECENTLY_SECONDS = 300.0  # steps take snapshots while the last scrape is this recent
MAX_AGE_SECONDS = 60.0  # a scrape never serves a fleet older than this (it waits instead)
# In wall seconds: the fewest between two renderings of the event series for publications
EVENTS_EVERY_SECONDS = 1.0

FAILOVER_BUCKETS = (1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

Labels = dict[str, str]


@dataclass(slots=True)
class _Snapshot:
    series: dict[str, list[tuple[float, Labels]]] = field(default_factory=dict)

    def add(self, name: str, value: float, labels: Labels) -> None:
        self.series.setdefault(name, []).append((value, labels))


@dataclass(frozen=True, slots=True)
class _RenderedEvents:
    changes: int  # `ServiceMetrics._event_changes` when rendered
    at: float  # time.monotonic() when rendered
    body: bytes


@dataclass(frozen=True, slots=True)
class _Family:
    kind: str  # "gauge" | "counter"
    description: str
    unit: str


class _SnapshotCollector(Collector):
    """Yields the snapshot's families for `prometheus_client` to render."""

    def __init__(self, families: dict[str, _Family], snapshot: _Snapshot) -> None:
        self._families = families
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        for name, family in self._families.items():
            samples = self._snapshot.series.get(name, ())
            if not samples:
                continue
            names = sorted({k for _, labels in samples for k in labels})
            metric: GaugeMetricFamily | CounterMetricFamily
            if family.kind == "counter":
                metric = CounterMetricFamily(name, family.description, labels=names)
            else:
                metric = GaugeMetricFamily(name, family.description, labels=names)
            for value, labels in samples:
                metric.add_metric([labels.get(k, "") for k in names], value)
            yield metric


class ServiceMetrics:
    """The service's private Prometheus registry, the fleet snapshot behind its gauges, and the
    `RequestObserver` the Azure clients report every HTTP attempt to."""

    def __init__(self, settings: ServiceSettings | None = None) -> None:
        settings = settings or ServiceSettings()
        self.registry = CollectorRegistry(auto_describe=False)  # the event series
        self._families: dict[str, _Family] = {}
        self._agent: Agent | None = None
        self._snapshot_on_loop = False
        self.fleet_version = 0  # counts the fleet bodies rendered
        self._snapshot = _Snapshot()
        self._fleet_body: bytes | None = None  # the snapshot's families, rendered
        self._built_at: datetime | None = None  # the agent's time at the last snapshot
        self._scraped_at: datetime | None = None  # the agent's time at the last scrape
        self._event_changes = 0  # counts the changes to the event series (`registry`)
        self._events: _RenderedEvents | None = None  # their last rendering for `servable`
        self._lock = threading.Lock()
        self._shut = False
        self._otlp = (
            OtlpPush(settings.otlp_endpoint, self._series) if settings.otlp_endpoint else None
        )
        self.provider = self._otlp.provider if self._otlp else None
        self._define_instruments()

    # --- instruments ---------------------------------------------------------------------------

    def _gauge(self, name: str, description: str, unit: str = "1") -> None:
        self._family(name, "gauge", description, unit)

    def _counter(self, name: str, description: str, unit: str = "1") -> None:
        self._family(name, "counter", description, unit)

    def _family(self, name: str, kind: str, description: str, unit: str) -> None:
        self._families[name] = _Family(kind, description, unit)
        if self._otlp:
            self._otlp.observable(name, kind, description, unit)

    def _series(self, name: str) -> list[tuple[float, Labels]]:
        return self._snapshot.series.get(name, [])

    def _define_instruments(self) -> None:
        g = self._gauge
        g("vpnwatch_gateway_instance_up", "Gateway instance (IP configuration) is up")
        g("vpnwatch_connection_up", "Gateway connection carries traffic (up or degraded)")
        g("vpnwatch_tunnel_up", "Tunnel of a connection on one gateway instance is connected")
        g("vpnwatch_bgp_peer_up", "BGP session between a gateway instance and a neighbor is up")
        g("vpnwatch_bgp_peer_routes_learned", "Routes learned from a BGP neighbor")
        g("vpnwatch_expressroute_circuit_up", "ExpressRoute circuit carries traffic")
        g("vpnwatch_expressroute_link_up", "BGP session on one link of an ExpressRoute peering")
        g("vpnwatch_site_up", "On-premises site (local network gateway) is reachable")
        g("vpnwatch_entities", "Watched entities by kind and health")
        g("vpnwatch_incidents_open", "Open incidents by type and severity")
        g("vpnwatch_ready", "1 once the store is open and every collector completed a pass")
        g("vpnwatch_monitoring_blind", "1 while vpnwatch cannot see Azure (monitoring_blind open)")
        g(
            "vpnwatch_collector_last_success_timestamp_seconds",
            "Unix time of the collector's last successful pass",
            unit="s",
        )
        g("vpnwatch_arm_budget_per_second", "ARM requests per second vpnwatch may spend", "1/s")
        g("vpnwatch_arm_ratelimit_remaining", "Last x-ms-ratelimit-remaining-subscription-*")
        g("vpnwatch_arm_requests_per_hour", "ARM requests vpnwatch spent over the last hour")
        g(
            "vpnwatch_connection_interval_seconds",
            "How often every connection is read: configured, effective (promised by the read "
            "budget) and achieved",
            unit="s",
        )
        g(
            "vpnwatch_oldest_connection_age_seconds",
            "Seconds since the least recently read connection of the subscription was read",
            unit="s",
        )
        self._counter("vpnwatch_collector_runs", "Collector passes")
        for name, description, unit in (
            *monitor_metrics.INSTRUMENTS,
            *resiliency_metrics.INSTRUMENTS,
        ):
            g(name, description, unit)
        g("vpnwatch_notifications", "Outbox notifications by receiver and status")
        self._counter("vpnwatch_notification_attempts", "Delivery attempts by receiver and outcome")
        self._counter("vpnwatch_collector_failures", "Collector passes that failed")
        self._failover = Histogram(
            "vpnwatch_failover_interruption_seconds",
            "How long traffic was interrupted by a gateway failover (on resolution)",
            ["classification"],
            buckets=FAILOVER_BUCKETS,
            registry=self.registry,
        )
        self._opened = PromCounter(
            "vpnwatch_incidents_opened",
            "Incidents opened, by type",
            ["type", "severity"],
            registry=self.registry,
        )
        self._requests = PromCounter(
            "vpnwatch_azure_requests",
            "HTTP attempts to Azure Resource Manager (retries included)",
            ["operation", "code", "subscription"],
            registry=self.registry,
        )
        self._request_seconds = Histogram(
            "vpnwatch_azure_request_duration_seconds",
            "Duration of HTTP attempts to Azure Resource Manager",
            ["operation", "code"],
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )
        self._remaining_reads = Gauge(
            "vpnwatch_azure_ratelimit_remaining_reads",
            "x-ms-ratelimit-remaining-subscription-reads of the last ARM response",
            ["subscription"],
            registry=self.registry,
        )
        if self._otlp:
            self._otlp.histogram(
                "vpnwatch_failover_interruption_seconds",
                "How long traffic was interrupted by a gateway failover (on resolution)",
                FAILOVER_BUCKETS,
            )
            self._otlp.counter("vpnwatch_incidents_opened", "Incidents opened, by type")
            self._otlp.counter(
                "vpnwatch_azure_requests",
                "HTTP attempts to Azure Resource Manager (retries included)",
            )
            self._otlp.histogram(
                "vpnwatch_azure_request_duration_seconds",
                "Duration of HTTP attempts to Azure Resource Manager",
                REQUEST_BUCKETS,
            )
            self._otlp.gauge(
                "vpnwatch_azure_ratelimit_remaining_reads",
                "x-ms-ratelimit-remaining-subscription-reads of the last ARM response",
            )

    # --- inputs --------------------------------------------------------------------------------

    def bind(self, agent: Agent, *, snapshot_on_loop: bool = False) -> None:
        """Read fleet gauges from `agent` after each of its steps, and record the incidents it
        opens and resolves. With `snapshot_on_loop` (the agent process of `vpnwatch run`, whose
        loop answers no probe), snapshots are built on the agent's loop: a worker thread would
        only be one more thread wanting the interpreter."""
        self._snapshot_on_loop = snapshot_on_loop
        if self._agent is agent:
            return
        self._agent = agent
        agent.add_listener(self.on_result)
        agent.add_step_hook(self.refresh_if_wanted)

    def on_request(
        self,
        operation: str,
        status: int | None,
        seconds: float,
        remaining_reads: int | None,
        *,
        subscription: str = "",
    ) -> None:
        """One HTTP attempt. Counts and the remaining reads are per subscription (ARM
        throttles each on its own); durations per operation and code only."""
        code = str(status) if status is not None else "none"
        subscription = subscription or "none"
        self._event_changes += 1
        seconds = max(0.0, seconds)
        self._requests.labels(operation, code, subscription).inc()
        self._request_seconds.labels(operation, code).observe(seconds)
        if remaining_reads is not None:
            self._remaining_reads.labels(subscription).set(remaining_reads)
        if self._otlp:
            labels = {"operation": operation, "code": code}
            self._otlp.add("vpnwatch_azure_requests", 1, {**labels, "subscription": subscription})
            self._otlp.record("vpnwatch_azure_request_duration_seconds", seconds, labels)
            if remaining_reads is not None:
                self._otlp.set(
                    "vpnwatch_azure_ratelimit_remaining_reads",
                    remaining_reads,
                    {"subscription": subscription},
                )

    def on_result(self, result: CorrelationResult) -> None:
        if result.opened or result.resolved:
            self._event_changes += 1
        for incident in result.opened:
            type_, severity = str(incident.type), str(incident.severity)
            self._opened.labels(type_, severity).inc()
            if self._otlp:
                labels = {"type": type_, "severity": severity}
                self._otlp.add("vpnwatch_incidents_opened", 1, labels)
        for incident in result.resolved:
            if incident.type is IncidentType.FAILOVER and incident.outage_seconds is not None:
                seconds = max(0.0, incident.outage_seconds)
                classification = incident.classification or "unclassified"
                self._failover.labels(classification).observe(seconds)
                if self._otlp:
                    labels = {"classification": classification}
                    self._otlp.record("vpnwatch_failover_interruption_seconds", seconds, labels)

    # --- output --------------------------------------------------------------------------------

    async def refresh_if_wanted(self) -> None:
        """The step hook: a new snapshot while someone scrapes (or OTLP pushes), at most every
        `SNAPSHOT_SECONDS`."""
        agent, scraped = self._agent, self._scraped_at
        if agent is None:
            return
        now = agent.clock.now()
        if self._otlp is None and (
            scraped is None or (now - scraped).total_seconds() > SCRAPED_RECENTLY_SECONDS
        ):
            return
        if self._age(now) < SNAPSHOT_SECONDS:
            return
        await self.refresh_async()

    def _age(self, now: datetime) -> float:
        built = self._built_at
        return float("inf") if built is None else (now - built).total_seconds()

    async def refresh_async(self) -> None:
        """`refresh` from the agent's loop, between two correlation steps: what collection
        changes on the loop is read there, the fleet in a worker thread (on the agent's own
        thread when it has one)."""
        agent = self._agent
        if agent is None:
            return
        view = _AgentView.of(agent)
        if self._snapshot_on_loop:
            self.refresh(view)
        else:
            await asyncio.to_thread(self.refresh, view)

    def refresh(self, view: _AgentView | None = None) -> None:
        """Take a new snapshot of the agent's fleet and render its families. Runs in a worker
        thread after a correlation step (the agent holds the state still meanwhile), with
        `view` read on the agent's loop (read here when not given)."""
        agent = self._agent
        if agent is None:
            return
        started = time.perf_counter()
        snapshot = _take_snapshot(agent, view or _AgentView.of(agent))
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_SnapshotCollector(self._families, snapshot))
        body = generate_latest(registry)
        with self._lock:
            self._snapshot, self._fleet_body = snapshot, body
            self._built_at = agent.clock.now()
            self.fleet_version += 1
        took = (time.perf_counter() - started) * 1000
        log.debug("metrics snapshot: %d bytes in %.1f ms", len(body), took)

    def render(self) -> bytes:
        """The Prometheus text exposition: the event series now, the fleet as of the last
        snapshot."""
        with self._lock:
            fleet = self._fleet_body
        if fleet is None:
            self.refresh()
            fleet = self._fleet_body or b""
        return generate_latest(self.registry) + fleet

    async def render_async(self) -> bytes:
        """`render` for the event loop. A scrape renders only the event series; the fleet's
        come from the last snapshot, taken now (in a worker thread, between two steps) only when
        there is none yet or it is older than `MAX_AGE_SECONDS`."""
        agent = self._agent
        if agent is not None:
            now = agent.clock.now()
            self._scraped_at = now
            if self._age(now) > MAX_AGE_SECONDS:
                await agent.while_still(self.refresh_async)
        return self.render()

    def scraped(self) -> None:
        """Someone scraped a body published from here: steps keep taking snapshots."""
        if self._agent is not None:
            self._scraped_at = self._agent.clock.now()

    def servable(self) -> tuple[bytes, int, bytes] | None:
        """The event series (`_rendered_events`), and the fleet body with its version, while
        that body may be served as it is (not older than `MAX_AGE_SECONDS`); None when a scrape
        should wait for a new snapshot (`render_async`)."""
        agent = self._agent
        with self._lock:
            fleet, version = self._fleet_body, self.fleet_version
        if agent is None or fleet is None or self._age(agent.clock.now()) > MAX_AGE_SECONDS:
            return None
        return self._rendered_events(), version, fleet

    def _rendered_events(self) -> bytes:
        """The event series as last rendered, rendered again only once they changed and at
        most every `EVENTS_EVERY_SECONDS`: the agent process publishes many times a second,
        and a scrape served from a publication may show them up to that much late."""
        changes, now = self._event_changes, time.monotonic()
        last = self._events
        if last is not None and (last.changes == changes or now - last.at < EVENTS_EVERY_SECONDS):
            return last.body
        body = generate_latest(self.registry)
        self._events = _RenderedEvents(changes, now, body)
        return body

    def shutdown(self) -> None:
        if not self._shut:
            self._shut = True
            if self._otlp:
                self._otlp.shutdown()


@dataclass(frozen=True, slots=True)
class _AgentView:
    """What collection and delivery change on the agent's loop outside correlation steps (so
    not held still by them), read there before the snapshot is built in a worker thread."""

    ready: bool
    blind: bool
    collectors: list[CollectorStatus]
    budgets: list[SubscriptionBudget]
    failing: list[Incident]
    deliveries: list[tuple[str, int, int, int]]  # receiver, delivered, retried, dead

    @classmethod
    def of(cls, agent: Agent) -> _AgentView:
        notify = agent.notifications
        stats = notify.dispatcher.stats if notify else {}
        return cls(
            ready=agent.ready,
            blind=agent.blind,
            collectors=agent.collector_status(),
            budgets=agent.budgets(),
            failing=notify.failing_incidents() if notify else [],
            deliveries=[(n, s.delivered, s.retried, s.dead) for n, s in stats.items()],
        )


def _take_snapshot(agent: Agent, view: _AgentView) -> _Snapshot:
    snap = _Snapshot()
    snap.add("vpnwatch_ready", 1.0 if view.ready else 0.0, {})
    snap.add("vpnwatch_monitoring_blind", 1.0 if view.blind else 0.0, {})
    for status in view.collectors:
        labels = {"collector": status.name}
        snap.add("vpnwatch_collector_runs", float(status.runs), labels)
        snap.add("vpnwatch_collector_failures", float(status.failures), labels)
        if status.last_success_at is not None:
            snap.add(
                "vpnwatch_collector_last_success_timestamp_seconds",
                status.last_success_at.timestamp(),
                labels,
            )
    _budgets(snap, view.budgets)
    correlator = agent.correlator
    if correlator is None:
        return snap
    _notifications(snap, agent, view)
    open_counts = {(t.value, s.value): 0 for t in IncidentType for s in Severity}
    for incident in [*correlator.open_incidents(), *view.failing]:
        key = (str(incident.type), str(incident.severity))
        open_counts[key] = open_counts.get(key, 0) + 1
    for (type_, severity), count in sorted(open_counts.items()):
        snap.add("vpnwatch_incidents_open", float(count), {"type": type_, "severity": severity})
    _fleet(snap, correlator.state, agent.clock.now())
    monitor_metrics.export(snap.add, correlator.monitor)
    resiliency_metrics.export(snap.add, correlator.state.resiliency.values(), agent.clock.now())
    return snap


def _notifications(snap: _Snapshot, agent: Agent, view: _AgentView) -> None:
    """Outbox rows per receiver and status (dead letters included), and delivery attempts."""
    notify = agent.notifications
    if notify is None:
        return
    counts = notify.store.notification_counts()
    for name, delivered, retried, dead in view.deliveries:
        for status in ("pending", "delivered", "dead"):
            labels = {"receiver": name, "status": status}
            snap.add("vpnwatch_notifications", float(counts.get((name, status), 0)), labels)
        for outcome, value in (("delivered", delivered), ("retry", retried), ("dead", dead)):
            labels = {"receiver": name, "outcome": outcome}
            snap.add("vpnwatch_notification_attempts", float(value), labels)


def _budgets(snap: _Snapshot, budgets: list[SubscriptionBudget]) -> None:
    for b in budgets:
        sub = {"subscription": b.subscription_id}
        for kind, rate, remaining, spent in (
            ("reads", b.reads_per_second, b.reads_remaining, b.reads_per_hour),
            ("writes", b.writes_per_second, b.writes_remaining, b.writes_per_hour),
        ):
            labels = {**sub, "kind": kind}
            snap.add("vpnwatch_arm_budget_per_second", rate, labels)
            snap.add("vpnwatch_arm_requests_per_hour", spent, labels)
            if remaining is not None:
                snap.add("vpnwatch_arm_ratelimit_remaining", float(remaining), labels)
        for which, value in (
            ("configured", b.configured_interval_seconds),
            ("effective", b.effective_interval_seconds),
            ("achieved", b.achieved_interval_seconds),
        ):
            if value is not None:
                snap.add("vpnwatch_connection_interval_seconds", value, {**sub, "interval": which})
        if b.oldest_connection_age_seconds is not None:
            snap.add("vpnwatch_oldest_connection_age_seconds", b.oldest_connection_age_seconds, sub)


def _fleet(snap: _Snapshot, state: FleetState, now: datetime) -> None:
    """Walks the state itself, not the API's models: a 1,000-gateway fleet has ~25,000 series."""
    effective, entities = state.effective, state.entities
    tally = Counter((str(e.kind), effective(e, now)) for e in entities.values())
    for kind in sorted({k for k, _ in tally}):
        for health in Health:
            snap.add(
                "vpnwatch_entities",
                float(tally.get((kind, health), 0)),
                {"kind": kind, "health": health.value},
            )

    def up(name: str, entity_id: str, labels: Labels) -> None:
        entity = entities.get(entity_id)
        if entity is None:
            return
        health = effective(entity, now)
        if health is not Health.UNKNOWN:
            snap.add(name, 1.0 if health in SERVING else 0.0, labels)

    for key, gw in state.gateways.items():
        subscription = gw.subscription_id.lower()
        for inst in gw.instances:
            labels = {
                "subscription": subscription,
                "resource_group": gw.resource_group,
                "gateway": gw.name,
                "gateway_instance": inst.name,
                "region": gw.region,
                "zone": ",".join(inst.zones) or "none",
            }
            up("vpnwatch_gateway_instance_up", instance_id(key, inst.name), labels)
    for key, conn in state.connections.items():
        gw = state.gateway(conn.gateway_id)
        instance_of = {i.public_ip_address: i.name for i in gw.instances} if gw else {}
        base = {
            "subscription": conn.subscription_id.lower(),
            "resource_group": conn.resource_group,
            "gateway": gw.name if gw else resource_name(conn.gateway_id),
            "connection": conn.name,
        }
        up("vpnwatch_connection_up", key, base)
        for tunnel in conn.tunnels:
            instance = instance_of.get(tunnel.gateway_public_ip) or "unknown"
            labels = {**base, "tunnel": tunnel.name, "gateway_instance": instance}
            up("vpnwatch_tunnel_up", tunnel_id(key, tunnel.name), labels)
    for key, status in state.bgp.items():
        gw = state.gateway(status.gateway_id)
        name = gw.name if gw else resource_name(status.gateway_id)
        subscription = (gw.subscription_id if gw else subscription_of(status.gateway_id)).lower()
        for peer in status.peers:
            labels = {"subscription": subscription, "gateway": name,
                      "local_address": peer.local_address, "neighbor": peer.neighbor}  # fmt: skip
            up("vpnwatch_bgp_peer_up", bgp_peer_id(key, peer.local_address, peer.neighbor), labels)
            snap.add("vpnwatch_bgp_peer_routes_learned", float(peer.routes_received), labels)
    for key, site in state.sites.items():
        labels = {"subscription": site.subscription_id.lower(),
                  "resource_group": site.resource_group, "site": site.name}  # fmt: skip
        up("vpnwatch_site_up", key, labels)
    for key, circuit in state.circuits.items():
        base = {"subscription": circuit.subscription_id.lower(),
                "resource_group": circuit.resource_group, "circuit": circuit.name}  # fmt: skip
        up("vpnwatch_expressroute_circuit_up", key, base)
        for peering in circuit.peerings:
            for link in peering.links:
                labels = {**base, "peering": peering.name, "link": link.device_path}
                up("vpnwatch_expressroute_link_up", link_id(key, peering.name, link.device_path),
                   labels)  # fmt: skip
