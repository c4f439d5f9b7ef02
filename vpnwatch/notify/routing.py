"""Routing: which receivers an incident goes to.

Only root incidents are routed: a child (explained by its parent: a zone outage's gateways, a
site's connections) never notifies on its own, the parent's message lists it. Without
`notify.routes` the defaults apply: `critical` pages (PagerDuty, Opsgenie), `warning` goes to
chat (Slack, Teams), `info` nowhere, and Alertmanager and webhook receivers get every severity.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from vpnwatch.incidents import Incident, IncidentType, Severity
from vpnwatch.notify.message import labels_of
from vpnwatch.notify.settings import (
    CHAT,
    EVERYTHING,
    PAGING,
    Matchers,
    NotifySettings,
    ReceiverKind,
    SilenceMatcher,
)


def matches(matchers: Matchers, incident: Incident, labels: Mapping[str, str]) -> bool:
    if matchers.types and incident.type not in matchers.types:
        return False
    if matchers.severities and incident.severity not in matchers.severities:
        return False
    if matchers.classifications and (incident.classification or "") not in matchers.classifications:
        return False
    for name, wanted in matchers.labels.items():
        if labels.get(name, "").lower() != wanted.lower():
            return False
    return True


def matcher_holds(matcher: SilenceMatcher, labels: Mapping[str, str]) -> bool:
    """Alertmanager's matcher semantics: `=`, `!=`, `=~`, `!~`; a regex matches the whole value."""
    value = labels.get(matcher.name, "")
    if matcher.is_regex:
        found = re.fullmatch(matcher.value, value) is not None
    else:
        found = value == matcher.value
    return found if matcher.is_equal else not found


class Router:
    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings
        self._kinds = {r.name: r.kind for r in settings.receivers}

    def receivers_for(self, incident: Incident) -> list[str]:
        """The receivers `incident` goes to, in config order; empty for a child incident."""
        if incident.parent_key is not None:
            return []
        if incident.type is IncidentType.NOTIFICATION_FAILING:
            # only the fallback: the failing receiver would not take it, and routes are for
            # the estate
            fallback = self.settings.delivery.fallback_receiver
            failing = incident.attributes.get("receiver")
            return [fallback] if fallback and fallback != failing else []
        if self.settings.routes is None:
            return [name for name, kind in self._kinds.items() if _default(kind, incident.severity)]
        labels = labels_of(incident)
        chosen: list[str] = []
        for route in self.settings.routes:
            if not matches(route.match, incident, labels):
                continue
            chosen.extend(r for r in route.receivers if r not in chosen)
            if not route.continue_:
                break
        return chosen


def _default(kind: ReceiverKind, severity: Severity) -> bool:
    if kind in EVERYTHING:
        return True
    if kind in PAGING:
        return severity is Severity.CRITICAL
    if kind in CHAT:
        return severity is Severity.WARNING
    return False
