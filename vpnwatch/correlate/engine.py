"""The correlation engine: observations in, the few incidents an on-call engineer needs out.

Each step applies the observations to the fleet state, asks every enabled detector what holds,
and then applies these rules, all here and nowhere else:

- One open incident per key (type + subject). A finding for an open key updates it: severity,
  classification, resources and title follow the finding; new evidence is appended to the
  timeline, never twice.
- Causes before symptoms. A finding names the keys it `explains`. An open incident whose key is
  explained gets `parent_key` = the explaining finding's key (the nearest open one, if that
  finding is itself a suppressed symptom). A new finding whose key is explained does not open as
  a page of its own: its evidence goes to that nearest open ancestor's timeline. The exception
  is `zone_outage`, which adopts the per-gateway incidents it explains as children (opened,
  `parent_key` set) so the API can list what the zone took down, and `vnet2vnet_down`, which
  opens as a child of the gateway failure that explains it (a link between two networks is
  worth listing on its own, under its cause). When several findings explain
  one key, the most specific cause (lowest rank below) is the parent. An incident waiting out its
  resolution hold still explains what its resolution names: the BGP sessions that re-establish a
  poll after their tunnels do not page on their own.
- Flap damping. A resolution starts a hold (`clearing_since` = the restore time); the incident
  resolves once the condition stayed clear for `clear_hold_seconds`, with `resolved_at`
  back-dated to the restore. If the condition returns within the hold the same incident goes on,
  `flaps += 1`, and `tunnel_down` is classified `flapping` from two flaps on. `outage_seconds`
  is the total time down across flaps: the spells before the current one add up in the
  attribute `earlier_outage_seconds`, and `spell_started_at` says when the current one began.
- A detector that says nothing about an open incident cannot tell (stale or unreadable data):
  the incident stays as it is. Nothing is resolved from data that was not seen.

`CorrelationResult.updated` lists incidents whose severity, classification, title, resources,
parent, attributes, flap state or timeline changed; a growing `outage_seconds` alone is live in
memory (the API reads it) but is not a change to persist or announce. An incident opened and
resolved in the same step is in both `opened` and `resolved`.

Detectors do not scan the fleet: they look at unhealthy entities, at what the step observed and
at their own open incidents, through indexes (connections per gateway and site, gateways per
VNet and zone), so a step costs time linear in what it observed plus what is unhealthy. Call
`process` once per collection pass with all its observations.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from vpnwatch.config import CorrelatorSettings
from vpnwatch.correlate import azuremonitor, gap, vnet2vnet
from vpnwatch.correlate.azuremonitor import MonitorMemory, P2SDetector
from vpnwatch.correlate.bgp import BgpDetector
from vpnwatch.correlate.blind import BlindDetector
from vpnwatch.correlate.expressroute import ExpressRouteDetector
from vpnwatch.correlate.failover import FailoverDetector
from vpnwatch.correlate.findings import (
    EARLIER_OUTAGE,
    SPELL_STARTED,
    Detector,
    DetectorContext,
    Finding,
    Resolution,
    seconds,
)
from vpnwatch.correlate.redundancy import RedundancyDetector
from vpnwatch.correlate.resiliency import ResiliencyDetector
from vpnwatch.correlate.site import SiteDetector
from vpnwatch.correlate.state import FleetState
from vpnwatch.correlate.tags import incident_tags, retag
from vpnwatch.correlate.timeline import add_evidence as _add_evidence
from vpnwatch.correlate.tunnel import TunnelDetector
from vpnwatch.correlate.vnet2vnet import Vnet2VnetDetector
from vpnwatch.correlate.zone import ZoneDetector
from vpnwatch.incidents import Evidence, Incident, IncidentStatus, IncidentType, incident_key
from vpnwatch.observations import (
    AzureAlertObserved,
    DiagnosticLogObserved,
    LogEvent,
    MetricObserved,
    Observation,
)

# How specific a cause is: the lowest rank among a key's explainers becomes its parent.
_RANK: dict[IncidentType, int] = {
    IncidentType.TUNNEL_DOWN: 0,
    IncidentType.BGP_PEER_DOWN: 0,
    IncidentType.ROUTE_WITHDRAWAL: 0,
    IncidentType.EXPRESSROUTE_REDUNDANCY_LOST: 0,
    IncidentType.FAILOVER: 1,
    IncidentType.REDUNDANCY_LOST: 1,
    IncidentType.GATEWAY_DOWN: 2,
    IncidentType.SITE_DOWN: 1,
    IncidentType.VNET2VNET_DOWN: 1,
    IncidentType.EXPRESSROUTE_DOWN: 1,
    IncidentType.EXPRESSROUTE_FAILOVER_TO_VPN: 2,
    IncidentType.HYBRID_CONNECTIVITY_LOST: 3,
    IncidentType.ZONE_OUTAGE: 4,
    IncidentType.MONITORING_BLIND: 5,
    IncidentType.P2S_SESSIONS_LOST: 0,
}

# Explained, these still open (as children, never paged): a VNet-to-VNet link is connectivity
# of its own between two networks, listed under the gateway failure that broke it.
_OPENS_AS_CHILD = frozenset({IncidentType.VNET2VNET_DOWN})


@dataclass(slots=True)
class CorrelationResult:
    """What changed in one step: the incidents (full objects) and the entity records to persist."""

    opened: list[Incident] = field(default_factory=list)
    updated: list[Incident] = field(default_factory=list)
    resolved: list[Incident] = field(default_factory=list)
    # encoded when read (see `RecordChanges`): persist them before the next step
    entity_records_changed: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    entity_ids_removed: list[str] = field(default_factory=list)


def build_detectors(settings: CorrelatorSettings) -> list[Detector]:
    candidates: list[tuple[bool, Detector]] = [
        (settings.tunnel.enabled, TunnelDetector()),
        (settings.failover.enabled, FailoverDetector()),
        (settings.redundancy.enabled, RedundancyDetector()),
        (settings.bgp.enabled, BgpDetector()),
        (settings.expressroute.enabled, ExpressRouteDetector()),
        (settings.site.enabled, SiteDetector()),
        (settings.vnet2vnet.enabled, Vnet2VnetDetector()),
        (settings.zone.enabled, ZoneDetector()),
        (settings.blind.enabled, BlindDetector()),
        (settings.resiliency.enabled, ResiliencyDetector()),
    ]
    return [detector for enabled, detector in candidates if enabled]


def _fingerprint(inc: Incident) -> tuple[object, ...]:
    return (
        inc.status,
        inc.severity,
        inc.title,
        inc.resources,
        inc.classification,
        inc.parent_key,
        inc.timeline_revision,
        inc.clearing_since,
        inc.flaps,
        tuple(sorted(inc.attributes.items())),
    )


def _earlier_outage(inc: Incident) -> float:
    return float(inc.attributes.get(EARLIER_OUTAGE, 0.0))


class _Changes:
    def __init__(self, now: datetime) -> None:
        self.now = now
        self.opened: dict[str, Incident] = {}
        self.updated: dict[str, Incident] = {}
        self.resolved: dict[str, Incident] = {}

    def note(self, inc: Incident, before: tuple[object, ...]) -> None:
        if _fingerprint(inc) != before:
            inc.updated_at = self.now
            self.updated[inc.key] = inc

    def result(
        self, records: Mapping[str, dict[str, Any]], removed: list[str]
    ) -> CorrelationResult:
        skip = self.opened.keys() | self.resolved.keys()
        return CorrelationResult(
            opened=list(self.opened.values()),
            updated=[i for k, i in self.updated.items() if k not in skip],
            resolved=list(self.resolved.values()),
            entity_records_changed=records,
            entity_ids_removed=removed,
        )


class Correlator:
    """Turns observations into incidents; resumes from the store's open incidents and records."""

    def __init__(
        self,
        settings: CorrelatorSettings,
        *,
        open_incidents: Iterable[Incident] = (),
        entity_records: dict[str, dict[str, Any]] | None = None,
        recently_resolved: Iterable[Incident] = (),
    ) -> None:
        """`recently_resolved`: incidents resolved within `RECENT_SECONDS` before the restart,
        which late Azure Monitor evidence may still update (the store keeps them)."""
        self.settings = settings
        self._state = FleetState.from_records(
            settings.state,
            entity_records or {},
            route_samples=settings.bgp.route_baseline_samples,
        )
        self._open: dict[str, Incident] = {}
        for inc in sorted(open_incidents, key=lambda i: i.opened_at):
            if inc.is_open:
                self._open[inc.key] = inc
        self._detectors = build_detectors(settings)
        # Azure Monitor evidence arrives minutes late: incidents resolved lately still take it.
        self._recent: dict[str, Incident] = {}
        for inc in sorted(recently_resolved, key=lambda i: i.resolved_at or i.opened_at):
            if not inc.is_open and inc.key not in self._open:
                self._recent[inc.key] = inc
        self._monitor = MonitorMemory(settings.p2s.drop_share)
        if settings.p2s.enabled:
            self._detectors.append(P2SDetector(self._monitor, self._recent_and_open()))
        self._open_counts = self._count_open()
        self._started_at: datetime | None = None  # the first step: what came before, we missed

    @property
    def state(self) -> FleetState:
        return self._state

    def settled(self, *, late_evidence: bool) -> bool:
        """No incident open; with `late_evidence` (Azure Monitor collectors on), also none
        resolved lately that evidence arriving late may still update."""
        return not self._open and not (late_evidence and self._recent)

    def open_incidents(self) -> list[Incident]:
        return sorted(self._open.values(), key=lambda i: (i.opened_at, i.key))

    def open_counts(self) -> dict[tuple[str, str], int]:
        """Open incidents by (type, severity), as of the last step: what /health and /metrics
        read, without walking the open incidents on every request."""
        return self._open_counts

    def _count_open(self) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        for inc in self._open.values():
            key = (str(inc.type), str(inc.severity))
            counts[key] = counts.get(key, 0) + 1
        return counts

    def tick(self, now: datetime) -> CorrelationResult:
        """Let time pass: staleness, resolution holds, SLO escalation, blindness timers."""
        return self.process((), now)

    def process(self, observations: Sequence[Observation], now: datetime) -> CorrelationResult:
        if self._started_at is None:
            self._started_at = now
        state = self._state
        state.begin_step()
        alerts: list[AzureAlertObserved] = []
        logs: list[DiagnosticLogObserved] = []
        metrics: list[MetricObserved] = []
        for observation in observations:
            if isinstance(observation, AzureAlertObserved):
                alerts.append(observation)
            elif isinstance(observation, DiagnosticLogObserved):
                logs.append(observation)
            elif isinstance(observation, MetricObserved):
                metrics.append(observation)
            else:
                state.apply(observation)
        state.refresh()
        self._monitor.take(metrics)
        findings, resolutions = self._evaluate(now)
        changes = _Changes(now)
        self._apply_findings(findings, resolutions, changes)
        self._apply_resolutions(resolutions, changes)
        self._record_unseen_outages(changes)
        self._attach_alerts(alerts, changes)
        self._attach_logs(logs, changes)
        self._attach_drops(metrics, changes)
        self._explain_p2s(changes)
        self._forget_old(now)
        records, removed = state.take_record_changes()
        self._open_counts = self._count_open()
        return changes.result(records, removed)

    # --- evaluation -----------------------------------------------------------------------------

    def _evaluate(self, now: datetime) -> tuple[dict[str, Finding], dict[str, Resolution]]:
        findings: dict[str, Finding] = {}
        resolutions: dict[str, Resolution] = {}
        for detector in self._detectors:
            own = {k: i for k, i in self._open.items() if i.type in detector.types}
            ctx = DetectorContext(self._state, now, self.settings, own)
            for item in detector.evaluate(ctx):
                if isinstance(item, Finding):
                    findings[item.key] = item
                else:
                    resolutions.setdefault(item.key, item)
        return findings, resolutions

    def _explainers(
        self, findings: dict[str, Finding], resolutions: dict[str, Resolution]
    ) -> tuple[dict[str, str], dict[str, IncidentType]]:
        """For each explained key, the key of the most specific cause explaining it (a finding,
        or an open incident clearing), and the type of every cause."""
        causes: dict[str, tuple[IncidentType, frozenset[str]]] = {
            r.key: (self._open[r.key].type, r.explains)
            for r in resolutions.values()
            if r.explains and r.key in self._open and r.key not in findings
        }
        causes.update((f.key, (f.type, f.explains)) for f in findings.values())
        explainer: dict[str, str] = {}
        for cause in sorted(causes):
            type_, explains = causes[cause]
            for key in explains:
                if key == cause or (key not in findings and key not in self._open):
                    continue
                current = explainer.get(key)
                if current is None or (_RANK[type_], cause) < (_RANK[causes[current][0]], current):
                    explainer[key] = cause
        for key in sorted(explainer):  # a cycle of explanations has no root: cut it
            seen = {key}
            parent = explainer.get(key)
            while parent is not None:
                if parent in seen:
                    explainer.pop(key, None)
                    break
                seen.add(parent)
                parent = explainer.get(parent)
        return explainer, {k: t for k, (t, _) in causes.items()}

    # --- engine rules ---------------------------------------------------------------------------

    def _apply_findings(
        self, findings: dict[str, Finding], resolutions: dict[str, Resolution], changes: _Changes
    ) -> None:
        explainer, cause_types = self._explainers(findings, resolutions)

        def depth(key: str) -> int:
            n = 0
            while (key := explainer.get(key, "")) != "":
                n += 1
            return n

        def open_ancestor(key: str) -> str | None:
            """The nearest explainer of `key` that is an open incident (causes open first)."""
            ancestor = explainer.get(key)
            while ancestor is not None and ancestor not in self._open:
                ancestor = explainer.get(ancestor)
            return ancestor

        forwarded: dict[str, list[Evidence]] = {}
        for key in sorted(findings, key=lambda k: (depth(k), k)):
            f = findings[key]
            parent = explainer.get(key)
            inc = self._open.get(key)
            if inc is not None:
                self._continue(inc, f, open_ancestor(key), changes)
            elif f.pending:
                continue
            elif parent is None or cause_types[parent] is IncidentType.ZONE_OUTAGE:
                self._open_new(f, parent, changes)
            elif (ancestor := open_ancestor(key)) is not None:
                if f.type in _OPENS_AS_CHILD:
                    self._open_new(f, ancestor, changes)
                else:
                    forwarded.setdefault(ancestor, []).extend(f.evidence)
        for key in explainer:  # explained while its own detector cannot tell
            inc = self._open.get(key)
            ancestor = open_ancestor(key)
            if key in findings or inc is None or ancestor in (None, inc.parent_key):
                continue
            before = _fingerprint(inc)
            inc.parent_key = ancestor
            changes.note(inc, before)
        for key, evidence in forwarded.items():
            inc = self._open[key]
            before = _fingerprint(inc)
            _add_evidence(inc, evidence)
            changes.note(inc, before)

    def _open_new(self, f: Finding, parent: str | None, changes: _Changes) -> None:
        attributes = {**incident_tags(self._state, f.key, f.resources), **f.attributes}
        title = f.title
        unseen = gap.unseen_start(self._state, f, self._started_at)
        if unseen is not None:
            gap.mark(attributes, unseen, f.started_at)
            title = gap.titled(title, attributes)
        inc = Incident(
            key=f.key,
            type=f.type,
            severity=f.severity,
            title=title,
            resources=f.resources,
            opened_at=f.started_at,
            classification=f.classification,
            outage_seconds=f.outage_seconds,
            parent_key=parent,
            attributes=attributes,
            updated_at=changes.now,
        )
        _add_evidence(inc, f.evidence)
        if unseen is not None:
            _add_evidence(inc, gap.evidence(unseen, f.started_at))
        self._open[f.key] = inc
        changes.opened[f.key] = inc

    def _continue(self, inc: Incident, f: Finding, parent: str | None, changes: _Changes) -> None:
        before = _fingerprint(inc)
        if inc.clearing_since is not None:  # back within the hold: same incident, one more flap
            inc.flaps += 1
            inc.attributes[EARLIER_OUTAGE] = str(round(inc.outage_seconds or 0.0, 3))
            inc.attributes[SPELL_STARTED] = f.started_at.isoformat()
            inc.clearing_since = None
            _add_evidence(inc, [Evidence(f.started_at, f"condition back (flap {inc.flaps})")])
        inc.severity = f.severity
        inc.title = gap.titled(f.title, inc.attributes)
        inc.resources = f.resources
        inc.classification = f.classification
        if f.outage_seconds is not None:
            inc.outage_seconds = _earlier_outage(inc) + f.outage_seconds
        retag(inc.attributes, incident_tags(self._state, f.key, f.resources))
        inc.attributes.update(f.attributes)
        if parent is not None:
            inc.parent_key = parent
        _add_evidence(inc, f.evidence)
        self._classify_flapping(inc)
        changes.note(inc, before)

    def _apply_resolutions(self, resolutions: dict[str, Resolution], changes: _Changes) -> None:
        for key in sorted(resolutions):
            inc = self._open.get(key)
            if inc is None:
                continue
            # blindness is about vpnwatch, not a flapping network: seeing again ends it at once
            # (its detector already waits for the failing collectors' next successful run)
            blind = inc.type is IncidentType.MONITORING_BLIND
            hold = 0.0 if blind else self.settings.state.clear_hold_seconds
            r = resolutions[key]
            before = _fingerprint(inc)
            if inc.clearing_since is None:
                inc.clearing_since = r.resolved_at
                if r.outage_seconds is not None:
                    inc.outage_seconds = _earlier_outage(inc) + r.outage_seconds
                if r.classification is not None:
                    inc.classification = r.classification
                if r.severity is not None:
                    inc.severity = r.severity
                _add_evidence(inc, r.evidence)
                self._classify_flapping(inc)
            if seconds(inc.clearing_since, changes.now) >= hold:
                inc.status = IncidentStatus.RESOLVED
                inc.resolved_at = inc.clearing_since
                message = f"resolved after staying clear for {hold:g} s" if hold else "resolved"
                _add_evidence(inc, [Evidence(inc.clearing_since, message)])
                del self._open[key]
                self._recent[key] = inc
                changes.resolved[key] = inc
            changes.note(inc, before)

    def _record_unseen_outages(self, changes: _Changes) -> None:
        """Outages that began and ended in a gap (`gap.py`): opened and resolved at once."""
        if not self._state.reconnected:
            return
        known = {**self._recent, **self._open}
        for inc in gap.unseen_outages(self._state, self._started_at, changes.now, known):
            inc.attributes = {
                **incident_tags(self._state, inc.key, inc.resources),
                **inc.attributes,
            }
            self._recent[inc.key] = inc
            changes.opened[inc.key] = inc
            changes.resolved[inc.key] = inc

    @staticmethod
    def _classify_flapping(inc: Incident) -> None:
        if inc.type is IncidentType.TUNNEL_DOWN and inc.flaps >= 2:
            inc.classification = "flapping"

    # --- Azure Monitor evidence (late: it updates incidents, it never opens one) -----------------

    def _recent_and_open(self) -> _RecentAndOpen:
        return _RecentAndOpen(self)

    def _about(self, resource_id: str, now: datetime) -> list[Incident]:
        """Open and lately resolved incidents one of whose resources is `resource_id`."""
        low = resource_id.lower()
        found = []
        for inc in [*self._open.values(), *self._recent.values()]:
            if any(r.lower() == low for r in inc.resources):
                found.append(inc)
        return found

    def _attach_logs(self, logs: list[DiagnosticLogObserved], changes: _Changes) -> None:
        for row in sorted(logs, key=lambda r: r.at):
            gid = self._state.key_of(row.resource_id) or row.resource_id
            gw = self._state.gateways.get(gid)
            message = azuremonitor.log_message(row)
            for inc in self._about(gid, changes.now):
                if not azuremonitor.covers(inc, row.at, changes.now):
                    continue
                before = _fingerprint(inc)
                key_before = inc.key
                _add_evidence(inc, [Evidence(row.at, message, gid, row.source)], collapse=True)
                if row.event is LogEvent.INSTANCE_SWITCH and gw is not None:
                    if inc.type is IncidentType.FAILOVER and row.instance:
                        inc.attributes["instance"] = row.instance
                    elif inc.type is IncidentType.VNET2VNET_DOWN:
                        vnet2vnet.note_switch(inc, gw.name)
                    elif (
                        inc.type is IncidentType.TUNNEL_DOWN
                        and not gw.active_active
                        and incident_key(IncidentType.FAILOVER, gid) not in self._open
                    ):
                        azuremonitor.settle_as_failover(
                            inc,
                            gid,
                            gw.name,
                            row,
                            self.settings,
                            self._state.maintenance_windows(self.settings.maintenance_windows),
                        )
                        self._rekey(inc, key_before, changes)
                elif row.event is LogEvent.HOST_MAINTENANCE and inc.type is IncidentType.FAILOVER:
                    azuremonitor.plan(inc)
                changes.note(inc, before)

    def _rekey(self, inc: Incident, old: str, changes: _Changes) -> None:
        for table in (self._open, self._recent, changes.opened, changes.resolved):
            if table.pop(old, None) is not None:
                table[inc.key] = inc
        changes.updated.pop(old, None)

    def _attach_drops(self, metrics: list[MetricObserved], changes: _Changes) -> None:
        """Packets dropped on a tunnel that ARM reads Connected: evidence on its incidents."""
        for m in metrics:
            if not m.metric.endswith("PacketDropCount") or m.value <= 0:
                continue
            gid = self._state.key_of(m.resource_id) or m.resource_id
            connection = m.dimension("connectionname") or ""
            message = (
                f"{m.metric} {m.value:g} in {m.grain_seconds / 60:g} min on connection "
                f"{connection} ({m.dimension('instance') or '-'})"
            )
            for inc in self._about(gid, changes.now):
                before = _fingerprint(inc)
                _add_evidence(inc, [Evidence(m.at, message, gid, m.source)], collapse=True)
                changes.note(inc, before)

    def _explain_p2s(self, changes: _Changes) -> None:
        """P2S users lost to a failover of their gateway: grouped under it, however late the
        failover was confirmed (a single connection's is only known from the gateway's log)."""
        everything = {**self._recent, **self._open}
        for inc in everything.values():
            if inc.type is not IncidentType.P2S_SESSIONS_LOST or inc.parent_key is not None:
                continue
            failover = azuremonitor.failover_of(
                everything.values(), inc.resources[0], inc.opened_at
            )
            if failover is None:
                continue
            before = _fingerprint(inc)
            azuremonitor.explain_p2s(inc, failover)
            changes.note(inc, before)

    @property
    def monitor(self) -> MonitorMemory:
        """The newest Azure Monitor metrics, per series (what /metrics exports)."""
        return self._monitor

    def _forget_old(self, now: datetime) -> None:
        self._monitor.forget_before(now - timedelta(seconds=azuremonitor.RECENT_SECONDS))
        for key, inc in list(self._recent.items()):
            if (
                inc.resolved_at is None
                or seconds(inc.resolved_at, now) > azuremonitor.RECENT_SECONDS
            ):
                del self._recent[key]

    def _attach_alerts(self, alerts: list[AzureAlertObserved], changes: _Changes) -> None:
        """An Azure Monitor alert about a resource of an open incident joins its timeline."""
        for alert in alerts:
            fired = alert.monitor_condition == "Fired"
            at = (alert.fired_at if fired else alert.resolved_at) or alert.observed_at
            message = (
                f"Azure Monitor alert '{alert.rule}' ({alert.severity}, "
                f"{alert.monitoring_service}) {alert.monitor_condition}"
            )
            if alert.description:
                message += f": {alert.description}"
            for target in alert.target_ids:
                low = target.lower()
                for inc in self._open.values():
                    about = (r.lower() for r in inc.resources)
                    if any(r == low or r.startswith(low + "/") for r in about):
                        before = _fingerprint(inc)
                        _add_evidence(
                            inc, [Evidence(at, message, target, alert.source)], collapse=True
                        )
                        changes.note(inc, before)


class _RecentAndOpen(Mapping[str, Incident]):
    """A live view of the engine's open and lately resolved incidents, for detectors that
    explain by what already happened (P2S users lost after a failover)."""

    def __init__(self, engine: Correlator) -> None:
        self._engine = engine

    def _all(self) -> dict[str, Incident]:
        return {**self._engine._recent, **self._engine._open}

    def __getitem__(self, key: str) -> Incident:
        return self._all()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())
