"""Microsoft Teams workflow webhook: an Adaptive Card 1.5 in the `message` envelope.

Teams renders Adaptive Cards up to version 1.5 and refuses a message over 28 KB, so lists are
cut until the whole body fits (Teams docs, "Send Adaptive Cards using an incoming webhook").
"""

from __future__ import annotations

from typing import Any

import httpx

from vpnwatch.notify.message import Event, Notification
from vpnwatch.notify.receiver import Receiver, encode

CARD_VERSION = "1.5"
MAX_BYTES = 28 * 1024
COLOR = {"critical": "Attention", "warning": "Warning", "info": "Accent"}


class TeamsReceiver(Receiver):
    kind = "teams"

    def requests(self, notification: Notification) -> list[httpx.Request]:
        return [self.post_json(self.settings.urls()[0], self.body(notification))]

    def body(self, n: Notification) -> dict[str, Any]:
        for keep in (50, 20, 5, 0):
            body = _envelope(_card(n, keep))
            if len(encode(body)) <= MAX_BYTES:
                return body
        return _envelope(_card(n, 0, short=True))


def _envelope(card: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def _card(n: Notification, keep: int, *, short: bool = False) -> dict[str, Any]:
    resolved = n.event is Event.RESOLVE
    if resolved:
        outage = "" if n.outage_seconds is None else f" after {n.outage_seconds:g} s"
        heading = f"Resolved{outage}: {n.title}"
    else:
        heading = f"{n.severity.upper()}: {n.title}"
    facts = [
        {"title": name, "value": n.labels[key]}
        for name, key in (
            ("Type", "type"),
            ("Region", "region"),
            ("Zone", "zone"),
            ("Gateway", "gateway"),
            ("Site", "site"),
            ("Subscription", "subscription"),
        )
        if n.labels.get(key)
    ]
    if n.classification:
        facts.append({"title": "Classification", "value": n.classification})
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": heading[:1000] if short else heading,
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
            "color": "Good" if resolved else COLOR.get(n.severity, "Default"),
        },
        {"type": "FactSet", "facts": facts},
    ]
    if n.children and keep:
        listed = "\n".join(f"- {c.title}" for c in n.children[:keep])
        more = len(n.children) - keep
        if more > 0:
            listed += f"\n- … and {more} more"
        body.append({"type": "TextBlock", "text": f"**Explains**\n\n{listed}", "wrap": True})
    if n.evidence and keep and not resolved:
        lines = "\n".join(f"- {e.at} {e.message}" for e in n.evidence[-min(keep, 5) :])
        body.append({"type": "TextBlock", "text": lines, "wrap": True, "isSubtle": True})
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
    }
    if n.link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open incident", "url": n.link}]
    return card
