"""`Notifications`: the notify stage as the agent uses it.

The agent asks `plan` what a correlation step must send and writes the plan with the incident
change in one transaction, then calls `committed`; the dispatcher delivers from the outbox in the
background. Dead letters open a `notification_failing` incident per receiver, routed to
`delivery.fallback_receiver`; it resolves when that receiver takes a notification again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from vpnwatch.clock import Clock
from vpnwatch.incidents import (
    Evidence,
    Incident,
    IncidentStatus,
    IncidentType,
    Severity,
    incident_key,
)
from vpnwatch.notify.delivery import Dispatcher
from vpnwatch.notify.planner import Plan, Planner
from vpnwatch.notify.receivers import build_receiver
from vpnwatch.notify.settings import NotifySettings
from vpnwatch.notify.silences import Silences
from vpnwatch.store import Store
from vpnwatch.store.outbox import OutboxRow

log = logging.getLogger("vpnwatch.notify")


class Notifications:
    def __init__(self, settings: NotifySettings, store: Store, clock: Clock) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.silences = Silences(settings.silences)
        self.planner = Planner(settings, self.silences)
        self.receivers = {r.name: build_receiver(r) for r in settings.receivers}
        self.dispatcher = Dispatcher(
            store,
            self.receivers,
            settings.delivery,
            on_dead_letter=self._dead_letter,
            on_delivered=self._delivered,
        )
        self._failing: dict[str, Incident] = {}
        _redact_logs(settings.secrets())

    @property
    def enabled(self) -> bool:
        return bool(self.receivers)

    def resume(self, open_incidents: Sequence[Incident]) -> None:
        """Load what was decided before a restart: per-incident states, API silences, and the
        open `notification_failing` incidents (which the correlator does not own)."""
        self.silences.load(self.store.list_silences())
        ids = [i.id for i in open_incidents]
        self.planner.resume(self.store.load_notification_states(ids))
        for incident in open_incidents:
            if incident.type is IncidentType.NOTIFICATION_FAILING:
                self._failing[incident.attributes.get("receiver", "")] = incident

    def failing_incidents(self) -> list[Incident]:
        return list(self._failing.values())

    def plan(self, changed: Sequence[Incident], open_incidents: Sequence[Incident]) -> Plan:
        return self.planner.plan(changed, open_incidents, self.clock.now())

    def committed(self, plan: Plan) -> None:
        self.planner.commit(plan)
        if plan.entries:
            self.dispatcher.wake({e.receiver for e in plan.entries})

    async def start(self) -> None:
        await self.dispatcher.start()

    async def stop(self) -> None:
        await self.dispatcher.stop()

    async def drain(self, timeout: float) -> bool:
        return await self.dispatcher.drain(timeout)

    # --- dead letters ------------------------------------------------------------------------

    async def _dead_letter(self, row: OutboxRow, why: str) -> None:
        now = self.clock.now()
        incident = self._failing.get(row.receiver)
        evidence = Evidence(now, f"dead letter: {row.event} for {row.dedup_key}: {why}")
        if incident is None:
            incident = Incident(
                key=incident_key(IncidentType.NOTIFICATION_FAILING, row.receiver),
                type=IncidentType.NOTIFICATION_FAILING,
                severity=Severity.CRITICAL,
                title=f"Notifications to receiver {row.receiver} are failing",
                resources=(),
                opened_at=now,
                attributes={"receiver": row.receiver},
            )
        incident.timeline.append(evidence)
        incident.updated_at = now
        plan = self.planner.plan([incident], [], now)
        await asyncio.to_thread(
            self.store.notification_dead,
            row.seq,
            why,
            self.dispatcher.wall(),
            incidents=[incident],
            notifications=plan.entries,
            notification_states=plan.states,
        )
        self._failing[row.receiver] = incident
        self.committed(plan)

    async def _delivered(self, receiver: str) -> None:
        incident = self._failing.pop(receiver, None)
        if incident is None:
            return
        now = self.clock.now()
        incident.status = IncidentStatus.RESOLVED
        incident.resolved_at = now
        incident.updated_at = now
        incident.timeline.append(Evidence(now, f"receiver {receiver} took a notification again"))
        plan = self.planner.plan([incident], [], now)
        await asyncio.to_thread(
            self.store.apply,
            incidents=[incident],
            notifications=plan.entries,
            notification_states=plan.states,
        )
        self.committed(plan)
        log.info("receiver %s delivers again; %s resolved", receiver, incident.key)


class _Redact(logging.Filter):
    """Hides credentials in log records of libraries that print URLs (httpx logs every request
    with its full URL at INFO, and a Slack, Teams or webhook URL is itself the credential)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            for secret in sorted(self.secrets, key=len, reverse=True):
                message = message.replace(secret, "<redacted>")
            record.msg, record.args = message, None
        return True


_REDACT = _Redact()


def _redact_logs(secrets: list[str]) -> None:
    _REDACT.secrets.update(s for s in secrets if len(s) >= 4)
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if _REDACT not in logger.filters:
            logger.addFilter(_REDACT)
