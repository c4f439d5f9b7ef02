"""Opsgenie Alert API: create with `alias` = the dedup key, close by alias.

`url` is the API base (default https://api.opsgenie.com; EU: https://api.eu.opsgenie.com).
Authorization is `GenieKey <api_key>`. A create for an alias that is open is de-duplicated by
Opsgenie, so an escalation re-sends the create (no second alert) and updates the priority.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from vpnwatch.notify.message import Event, Notification
from vpnwatch.notify.receiver import USER_AGENT, Receiver, encode

MAX_MESSAGE = 130
MAX_DESCRIPTION = 15000
MAX_TAG = 50
PRIORITY = {"critical": "P1", "warning": "P3", "info": "P5"}


class OpsgenieReceiver(Receiver):
    kind = "opsgenie"

    def requests(self, notification: Notification) -> list[httpx.Request]:
        base = self.settings.urls()[0].rstrip("/")
        assert self.settings.api_key is not None
        auth = {"Authorization": f"GenieKey {self.settings.api_key.get_secret_value()}"}
        if notification.event is Event.RESOLVE:
            url = f"{base}/v2/alerts/{quote(notification.dedup_key, safe='')}/close"
            body = {"source": "vpnwatch", "note": _closing_note(notification)}
            request = self.post_json(url, body, auth)
            request.url = request.url.copy_merge_params({"identifierType": "alias"})
            return [request]
        create = self.post_json(f"{base}/v2/alerts", self.body(notification), auth)
        if not notification.update:
            return [create]
        # an escalation: the create is de-duplicated by alias, so set the priority explicitly
        alias = quote(notification.dedup_key, safe="")
        priority = httpx.Request(
            "PUT",
            f"{base}/v2/alerts/{alias}/priority",
            params={"identifierType": "alias"},
            content=encode({"priority": PRIORITY.get(notification.severity, "P3")}),
            headers={"User-Agent": USER_AGENT, "Content-Type": "application/json", **auth},
        )
        return [create, priority]

    def body(self, n: Notification) -> dict[str, Any]:
        details = {k: v for k, v in n.labels.items() if v}
        details["incident"] = n.incident_key
        if n.link:
            details["link"] = n.link
        lines = [n.title, ""]
        lines += [f"Resource: {r}" for r in n.resources]
        if n.children:
            lines += ["", "Explains:"] + [f"- {c.title}" for c in n.children]
        if n.evidence:
            lines += ["", "Evidence:"] + [f"- {e.at} {e.message}" for e in n.evidence]
        if n.link:
            lines += ["", n.link]
        tags = ["vpnwatch", n.type, n.severity, *(n.labels.get(k, "") for k in ("region", "zone"))]
        return {
            "message": n.summary(MAX_MESSAGE),
            "alias": n.dedup_key,
            "description": "\n".join(lines)[:MAX_DESCRIPTION],
            "tags": [t[:MAX_TAG] for t in tags if t][:20],
            "details": details,
            "entity": n.labels.get("gateway") or n.labels.get("site") or n.incident_key,
            "source": "vpnwatch",
            "priority": PRIORITY.get(n.severity, "P3"),
        }


def _closing_note(n: Notification) -> str:
    outage = "" if n.outage_seconds is None else f" after {n.outage_seconds:g} s"
    return f"Resolved{outage}: {n.title}"
