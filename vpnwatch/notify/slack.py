"""Slack incoming webhook: a Block Kit message readable at a glance, and one when it ends.

Limits from Slack's Block Kit reference: at most 50 blocks, a header's plain text at most 150
characters, a section's text at most 3000. The webhook URL is the credential.
"""

from __future__ import annotations

from typing import Any

import httpx

from vpnwatch.notify.message import Event, Notification
from vpnwatch.notify.receiver import Receiver

MAX_HEADER = 150
MAX_SECTION = 3000
MAX_FIELD = 2000
ICON = {
    "critical": ":red_circle:",
    "warning": ":large_orange_circle:",
    "info": ":large_blue_circle:",
}


class SlackReceiver(Receiver):
    kind = "slack"

    def requests(self, notification: Notification) -> list[httpx.Request]:
        return [self.post_json(self.settings.urls()[0], self.body(notification))]

    def body(self, n: Notification) -> dict[str, Any]:
        if n.event is Event.RESOLVE:
            outage = "" if n.outage_seconds is None else f" after {n.outage_seconds:g} s"
            headline = f":white_check_mark: Resolved{outage}: {n.title}"
        else:
            headline = f"{ICON.get(n.severity, '')} {n.severity.upper()}: {n.title}".strip()
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": _plain(_cut(headline, MAX_HEADER))},
        ]
        fields = [
            f"*{name}*\n{n.labels[key]}"
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
            fields.append(f"*Classification*\n{n.classification}")
        blocks.append(
            {
                "type": "section",
                "text": _mrkdwn(_cut(headline, MAX_SECTION)),
                "fields": [_mrkdwn(_cut(f, MAX_FIELD)) for f in fields[:10]],
            }
        )
        if n.children:
            listed = "\n".join(f"• {c.title}" for c in n.children)
            blocks.append(
                {"type": "section", "text": _mrkdwn(_cut(f"*Explains*\n{listed}", MAX_SECTION))}
            )
        if n.evidence and n.event is not Event.RESOLVE:
            lines = "\n".join(f"`{e.at}` {e.message}" for e in n.evidence[-5:])
            blocks.append({"type": "section", "text": _mrkdwn(_cut(lines, MAX_SECTION))})
        context = f"vpnwatch · {n.incident_key}"
        if n.link:
            context += f" · <{n.link}|open incident>"
        blocks.append({"type": "context", "elements": [_mrkdwn(_cut(context, MAX_SECTION))]})
        return {"text": _cut(headline, MAX_SECTION), "blocks": blocks}


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
