"""The generic webhook: a documented JSON body (docs/notify-webhook.schema.json), signed.

`X-Vpnwatch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` with the
shared `secret`. A receiver recomputes the HMAC over the raw bytes it got, compares in constant
time, and rejects a `t` too far from its clock, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import httpx

from vpnwatch.notify.message import Notification
from vpnwatch.notify.receiver import USER_AGENT, Receiver, encode

SIGNATURE_HEADER = "X-Vpnwatch-Signature"
SCHEMA_VERSION = 1


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes, header: str, *, now: float, tolerance: float = 300) -> bool:
    """What a receiving service does with the header (documented, and used by the tests)."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(
        sign(secret, body, timestamp), f"t={timestamp},v1={fields.get('v1', '')}"
    )


class WebhookReceiver(Receiver):
    kind = "webhook"

    def requests(self, notification: Notification) -> list[httpx.Request]:
        assert self.settings.secret is not None
        raw = encode(self.body(notification))
        signature = sign(self.settings.secret.get_secret_value(), raw, int(time.time()))
        return [
            httpx.Request(
                "POST",
                self.settings.urls()[0],
                content=raw,
                headers={
                    "User-Agent": USER_AGENT,
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: signature,
                },
            )
        ]

    @staticmethod
    def body(n: Notification) -> dict[str, Any]:
        return {
            "version": SCHEMA_VERSION,
            "event": n.event.value,
            "dedup_key": n.dedup_key,
            "sent_for": n.created_at,
            "incident": {
                "id": n.incident_id,
                "key": n.incident_key,
                "type": n.type,
                "severity": n.severity,
                "status": n.status,
                "title": n.title,
                "classification": n.classification,
                "opened_at": n.opened_at,
                "resolved_at": n.resolved_at,
                "outage_seconds": n.outage_seconds,
                "resources": list(n.resources),
                "labels": n.labels,
                "attributes": n.attributes,
                "link": n.link,
                "children": [
                    {
                        "key": c.key,
                        "title": c.title,
                        "severity": c.severity,
                        "resources": list(c.resources),
                    }
                    for c in n.children
                ],
                "evidence": [
                    {"at": e.at, "message": e.message, "resource": e.resource} for e in n.evidence
                ],
            },
        }
