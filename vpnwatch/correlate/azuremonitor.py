"""What Azure Monitor adds after the fact: diagnostic-log rows and platform metrics.

Both arrive minutes late, so they confirm and classify; they never open a page late. The rules:

- `GatewayTenantPrimaryChanged` of an active/standby gateway settles a `tunnel_down` of its
  connection (open, or resolved within `RECENT_SECONDS`) as a `failover`: the incident becomes
  one, names the instance that took over, and is classified by its measured interruption (the
  same SLO and planned thresholds as any failover). Why: a gateway with one connection cannot
  tell its own failover from its site's failure by polling; the gateway's own log can.
- `HostMaintenanceEvent` makes such a failover `planned` (so does a configured maintenance
  window covering its start, as for every failover).
- Tunnel disconnects with their reason, connects and BGP events join the timeline of the open
  or recent incidents of the same gateway.
- `Tunnel*PacketDropCount` above zero while ARM reads the connection Connected joins the
  timeline of the connection's or gateway's incidents as evidence, and is kept (`drops`) for
  the P2S and metrics exporters.
- `P2SConnectionCount` feeds `P2SDetector` (`p2s_sessions_lost`).

The P2S counts are memory of the latest grain per gateway: after a restart the next metrics pass
(which carries the grain before too) rebuilds them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from vpnwatch.config import CorrelatorSettings
from vpnwatch.correlate.failover import classify
from vpnwatch.correlate.findings import DetectorContext, Finding, Resolution
from vpnwatch.correlate.maintenance import AnyWindow, maintenance_window
from vpnwatch.correlate.timeline import add_evidence
from vpnwatch.incidents import Evidence, Incident, IncidentType, Severity, incident_key
from vpnwatch.observations import DiagnosticLogObserved, MetricObserved
from vpnwatch.resourceids import name_of

RECENT_SECONDS = 1800.0  # a resolved incident still takes late log evidence this long
MATCH_SLACK = timedelta(seconds=180)  # a log row's time may differ this much from a poll's
MAINTENANCE_LEAD = timedelta(minutes=15)  # host maintenance announced this long before
SOURCE = "monitor.logs"


@dataclass(slots=True)
class P2SCount:
    at: datetime  # start of the newest grain
    total: float
    previous: float | None  # the grain before, when it had data
    baseline: float  # the highest recent count: what "connected users" normally is
    by_instance: dict[str, float] = field(default_factory=dict)


class MonitorMemory:
    """The latest Azure Monitor metrics the correlator reasons about, per gateway."""

    def __init__(self, share: float = 0.5) -> None:
        self.share = share
        self.p2s: dict[str, P2SCount] = {}
        self.drops: dict[tuple[str, str], MetricObserved] = {}
        # the newest grain of every series, for /metrics: (resource, metric, dimensions)
        self.latest: dict[tuple[str, str, tuple[tuple[str, str], ...]], MetricObserved] = {}

    def take(self, metrics: list[MetricObserved]) -> None:
        p2s: dict[str, list[MetricObserved]] = {}
        for m in metrics:
            series = (m.resource_id.lower(), m.metric, m.dimensions)
            held = self.latest.get(series)
            if held is None or held.at <= m.at:
                self.latest[series] = m
            if m.metric == "P2SConnectionCount":
                p2s.setdefault(m.resource_id.lower(), []).append(m)
            elif m.metric in ("TunnelIngressPacketDropCount", "TunnelEgressPacketDropCount"):
                connection = (m.dimension("connectionname") or "").lower()
                key = (m.resource_id.lower(), f"{connection}|{m.metric}|{m.dimension('instance')}")
                self.drops[key] = m
        for gid, series in p2s.items():
            newest = max(s.at for s in series)
            latest = [s for s in series if s.at == newest]
            total = sum(s.value for s in latest)
            previous_values = [s.previous for s in latest if s.previous is not None]
            previous = sum(previous_values) if previous_values else None
            known = self.p2s.get(gid)
            if known is not None and newest < known.at:
                continue  # an older grain than the one held
            level = max(total, previous or 0.0)
            if known is not None and self.lost(known.baseline, total):
                baseline = known.baseline  # still down: remember what it was
            else:
                baseline = level
            by_instance = {s.dimension("instance") or "": s.value for s in latest}
            self.p2s[gid] = P2SCount(newest, total, previous, baseline, by_instance)

    def forget_before(self, cutoff: datetime) -> None:
        """Drop series whose newest grain is older than `cutoff` (a deleted resource's)."""
        for series, m in list(self.latest.items()):
            if m.at < cutoff:
                del self.latest[series]

    def lost(self, baseline: float, total: float) -> bool:
        return baseline > 0 and (total == 0 or total <= baseline * (1 - self.share))


class P2SDetector:
    """`p2s_sessions_lost`: a gateway's connected point-to-site users dropped to zero, or by
    `p2s_drop_share` of their recent level, within one grain.

    Azure disconnects every P2S client when the gateway fails over, so a failover of the same
    gateway (open, held, or resolved within `RECENT_SECONDS`) explains it: then it is `info`,
    classified `after_failover`, and grouped under that failover. Otherwise `warning`. Resolves
    when the count is back above the threshold.
    """

    types = frozenset({IncidentType.P2S_SESSIONS_LOST})

    def __init__(self, memory: MonitorMemory, recent: Mapping[str, Incident]) -> None:
        self.memory = memory
        self.recent = recent

    def evaluate(self, ctx: DetectorContext) -> Iterator[Finding | Resolution]:
        subjects = {s.lower() for s in ctx.subjects(IncidentType.P2S_SESSIONS_LOST)}
        for gid in sorted(set(self.memory.p2s) | subjects):
            count = self.memory.p2s.get(gid)
            key = incident_key(IncidentType.P2S_SESSIONS_LOST, self._subject(ctx, gid))
            inc = ctx.open_incidents.get(key)
            if count is None:
                continue
            if self.memory.lost(count.baseline, count.total):
                yield self._finding(ctx, gid, key, count, opening=inc is None)
            elif inc is not None:
                yield Resolution(
                    key,
                    count.at,
                    evidence=(
                        Evidence(
                            count.at,
                            f"{count.total:g} point-to-site users connected again",
                            inc.resources[0],
                            "monitor.metrics",
                        ),
                    ),
                )

    @staticmethod
    def _subject(ctx: DetectorContext, gid: str) -> str:
        key = ctx.state.key_of(gid)
        return key or gid

    def _finding(
        self, ctx: DetectorContext, gid: str, key: str, count: P2SCount, *, opening: bool
    ) -> Finding:
        subject = self._subject(ctx, gid)
        gw = ctx.state.gateways.get(subject)
        name = gw.name if gw is not None else name_of(subject)
        failover = self._failover(gid, count.at)
        before = count.previous if count.previous is not None else count.baseline
        evidence = (
            []
            if not opening
            else [
                Evidence(
                    count.at,
                    f"P2SConnectionCount {before:g} -> {count.total:g} "
                    f"({', '.join(f'{k}: {v:g}' for k, v in sorted(count.by_instance.items()))})",
                    subject,
                    "monitor.metrics",
                )
            ]
        )
        reading = ctx.state.p2s_sessions.get(gid)
        if reading is not None and reading.observed_at >= count.at:
            evidence.append(
                Evidence(
                    reading.observed_at,
                    f"getVpnclientConnectionHealth: {len(reading.sessions)} point-to-site "
                    "sessions connected",
                    subject,
                    "arm.p2s",
                )
            )
        attributes = {"gateway": name, "p2s_baseline": f"{count.baseline:g}"}
        if failover is not None:
            attributes["failover"] = failover.key
        if failover is not None and opening:
            evidence.append(
                Evidence(
                    count.at,
                    f"explained by {failover.type.value} of gateway {name} "
                    f"({failover.classification or 'in progress'}): Azure disconnects P2S "
                    "clients on failover",
                    subject,
                )
            )
        return Finding(
            key=key,
            type=IncidentType.P2S_SESSIONS_LOST,
            severity=Severity.INFO if failover is not None else Severity.WARNING,
            title=f"Point-to-site users of gateway {name} dropped from {count.baseline:g} to "
            f"{count.total:g}",
            resources=(subject,),
            started_at=count.at,
            classification="after_failover" if failover is not None else None,
            attributes=attributes,
            evidence=tuple(evidence),
        )

    def _failover(self, gid: str, at: datetime) -> Incident | None:
        return failover_of(self.recent.values(), gid, at)


def failover_of(incidents: Iterable[Incident], gateway_id: str, at: datetime) -> Incident | None:
    """A failover of the gateway that began before `at` and ended at most `RECENT_SECONDS`
    before it (P2S clients reconnect over minutes, and the counts land late)."""
    low = gateway_id.lower()
    for inc in incidents:
        if inc.type is not IncidentType.FAILOVER:
            continue
        if low not in {r.lower() for r in inc.resources}:
            continue
        end = inc.resolved_at or inc.clearing_since or at
        if inc.opened_at - MATCH_SLACK <= at <= end + timedelta(seconds=RECENT_SECONDS):
            return inc
    return None


def explain_p2s(inc: Incident, failover: Incident) -> None:
    inc.parent_key = failover.key
    inc.classification = "after_failover"
    inc.severity = Severity.INFO
    inc.attributes["failover"] = failover.key
    add_evidence(
        inc,
        [
            Evidence(
                inc.opened_at,
                "explained by the failover of its gateway "
                f"({failover.classification or 'in progress'}"
                "): Azure disconnects point-to-site clients on failover",
                inc.resources[0],
            )
        ],
    )


# --- log evidence ------------------------------------------------------------------------------


def log_message(row: DiagnosticLogObserved) -> str:
    parts = [f"{row.category} {row.operation}"]
    if row.instance:
        parts.append(f"on {row.instance}")
    if row.remote_ip:
        parts.append(f"remote {row.remote_ip}")
    text = " ".join(parts)
    if row.reason:
        text += f": {row.reason}"
    elif row.message:
        text += f": {row.message}"
    return text


def covers(inc: Incident, at: datetime, now: datetime) -> bool:
    """The incident's spell (with slack either side) includes `at`."""
    end = inc.resolved_at or inc.clearing_since or now
    return inc.opened_at - MATCH_SLACK <= at <= end + MATCH_SLACK


def is_planned(inc: Incident) -> bool:
    return any("HostMaintenanceEvent" in e.message for e in inc.timeline)


def settle_as_failover(
    inc: Incident,
    gateway_id: str,
    gateway_name: str,
    row: DiagnosticLogObserved,
    settings: CorrelatorSettings,
    windows: Sequence[AnyWindow] = (),
) -> None:
    """Turn a single connection's `tunnel_down` into the failover its gateway's log says it was.
    `windows`: the maintenance windows in force (configured and Azure-defined)."""
    outage = inc.outage_seconds or 0.0
    window = maintenance_window(windows, gateway_id, inc.opened_at)
    classification, severity = classify(settings.failover, outage, window)
    if is_planned(inc):
        inc.attributes["maintenance"] = "host"
        if classification != "slo_breach":
            classification, severity = "planned", Severity.INFO
    if inc.resolved_at is None and inc.clearing_since is None:
        classification = "planned" if classification == "planned" else "in_progress"
        severity = Severity.INFO
    inc.type = IncidentType.FAILOVER
    inc.key = incident_key(IncidentType.FAILOVER, gateway_id)
    inc.classification = classification
    inc.severity = severity
    inc.title = (
        f"Failover of gateway {gateway_name} to {row.instance or 'the standby instance'} "
        "(one connection; confirmed by the gateway's diagnostic log)"
    )
    inc.resources = (gateway_id, *(r for r in inc.resources if r.lower() != gateway_id.lower()))
    inc.attributes["gateway"] = gateway_name
    inc.attributes["settled_by"] = row.operation
    if row.instance:
        inc.attributes["instance"] = row.instance
    if window is not None:
        inc.attributes["maintenance_window"] = window.name


def plan(inc: Incident) -> None:
    """A failover a host maintenance caused is planned (unless it broke the SLO)."""
    if inc.classification != "slo_breach":
        inc.classification = "planned"
        inc.severity = Severity.INFO
    inc.attributes["maintenance"] = "host"
