"""`vpnwatch notify-test`: one test event to a configured receiver, and what it answered."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TextIO

import httpx

from vpnwatch.incidents import Evidence, Incident, IncidentStatus, IncidentType, Severity
from vpnwatch.notify.message import Event, Notification
from vpnwatch.notify.receiver import Delivered, Outcome, Retry
from vpnwatch.notify.receivers import build_receiver
from vpnwatch.notify.settings import NotifySettings, ReceiverKind

# services that keep an open alert until told otherwise: the test closes what it opened
CLOSES = {ReceiverKind.PAGERDUTY, ReceiverKind.OPSGENIE, ReceiverKind.ALERTMANAGER}


def test_incident(now: datetime) -> Incident:
    return Incident(
        key="notification_test:vpnwatch",
        type=IncidentType.NOTIFICATION_FAILING,
        severity=Severity.INFO,
        title="vpnwatch test notification: this receiver is set up correctly",
        resources=(),
        opened_at=now,
        classification="test",
        attributes={"receiver_test": "true"},
        timeline=[Evidence(now, "sent by `vpnwatch notify-test`")],
    )


async def notify_test(settings: NotifySettings, name: str, out: TextIO = sys.stdout) -> int:
    """0 when the receiver took the test event, 1 when it did not, 2 for an unknown name."""
    receiver_settings = settings.receiver(name)
    if receiver_settings is None:
        known = ", ".join(r.name for r in settings.receivers) or "none configured"
        print(f"no receiver named {name!r} (known: {known})", file=sys.stderr)
        return 2
    receiver = build_receiver(receiver_settings)
    now = datetime.now(UTC)
    incident = test_incident(now)
    events = [Event.TEST]
    if receiver_settings.kind in CLOSES:
        events.append(Event.RESOLVE)
    ok = True
    async with httpx.AsyncClient(timeout=receiver_settings.timeout_seconds) as client:
        for event in events:
            if event is Event.RESOLVE:
                incident.status, incident.resolved_at = IncidentStatus.RESOLVED, now
            notification = Notification.of(
                incident, event, now=now, link_base_url=settings.link_base_url
            )
            outcome = await receiver.send(notification, client)
            print(f"{name} ({receiver_settings.kind.value} at {receiver_settings.where()}) "
                  f"{event.value}: {_describe(outcome)}", file=out)  # fmt: skip
            if not isinstance(outcome, Delivered):
                ok = False
                break
    return 0 if ok else 1


def _describe(outcome: Outcome) -> str:
    if isinstance(outcome, Delivered):
        answer = f": {outcome.answer}" if outcome.answer else ""
        return f"delivered, HTTP {outcome.status}{answer}"
    if isinstance(outcome, Retry):
        later = "" if outcome.retry_after is None else f" (retry after {outcome.retry_after:g} s)"
        return f"not delivered, worth retrying{later}: {outcome.reason}"
    return f"not delivered, refused: {outcome.reason}"
