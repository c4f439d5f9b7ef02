"""Building receivers from settings: one class per kind, each in its own module."""

from __future__ import annotations

from vpnwatch.notify.alertmanager import AlertmanagerReceiver
from vpnwatch.notify.opsgenie import OpsgenieReceiver
from vpnwatch.notify.pagerduty import PagerDutyReceiver
from vpnwatch.notify.receiver import Receiver
from vpnwatch.notify.settings import ReceiverKind, ReceiverSettings
from vpnwatch.notify.slack import SlackReceiver
from vpnwatch.notify.teams import TeamsReceiver
from vpnwatch.notify.webhook import WebhookReceiver

KINDS: dict[ReceiverKind, type[Receiver]] = {
    ReceiverKind.PAGERDUTY: PagerDutyReceiver,
    ReceiverKind.OPSGENIE: OpsgenieReceiver,
    ReceiverKind.SLACK: SlackReceiver,
    ReceiverKind.TEAMS: TeamsReceiver,
    ReceiverKind.ALERTMANAGER: AlertmanagerReceiver,
    ReceiverKind.WEBHOOK: WebhookReceiver,
}


def build_receiver(settings: ReceiverSettings) -> Receiver:
    return KINDS[settings.kind](settings)
