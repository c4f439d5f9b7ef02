"""Time sources shared by the agent and the emulator.

Real runs use `SystemClock`. The demo and `vpnwatch emulator --speed N` use a `ScaledClock`, so a
10-minute scenario plays in seconds while every timestamp and interval stays in scenario time.
`vpnwatch replay` uses a `ManualClock` that only moves when the replay steps it, which makes
measured durations exact and independent of how busy the machine is.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time."""
        ...

    @property
    def speed(self) -> float:
        """How many clock seconds pass per wall second (1 for real time)."""
        ...


class SystemClock:
    speed = 1.0

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ScaledClock:
    """Runs `speed` times faster than the wall clock, starting at `epoch`."""

    def __init__(self, speed: float = 1.0, epoch: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._speed = float(speed)
        self._epoch = epoch or datetime.now(UTC)
        self._started = time.monotonic()

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def epoch(self) -> datetime:
        return self._epoch

    def now(self) -> datetime:
        return self._epoch + timedelta(seconds=(time.monotonic() - self._started) * self._speed)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self._speed)


class ManualClock:
    """A clock that moves only when told to; `sleep` returns at once after advancing it."""

    speed = float("inf")

    def __init__(self, epoch: datetime | None = None) -> None:
        self._epoch = epoch or datetime(2026, 1, 1, tzinfo=UTC)
        self._now = self._epoch

    @property
    def epoch(self) -> datetime:
        return self._epoch

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        if when < self._now:
            raise ValueError("a ManualClock never goes backwards")
        self._now = when

    def advance(self, seconds: float) -> None:
        self.set(self._now + timedelta(seconds=seconds))

    async def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)
