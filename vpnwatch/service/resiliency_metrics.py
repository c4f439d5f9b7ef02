"""ExpressRoute resiliency on `/metrics`: how old each circuit's and ExpressRoute gateway's last
validation (failover test) is, and the gateway's Resiliency Insights score, under the
`resource_group` and `circuit` / `gateway` labels of the Azure Monitor series.

A resource where Azure says the feature is not available exports nothing; one never validated
exports `vpnwatch_expressroute_resiliency_validated 0` and no age.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from vpnwatch.observations import ResiliencyObserved
from vpnwatch.service.monitor_metrics import Add, resource_labels

INSTRUMENTS: tuple[tuple[str, str, str], ...] = (
    ("vpnwatch_expressroute_resiliency_validated",
     "1 when Azure reports a completed failover test (resiliency validation) for the circuit "
     "or ExpressRoute gateway, 0 when none ever ran", "1"),
    ("vpnwatch_expressroute_resiliency_validation_age_seconds",
     "Seconds since the newest completed failover test of the circuit or ExpressRoute gateway "
     "ended", "s"),
    ("vpnwatch_expressroute_resiliency_score",
     "Resiliency Insights overall score of an ExpressRoute gateway (0-100)", "1"),
)  # fmt: skip


def export(add: Add, readings: Iterable[ResiliencyObserved], now: datetime) -> None:
    for observed in readings:
        if not observed.supported:
            continue
        labels = resource_labels(observed.resource_id)
        last = observed.last_validation
        add("vpnwatch_expressroute_resiliency_validated", 0.0 if last is None else 1.0, labels)
        if last is not None:
            age = max(0.0, (now - last).total_seconds())
            add("vpnwatch_expressroute_resiliency_validation_age_seconds", age, labels)
        if observed.score is not None:
            add("vpnwatch_expressroute_resiliency_score", observed.score, labels)
