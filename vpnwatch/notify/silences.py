"""Silences and maintenance windows: a silenced incident is recorded, marked silenced, and not
sent; when the silence ends while the incident is still open, it is sent then.

A silence is a set of Alertmanager-style matchers over an incident's labels (`type`, `severity`,
`classification`, `region`, `zone`, `gateway`, `subscription`, `resource_group`, ...) plus when it
holds: one-off (`starts_at`..`ends_at`) or weekly in a named time zone, so a Sunday 02:00 patch
window in Europe/Berlin stays at 02:00 local across daylight-saving changes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from vpnwatch.notify.routing import matcher_holds
from vpnwatch.notify.settings import SilenceMatcher, SilenceSettings
from vpnwatch.store.silences import StoredSilence

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class Weekly:
    weekday: int  # Monday = 0
    start: time
    duration: timedelta
    zone: ZoneInfo

    def window_around(self, at: datetime) -> tuple[datetime, datetime] | None:
        """The occurrence of the window that contains `at`, if any."""
        local = at.astimezone(self.zone)
        days = self.duration.days + 1
        for back in range(days + 1):
            day: date = local.date() - timedelta(days=back)
            if day.weekday() != self.weekday:
                continue
            start = datetime.combine(day, self.start, tzinfo=self.zone)
            end = start + self.duration
            if start <= at < end:
                return start.astimezone(UTC), end.astimezone(UTC)
        return None


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    matchers: tuple[SilenceMatcher, ...]
    source: str  # "config" or "api"
    comment: str = ""
    created_by: str = ""
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    weekly: Weekly | None = None
    expired: bool = False

    def active(self, at: datetime) -> bool:
        if self.expired:
            return False
        if self.weekly is not None:
            return self.weekly.window_around(at) is not None
        assert self.starts_at is not None and self.ends_at is not None
        return self.starts_at <= at < self.ends_at

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(matcher_holds(m, labels) for m in self.matchers)

    def state(self, at: datetime) -> str:
        if self.expired or (self.ends_at is not None and at >= self.ends_at):
            return "expired"
        return "active" if self.active(at) else "pending"

    @classmethod
    def from_settings(cls, n: int, settings: SilenceSettings) -> Silence:
        weekly = None
        if settings.weekday is not None:
            assert settings.start_time is not None and settings.duration_minutes is not None
            weekly = Weekly(
                WEEKDAYS.index(settings.weekday),
                settings.start_time,
                timedelta(minutes=settings.duration_minutes),
                ZoneInfo(settings.timezone),
            )
        return cls(
            id=f"config-{n}",
            matchers=tuple(settings.matchers),
            source="config",
            comment=settings.comment or settings.name,
            created_by="config",
            starts_at=settings.start,
            ends_at=settings.end,
            weekly=weekly,
        )

    @classmethod
    def from_stored(cls, stored: StoredSilence) -> Silence:
        return cls(
            id=stored.id,
            matchers=tuple(SilenceMatcher(**m) for m in stored.matchers),
            source="api",
            comment=stored.comment,
            created_by=stored.created_by,
            starts_at=datetime.fromisoformat(stored.starts_at),
            ends_at=datetime.fromisoformat(stored.ends_at),
            expired=stored.expired_at is not None,
        )


def new_silence_id() -> str:
    return uuid.uuid4().hex


class Silences:
    """Every silence, from config and from the API; `silencing` answers for one incident."""

    def __init__(self, configured: Iterable[SilenceSettings] = ()) -> None:
        self._configured = [Silence.from_settings(n, s) for n, s in enumerate(configured)]
        self._api: dict[str, Silence] = {}
        self.generation = 0  # changes whenever the set changes: the planner re-checks then

    def load(self, stored: Iterable[StoredSilence]) -> None:
        for silence in stored:
            self._api[silence.id] = Silence.from_stored(silence)
        self.generation += 1

    def add(self, silence: Silence) -> None:
        self._api[silence.id] = silence
        self.generation += 1

    def expire(self, silence_id: str) -> bool:
        found = self._api.get(silence_id)
        if found is None or found.expired:
            return False
        self._api[silence_id] = Silence(
            **{**{f: getattr(found, f) for f in found.__slots__}, "expired": True}
        )
        self.generation += 1
        return True

    def all(self) -> list[Silence]:
        return [*self._configured, *self._api.values()]

    def get(self, silence_id: str) -> Silence | None:
        return next((s for s in self.all() if s.id == silence_id), None)

    def silencing(self, labels: Mapping[str, str], at: datetime) -> Silence | None:
        for silence in self.all():
            if silence.active(at) and silence.matches(labels):
                return silence
        return None
