"""The subscriptions (and their resource groups) the collectors poll, rediscovered on an interval.

When rediscovery fails the last known scopes stay in use. Every attempt is reported as one
`discovery` collection run, failed or not, so the blindness detector sees discovery fail and
recover; collectors due at the same moment share that attempt, and a failure is retried once per
half the shortest poll interval (as a failed pass is: `schedule.py`), not once per collector.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from vpnwatch.clock import Clock
from vpnwatch.collect.base import Scope
from vpnwatch.collect.clients import AzureClients
from vpnwatch.collect.discovery import Discoverer, DiscoveryError
from vpnwatch.config import TargetSettings
from vpnwatch.observations import CollectionRun

log = logging.getLogger("vpnwatch.agent")

DISCOVERY = "discovery"


class ScopeDiscovery:
    def __init__(
        self,
        clients: AzureClients,
        targets: TargetSettings,
        clock: Clock,
        *,
        interval_seconds: float,
        retry_seconds: float,
        resource_graph: bool = False,
    ) -> None:
        self.targets = targets
        self._discoverer = Discoverer(clients, targets, resource_graph=resource_graph)
        self.clock = clock
        self.interval_seconds = interval_seconds
        self.retry_seconds = retry_seconds
        self.scopes: list[Scope] = []
        self._found_at: datetime | None = None
        self._failed_at: datetime | None = None
        self._lock = asyncio.Lock()  # collectors starting together discover once

    async def current(self) -> tuple[list[Scope], CollectionRun | None]:
        """The scopes to poll now, and the discovery run when this call attempted one."""
        async with self._lock:
            return await self._discover_when_due()

    async def _discover_when_due(self) -> tuple[list[Scope], CollectionRun | None]:
        now = self.clock.now()
        if self._found_at is not None and _since(now, self._found_at) < self.interval_seconds:
            return self.scopes, None
        if self._failed_at is not None and _since(now, self._failed_at) < self.retry_seconds:
            return self.scopes, None
        try:
            self.scopes = await self._discoverer.discover()
        except DiscoveryError as exc:
            log.warning("discovery failed: %s", exc)
            self._failed_at = now
            if not self.scopes:
                self.scopes = self._listed()
            return self.scopes, self._run(
                ok=False, cause=exc.cause, reason=str(exc), started_at=now
            )
        self._found_at = now
        self._failed_at = None
        return self.scopes, self._run(ok=True, started_at=now)

    def _listed(self) -> list[Scope]:
        """Before any discovery succeeded (a start during an outage), the listed subscriptions
        as they are: their collectors' runs then fail too, and what a restart restored from the
        store reads `unknown` instead of its last health."""
        groups = tuple(self.targets.resource_groups)
        return [Scope(sub, groups) for sub in dict.fromkeys(self.targets.subscriptions)]

    def _run(self, **outcome: Any) -> CollectionRun:
        return CollectionRun(
            observed_at=self.clock.now(),
            source=DISCOVERY,
            collector=DISCOVERY,
            scope="*",
            **outcome,
        )


def _since(now: datetime, then: datetime) -> float:
    return (now - then).total_seconds()
