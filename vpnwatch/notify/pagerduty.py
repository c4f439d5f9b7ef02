"""PagerDuty Events API v2: `trigger` and `resolve` with the incident's dedup key.

`url` is the events endpoint itself (default https://events.pagerduty.com/v2/enqueue; the EU
service uses https://events.eu.pagerduty.com/v2/enqueue). PagerDuty takes about 120 events a
minute per integration key and answers 429 beyond: that event was not taken, so it is retried.
"""

from __future__ import annotations

from typing import Any

import httpx

from vpnwatch.notify.message import Event, Notification
from vpnwatch.notify.receiver import Receiver

MAX_SUMMARY = 1024
SEVERITY = {"critical": "critical", "warning": "warning", "info": "info"}


class PagerDutyReceiver(Receiver):
    kind = "pagerduty"

    def requests(self, notification: Notification) -> list[httpx.Request]:
        return [self.post_json(self.settings.urls()[0], self.body(notification))]

    def body(self, n: Notification) -> dict[str, Any]:
        assert self.settings.routing_key is not None
        body: dict[str, Any] = {
            "routing_key": self.settings.routing_key.get_secret_value(),
            "event_action": "resolve" if n.event is Event.RESOLVE else "trigger",
            "dedup_key": n.dedup_key,
        }
        if n.event is Event.RESOLVE:
            return body
        body["payload"] = {
            "summary": n.summary(MAX_SUMMARY),
            "severity": SEVERITY.get(n.severity, "error"),
            "source": n.labels.get("gateway") or n.labels.get("site") or n.incident_key,
            "timestamp": n.opened_at,
            "component": n.labels.get("gateway") or n.type,
            "group": n.labels.get("region") or "azure",
            "class": n.type,
            "custom_details": {
                "incident": n.incident_key,
                "classification": n.classification,
                "status": n.status,
                "outage_seconds": n.outage_seconds,
                "labels": n.labels,
                "resources": list(n.resources),
                "explains": [{"key": c.key, "title": c.title} for c in n.children],
                "evidence": [f"{e.at} {e.message}" for e in n.evidence],
            },
        }
        body["client"] = "vpnwatch"
        if n.link:
            body["client_url"] = n.link
            body["links"] = [{"href": n.link, "text": "vpnwatch incident"}]
        return body
