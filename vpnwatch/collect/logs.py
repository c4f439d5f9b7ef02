"""VPN gateway diagnostic logs from Log Analytics (`LogsQueryClient`, KQL over `AzureDiagnostics`).

Rows of `GatewayDiagnosticLog`, `TunnelDiagnosticLog`, `RouteDiagnosticLog`, `IKEDiagnosticLog`
and `P2SDiagnosticLog` become `DiagnosticLogObserved` records: instance switches, host
maintenance, tunnel and BGP connects and disconnects with their instance and reason.

Reading is incremental. Resource logs land 3 to 10 minutes after they happen and not in order,
so each pass reads from `overlap` before the newest TimeGenerated taken so far and skips rows it
already took (their keys are kept for the overlap). The watermark is committed only after the
agent has persisted what the pass observed (`commit`), so a crash in between rereads rows
(skipped again by key or absorbed by the incident timeline's own de-duplication) rather than
losing any.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from azure.monitor.query import LogsQueryPartialResult, LogsQueryStatus

from vpnwatch.clock import Clock
from vpnwatch.collect.base import ArmCollector, CallFailed, Scope
from vpnwatch.collect.clients import AzureClients
from vpnwatch.collect.errors import Failure
from vpnwatch.collect.telemetry import tally_requests
from vpnwatch.observations import (
    CollectionRun,
    DiagnosticLogObserved,
    FailureCause,
    LogEvent,
    Observation,
)
from vpnwatch.store.watermarks import LogWatermark

log = logging.getLogger(__name__)

CATEGORIES = (
    "GatewayDiagnosticLog",
    "TunnelDiagnosticLog",
    "RouteDiagnosticLog",
    "IKEDiagnosticLog",
    "P2SDiagnosticLog",
)
COLUMNS = (
    "TimeGenerated",
    "ResourceId",
    "Category",
    "OperationName",
    "Message",
    "instance_s",
    "remoteIP_s",
    "status_s",
    "stateChangeReason_s",
)
EVENTS = {
    "gatewaytenantprimarychanged": LogEvent.INSTANCE_SWITCH,
    "hostmaintenanceevent": LogEvent.HOST_MAINTENANCE,
    "tunnelconnected": LogEvent.TUNNEL_CONNECTED,
    "tunneldisconnected": LogEvent.TUNNEL_DISCONNECTED,
    "bgpconnectedevent": LogEvent.BGP_CONNECTED,
    "bgpdisconnectedevent": LogEvent.BGP_DISCONNECTED,
    "bgprouteupdate": LogEvent.ROUTE_UPDATE,
    "staticrouteupdate": LogEvent.ROUTE_UPDATE,
    "setgatewayconfiguration": LogEvent.CONFIGURATION,
    "setconnectionconfiguration": LogEvent.CONFIGURATION,
}


class WatermarkStore(Protocol):
    def load_log_watermark(self, source: str) -> LogWatermark | None: ...

    def save_log_watermark(self, watermark: LogWatermark, now: datetime) -> None: ...


def diagnostics_query(subscription_id: str, since: datetime, max_rows: int) -> str:
    """The KQL one pass sends: VPN gateway rows of one subscription since `since`, oldest first."""
    categories = ", ".join(f'"{c}"' for c in CATEGORIES)
    stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return (
        "AzureDiagnostics\n"
        f'| where TimeGenerated >= datetime({stamp}) and SubscriptionId =~ "{subscription_id}"'
        f' and ResourceType == "VIRTUALNETWORKGATEWAYS" and Category in ({categories})\n'
        f"| project {', '.join(COLUMNS)}\n"
        "| order by TimeGenerated asc\n"
        f"| take {max_rows}"
    )


def event_of(category: str, operation: str) -> LogEvent:
    found = EVENTS.get(operation.lower())
    if found is not None:
        return found
    if category == "IKEDiagnosticLog":
        return LogEvent.IKE
    if category == "P2SDiagnosticLog":
        return LogEvent.P2S
    return LogEvent.OTHER


def row_key(values: dict[str, Any]) -> str:
    """A row's identity: the same row read twice has the same key."""
    text = "\x1f".join(str(values.get(c, "")) for c in COLUMNS)
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


class DiagnosticLogCollector(ArmCollector):
    name = "monitor.logs"
    kind = "logs"

    def __init__(
        self,
        clients: AzureClients,
        clock: Clock,
        interval_seconds: float,
        watermarks: WatermarkStore | None = None,
    ) -> None:
        super().__init__(clients, clock, interval_seconds)
        config = clients.settings.collectors.logs
        self.workspace_id = config.workspace_id or ""
        self.overlap = timedelta(minutes=config.overlap_minutes)
        self.first_lookback = timedelta(minutes=config.first_lookback_minutes)
        self.max_rows = config.max_rows
        self.watermarks = watermarks
        self._marks: dict[str, LogWatermark] = {}
        self._pending: dict[str, LogWatermark] = {}

    def source_of(self, scope: Scope) -> str:
        return f"{self.name}|{self.workspace_id}|{scope.subscription_id.lower()}"

    async def collect(self, scope: Scope) -> list[Observation]:
        started = time.monotonic()
        began = self.clock.now()
        source = self.source_of(scope)
        observations: list[Observation] = []
        failure = None
        with tally_requests() as tally:
            mark = await self._watermark(source)
            now = self.clock.now()
            since = (
                (mark.high - self.overlap) if mark.high is not None else now - self.first_lookback
            )
            try:
                rows = await self._rows(scope, since)
            except CallFailed as exc:
                failure = exc.failure
                rows = []
            fresh, updated = take_new(mark, rows, self.overlap)
            observations.extend(self._observe(r) for r in fresh)
            if failure is None:
                self._pending[source] = updated
        observations.append(
            CollectionRun(
                observed_at=self.clock.now(),
                source=self.name,
                collector=self.name,
                scope=scope.label,
                ok=failure is None,
                cause=failure.cause if failure else None,
                reason=failure.reason if failure else "",
                requests=tally.requests,
                throttled=tally.throttled,
                duration_seconds=time.monotonic() - started,
                started_at=began,
                extra={"rows": str(len(rows)), "new_rows": str(len(fresh))},
            )
        )
        return observations

    async def commit(self) -> None:
        """Keep the watermarks of the passes whose observations the agent has persisted."""
        pending, self._pending = self._pending, {}
        for source, mark in pending.items():
            self._marks[source] = mark
            if self.watermarks is not None:
                await asyncio.to_thread(self.watermarks.save_log_watermark, mark, self.clock.now())

    # --- internals ---------------------------------------------------------------------------

    async def _watermark(self, source: str) -> LogWatermark:
        mark = self._marks.get(source)
        if mark is None and self.watermarks is not None:
            mark = await asyncio.to_thread(self.watermarks.load_log_watermark, source)
        if mark is None:
            mark = LogWatermark(source)
        self._marks[source] = mark
        return mark

    async def _rows(self, scope: Scope, since: datetime) -> list[dict[str, Any]]:
        client = self.clients.logs
        query = diagnostics_query(scope.subscription_id, since, self.max_rows)
        # The timespan bounds the scan as the query does; Log Analytics wants one of the two.
        span = (since, self.clock.now() + timedelta(minutes=1))
        result = await self.call(
            f"query diagnostic logs of {scope.subscription_id} in workspace {self.workspace_id}",
            lambda: client.query_workspace(self.workspace_id, query, timespan=span),
        )
        if isinstance(result, LogsQueryPartialResult) or result.status != LogsQueryStatus.SUCCESS:
            # Partial data: keep none of it, so the watermark does not move past a hole.
            error = getattr(result, "partial_error", None)
            raise CallFailed(_partial_failure(str(error or "partial result")))
        rows: list[dict[str, Any]] = []
        for table in result.tables:
            for row in table.rows:
                rows.append({c: row[c] for c in table.columns})
        return rows

    def _observe(self, row: dict[str, Any]) -> DiagnosticLogObserved:
        category = str(row.get("Category") or "")
        operation = str(row.get("OperationName") or "")
        return DiagnosticLogObserved(
            observed_at=self.clock.now(),
            source=self.name,
            resource_id=str(row.get("ResourceId") or ""),
            at=_aware(row["TimeGenerated"]),
            category=category,
            operation=operation,
            event=event_of(category, operation),
            message=str(row.get("Message") or ""),
            instance=row.get("instance_s") or None,
            remote_ip=row.get("remoteIP_s") or None,
            status=row.get("status_s") or None,
            reason=row.get("stateChangeReason_s") or None,
        )


def take_new(
    mark: LogWatermark, rows: list[dict[str, Any]], overlap: timedelta
) -> tuple[list[dict[str, Any]], LogWatermark]:
    """The rows not taken before, and the watermark after taking them."""
    fresh: list[dict[str, Any]] = []
    seen = dict(mark.seen)
    high = mark.high
    for row in rows:
        at = _aware(row["TimeGenerated"])
        key = row_key(row)
        if key in seen:
            continue
        seen[key] = at
        fresh.append(row)
        if high is None or at > high:
            high = at
    if high is not None:
        floor = high - overlap
        seen = {k: at for k, at in seen.items() if at >= floor}
    return fresh, LogWatermark(mark.source, high, seen)


def _aware(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _partial_failure(reason: str) -> Failure:
    return Failure(FailureCause.SERVER_ERROR, f"Log Analytics returned a partial result: {reason}")
