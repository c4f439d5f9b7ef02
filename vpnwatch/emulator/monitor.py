"""The Azure Monitor surfaces beside ARM: the metrics batch API and the Log Analytics query API.

Both are reads, whatever their HTTP method, so the scenario's `throttle`, `api_unavailable`,
`auth_failure` faults and missed polls apply to them as to ARM reads. They do not drain ARM's
subscription read quota: the batch API exists so metrics do not count against ARM's limits
(learn.microsoft.com/azure/azure-monitor/metrics/migrate-to-batch-api); it has its own quota per
subscription (`metrics.py`). Log Analytics has its own per-caller limit, modelled in
`loganalytics.py`.
"""

from __future__ import annotations

from datetime import datetime

from vpnwatch.emulator.arm import Reply, error
from vpnwatch.emulator.loganalytics import LogAnalyticsApi
from vpnwatch.emulator.metrics import MetricsApi, is_metrics_batch
from vpnwatch.emulator.traffic import TrafficPolicy
from vpnwatch.emulator.world import World


class MonitorApi:
    def __init__(self, world: World, started_at: datetime, speed: float = 1.0) -> None:
        self.metrics = MetricsApi(world, started_at, speed)
        self.logs = LogAnalyticsApi(world, started_at, speed)

    def serves(self, path: str) -> bool:
        return is_metrics_batch(path) or self.logs.serves(path)

    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        body: bytes,
        t: float,
        traffic: TrafficPolicy,
    ) -> Reply:
        subscription = _subscription_of(path)
        refusal = traffic.refuse("GET", path, subscription, t)
        if refusal is not None:
            return error(refusal.status, refusal.code, refusal.message, refusal.headers)
        if self.logs.serves(path):
            return self.logs.handle(method, path, body, t)  # Log Analytics has no api-version
        if "api-version" not in query:
            return error(
                400, "MissingApiVersionParameter", "The api-version parameter is required."
            )
        return self.metrics.handle(method, path, query, body, t)


def _subscription_of(path: str) -> str | None:
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0].lower() == "subscriptions":
        return parts[1]
    return None
