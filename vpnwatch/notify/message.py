"""What a notification says: one incident at one moment, as every receiver renders it.

A `Notification` is a snapshot taken when the outbox entry is written, so a retry an hour later
sends what was true then (in order), not whatever the incident has become meanwhile. It is plain
data and round-trips through JSON for the outbox.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from vpnwatch.incidents import Incident
from vpnwatch.resourceids import resource_group_of, subscription_of

MAX_DEDUP_KEY = 255  # PagerDuty's limit; Opsgenie's alias allows 512
MAX_EVIDENCE = 10
MAX_CHILDREN = 50


class Event(StrEnum):
    TRIGGER = "trigger"  # open or update the page (same dedup key: never a second page)
    RESOLVE = "resolve"
    TEST = "test"  # `vpnwatch notify-test`


def dedup_key(incident: Incident) -> str:
    """The incident's key plus its occurrence: a re-opened incident gets a fresh page.

    PagerDuty opens a new incident for a dedup key it has already resolved, and Opsgenie closes
    by alias, so the same key must never be reused for a second occurrence.
    """
    key = f"{incident.key}#{incident.id[:12]}"
    if len(key) <= MAX_DEDUP_KEY:
        return key
    digest = hashlib.sha256(incident.key.encode()).hexdigest()[:32]
    return f"{incident.type.value}:{digest}#{incident.id[:12]}"


def labels_of(incident: Incident) -> dict[str, str]:
    """The labels routes and silences match on, and Alertmanager groups by."""
    labels = {
        "type": incident.type.value,
        "severity": incident.severity.value,
        "classification": incident.classification or "",
    }
    for name in ("region", "zone", "gateway", "site", "circuit", "connection"):
        value = incident.attributes.get(name)
        if value:
            labels[name] = value
    for name, value in incident.attributes.items():
        if name.startswith("tag:"):
            labels[name] = value
    first = next(iter(incident.resources), "")
    for label, value in (
        ("subscription", subscription_of(first)),
        ("resource_group", resource_group_of(first)),
    ):
        if value:
            labels[label] = value
    return labels


@dataclass(frozen=True, slots=True)
class Child:
    key: str
    title: str
    severity: str
    resources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EvidenceLine:
    at: str
    message: str
    resource: str | None = None


@dataclass(frozen=True, slots=True)
class Notification:
    event: Event
    dedup_key: str
    incident_id: str
    incident_key: str
    type: str
    severity: str
    status: str
    title: str
    classification: str | None
    opened_at: str
    resolved_at: str | None
    outage_seconds: float | None
    resources: tuple[str, ...]
    labels: dict[str, str]
    attributes: dict[str, str]
    link: str | None
    created_at: str  # when vpnwatch decided to send it
    children: tuple[Child, ...] = ()
    evidence: tuple[EvidenceLine, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    update: bool = False  # a trigger for an incident already sent: escalation or re-send

    @classmethod
    def of(
        cls,
        incident: Incident,
        event: Event,
        *,
        now: datetime,
        children: Iterable[Incident] = (),
        link_base_url: str | None = None,
        update: bool = False,
    ) -> Notification:
        link = None
        if link_base_url:
            link = f"{link_base_url.rstrip('/')}/incidents/{incident.id}"
        kids = sorted(children, key=lambda c: (c.opened_at, c.key))[:MAX_CHILDREN]
        return cls(
            event=event,
            dedup_key=dedup_key(incident),
            incident_id=incident.id,
            incident_key=incident.key,
            type=incident.type.value,
            severity=incident.severity.value,
            status=incident.status.value,
            title=incident.title,
            classification=incident.classification,
            opened_at=_iso(incident.opened_at),
            resolved_at=_iso(incident.resolved_at) if incident.resolved_at else None,
            outage_seconds=(
                None if incident.outage_seconds is None else round(incident.outage_seconds, 1)
            ),
            resources=tuple(incident.resources),
            labels=labels_of(incident),
            attributes={k: v for k, v in incident.attributes.items() if not k.startswith("_")},
            link=link,
            created_at=_iso(now),
            children=tuple(
                Child(c.key, c.title, c.severity.value, tuple(c.resources)) for c in kids
            ),
            evidence=tuple(
                EvidenceLine(_iso(e.at), e.message, e.resource)
                for e in incident.timeline[-MAX_EVIDENCE:]
            ),
            update=update,
        )

    @property
    def resolved(self) -> bool:
        return self.event is Event.RESOLVE

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["event"] = self.event.value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Notification:
        return cls(
            **{
                **data,
                "event": Event(data["event"]),
                "resources": tuple(data["resources"]),
                "children": tuple(
                    Child(c["key"], c["title"], c["severity"], tuple(c["resources"]))
                    for c in data.get("children", ())
                ),
                "evidence": tuple(EvidenceLine(**e) for e in data.get("evidence", ())),
            }
        )

    def summary(self, limit: int | None = None) -> str:
        """One line: what broke, where. Cut to `limit` characters with an ellipsis."""
        where = ", ".join(
            f"{k} {self.labels[k]}" for k in ("gateway", "zone", "region") if self.labels.get(k)
        )
        text = f"[{self.severity.upper()}] {self.title}"
        if where and self.labels.get("gateway", "\0") not in self.title:
            text += f" ({where})"
        if self.resolved:
            text = f"[RESOLVED] {self.title}"
        if limit is not None and len(text) > limit:
            text = text[: limit - 1] + "…"
        return text


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
