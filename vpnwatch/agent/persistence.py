"""Writing each correlation step to the store, with the notifications it causes, in one
transaction; and forgetting old inbound alerts once an hour.

A step the store refuses (a full disk, a read-only remount) is not lost: it waits in
`UnsavedChanges` and is written with the next step, and the store's state is logged once when it
stops and once when it starts taking writes again, not once per attempt.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from vpnwatch.clock import Clock
from vpnwatch.correlate import CorrelationResult
from vpnwatch.incidents import Incident
from vpnwatch.notify.pipeline import Notifications
from vpnwatch.store import Store, StoreError
from vpnwatch.unsaved import UnsavedChanges

log = logging.getLogger("vpnwatch.agent")

PRUNE_EVERY = timedelta(hours=1)


class StepWriter:
    def __init__(
        self,
        store: Store,
        notifications: Notifications | None,
        clock: Clock,
        *,
        alert_retention_days: float,
        incident_retention_days: float = 30.0,
    ) -> None:
        self.store = store
        self.notifications = notifications
        self.clock = clock
        self.alert_retention_days = alert_retention_days
        self.incident_retention_days = incident_retention_days
        self.writable = True  # false from a failed write until a write lands again
        self._unsaved = UnsavedChanges()
        self._pruned_at: datetime | None = None

    async def write(
        self, result: CorrelationResult, open_incidents: Callable[[], Sequence[Incident]]
    ) -> None:
        """Write the step, with every earlier one the store refused; on failure keep them all
        for the next step. `open_incidents` is asked only when notifications are planned."""
        changed = [*result.opened, *result.updated, *result.resolved]
        plan = None
        if self.notifications is not None:
            plan = self.notifications.plan(changed, open_incidents())
        self._unsaved.add(
            changed, result.entity_records_changed, result.entity_ids_removed, plan or None
        )
        if not self._unsaved:
            return
        unsaved = self._unsaved
        try:
            store = self.store
            await asyncio.to_thread(lambda: store.apply(**unsaved.write_arguments()))
        except StoreError as exc:
            if plan and self.notifications is not None:
                # decided, so the next step does not decide it again; written with that step
                self.notifications.committed(plan)
            if self.writable:
                self.writable = False
                log.error(
                    "store unwritable: %s; keeping the changes in memory and retrying every "
                    "cycle (%d incident(s) waiting)",
                    exc,
                    len(unsaved.incidents),
                )
            return
        if not self.writable:
            self.writable = True
            log.warning(
                "store writable again: wrote %d incident(s) kept while it was not",
                len(unsaved.incidents),
            )
        if self.notifications is not None:
            for kept in unsaved.plans:
                self.notifications.committed(kept)
        unsaved.clear()

    async def prune_when_due(self) -> None:
        """Once an hour, forget correlated alerts older than `store.alert_retention_days` and
        incidents resolved longer ago than `store.incident_retention_days`."""
        now = self.clock.now()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        for what, prune, days in (
            ("alert(s) received", self.store.prune_alerts, self.alert_retention_days),
            (
                "incident(s) resolved",
                self.store.prune_resolved_incidents,
                self.incident_retention_days,
            ),
        ):
            before = now - timedelta(days=days)
            try:
                pruned = await asyncio.to_thread(prune, before=before)
            except StoreError as exc:
                log.warning("pruning %s before %s failed: %s", what, before.isoformat(), exc)
                continue
            if pruned:
                log.info("pruned %d %s before %s", pruned, what, before.isoformat())
