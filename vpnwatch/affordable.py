"""What the read budget affords per subscription, and how fresh that keeps the fleet: honest
degradation.

When a subscription's budget cannot read its connections at the configured interval, vpnwatch
keeps going at the interval it can afford and says so: one log line per subscription when that
interval is first known and whenever it changes, and the same figures in `/health` and
`/metrics` (budget, promised and achieved interval, age of the least recently read connection).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from vpnwatch.collect.budget import READS, WRITES, BucketSnapshot
from vpnwatch.collect.clients import AzureClients
from vpnwatch.config import Settings

log = logging.getLogger("vpnwatch.budget")

CONNECTIONS = "arm.connections"
BGP = "arm.bgp"
CHANGE = 0.25  # a promised interval that moves by more than this share is logged again


@dataclass(frozen=True, slots=True)
class SubscriptionBudget:
    """One subscription: its ARM budget as vpnwatch spends it, and the refresh it affords."""

    subscription_id: str
    model: str  # "bucket" | "hourly"
    share: float
    reads_per_second: float  # what vpnwatch may spend in the long run
    writes_per_second: float
    reads_remaining: int | None  # Azure's last x-ms-ratelimit-remaining-subscription-reads
    writes_remaining: int | None
    reads_per_hour: float  # what vpnwatch spent over the last hour
    writes_per_hour: float
    throttled: int  # 429s met
    connections: int
    configured_interval_seconds: float
    effective_interval_seconds: float | None  # what the planner promises every connection
    achieved_interval_seconds: float | None  # the longest gap between two reads, recently
    oldest_connection_age_seconds: float | None
    bgp_interval_seconds: float | None

    @property
    def limited(self) -> bool:
        effective = self.effective_interval_seconds
        return effective is not None and effective > self.configured_interval_seconds


class AffordableIntervals:
    """Reads the clients' budget and planner; logs each subscription's interval on change."""

    def __init__(self, settings: Settings, clients: AzureClients) -> None:
        self.settings = settings
        self.clients = clients
        self._logged: dict[str, tuple[float, str]] = {}

    def snapshot(self, now: datetime) -> list[SubscriptionBudget]:
        buckets: dict[tuple[str, str], BucketSnapshot] = {
            (b.key.lower(), b.kind): b for b in self.clients.budget.snapshot()
        }
        planner = self.clients.planner
        configured = self.settings.collectors.connections.interval_seconds
        out = []
        # ARM subscriptions only: other keys are other APIs' quotas (Resource Graph's, ...)
        for sub in sorted({key for key, kind in buckets if kind in (READS, WRITES)}):
            reads, writes = buckets.get((sub, READS)), buckets.get((sub, WRITES))
            plans = planner.plans()
            plan = plans.get((CONNECTIONS, sub))
            oldest = planner.oldest_read(CONNECTIONS, sub)
            model = reads or writes
            assert model is not None
            out.append(
                SubscriptionBudget(
                    subscription_id=model.key,
                    model=model.model,
                    share=model.share,
                    reads_per_second=reads.spendable_per_second if reads else 0.0,
                    writes_per_second=writes.spendable_per_second if writes else 0.0,
                    reads_remaining=reads.remaining if reads else None,
                    writes_remaining=writes.remaining if writes else None,
                    reads_per_hour=reads.spent_per_hour if reads else 0.0,
                    writes_per_hour=writes.spent_per_hour if writes else 0.0,
                    throttled=(reads.throttled if reads else 0)
                    + (writes.throttled if writes else 0),
                    connections=plan.total if plan else 0,
                    configured_interval_seconds=configured,
                    effective_interval_seconds=planner.promise(CONNECTIONS, sub),
                    achieved_interval_seconds=planner.achieved(CONNECTIONS, sub),
                    oldest_connection_age_seconds=None
                    if oldest is None
                    else max(0.0, (now - oldest).total_seconds()),
                    bgp_interval_seconds=planner.promise(BGP, sub),
                )
            )
        return out

    def log_changes(self, now: datetime) -> None:
        """One line per subscription whose affordable interval is new or moved."""
        for budget in self.snapshot(now):
            effective = budget.effective_interval_seconds
            if effective is None:
                continue
            key = budget.subscription_id.lower()
            before = self._logged.get(key)
            if before is not None:
                previous, model = before
                moved = abs(effective - previous) > CHANGE * max(previous, 1.0)
                if not moved and model == budget.model:
                    continue
            self._logged[key] = (effective, budget.model)
            log.log(logging.WARNING if budget.limited else logging.INFO, "%s", describe(budget))


def describe(budget: SubscriptionBudget) -> str:
    effective = budget.effective_interval_seconds or budget.configured_interval_seconds
    head = (
        f"subscription {budget.subscription_id}: {budget.connections} connection(s) read every "
        f"{effective:.0f} s"
    )
    spend = (
        f"budget {budget.reads_per_second:.1f} reads/s, {budget.writes_per_second:.1f} writes/s "
        f"({budget.share:.0%} of the {budget.model} model)"
    )
    if budget.limited:
        return (
            f"{head}, not the configured {budget.configured_interval_seconds:.0f} s: that is what "
            f"the {spend} affords; staleness follows {effective:.0f} s"
        )
    return f"{head} as configured; {spend}"
