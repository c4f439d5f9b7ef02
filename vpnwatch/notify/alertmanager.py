"""Alertmanager `POST /api/v2/alerts`: one alert per root incident, to every URL of an HA pair.

Alertmanager expects a client to re-send a firing alert regularly, with `endsAt` a little in the
future, and resolves it by itself once `endsAt` passes (docs/alerts_api.md in
prometheus/alertmanager). So a trigger carries `endsAt` = now + `ALIVE_FACTOR` x the re-send
interval: a vpnwatch that dies stops re-sending, and its alerts end instead of firing for ever.
A resolve sends `endsAt` = the resolve time. `url` is the API base; several, comma-separated,
are all sent to.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from vpnwatch.notify.message import Event, Notification
from vpnwatch.notify.receiver import Delivered, Outcome, Receiver, Retry

ALERTNAME = "VpnwatchIncident"
ALIVE_FACTOR = 4
LABELS = ("region", "zone", "gateway", "subscription", "resource_group", "site", "circuit")


class AlertmanagerReceiver(Receiver):
    kind = "alertmanager"

    def requests(self, notification: Notification) -> list[httpx.Request]:
        body = [self.alert(notification)]
        return [
            self.post_json(f"{base.rstrip('/')}/api/v2/alerts", body)
            for base in self.settings.urls()
        ]

    async def send(self, notification: Notification, client: httpx.AsyncClient) -> Outcome:
        """Every member of an HA cluster at once; taken when one took it (the cluster's gossip
        shares it), so a member that is down does not hold the others back."""
        outcomes = await asyncio.gather(
            *(self.exchange(client, r) for r in self.requests(notification))
        )
        taken = [o for o in outcomes if isinstance(o, Delivered)]
        if taken:
            missed = "; ".join(o.reason for o in outcomes if not isinstance(o, Delivered))
            return Delivered(
                taken[0].status, f"not taken by every member: {missed}" if missed else ""
            )
        return next((o for o in outcomes if isinstance(o, Retry)), outcomes[0])

    def alert(self, n: Notification, now: datetime | None = None) -> dict[str, Any]:
        now = now or datetime.now(UTC)
        labels = {
            "alertname": ALERTNAME,
            "severity": n.severity,
            "type": n.type,
            "incident": n.dedup_key,
        }
        labels.update({k: n.labels[k] for k in LABELS if n.labels.get(k)})
        annotations = {
            "summary": n.summary(),
            "description": _description(n),
            "resources": "\n".join(n.resources),
        }
        if n.classification:
            annotations["classification"] = n.classification
        if n.link:
            annotations["link"] = n.link
        if n.event is Event.RESOLVE:
            ends = n.resolved_at or _iso(now)
        else:
            alive = timedelta(seconds=ALIVE_FACTOR * self.settings.resend_seconds)
            ends = _iso(now + alive)
        alert: dict[str, Any] = {
            "labels": labels,
            "annotations": annotations,
            "startsAt": n.opened_at,
            "endsAt": ends,
        }
        if n.link:
            alert["generatorURL"] = n.link
        return alert


def _description(n: Notification) -> str:
    lines = [n.title]
    if n.children:
        lines.append("Explains: " + "; ".join(c.title for c in n.children))
    if n.outage_seconds is not None:
        lines.append(f"Outage so far: {n.outage_seconds:g} s")
    return "\n".join(lines)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
