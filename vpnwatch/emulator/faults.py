"""Slow answers and no answer at all: the timeline's `slow_responses` and `no_response` faults.

Azure's answers can be slow without being errors (a busy resource provider), and a proxy or a
lost route leaves a connection open and silent until the client gives up. A client has to bound
its own waits; these faults are how the tests and benchmarks check that it does.

- `slow_responses` (`delay`): each covered request is answered `delay` scenario seconds late,
  then as it would have been.
- `no_response`: each covered request is held open without a byte for `SILENT_HOLD` scenario
  seconds (or until the emulator stops), even if the fault ends meanwhile: a request lost in a
  black hole is not answered when the hole closes. A client with a read timeout gives up first;
  requests sent after the fault ends are answered as usual.

Both may be scoped to one `subscription` and to paths containing `match`, as the other API
faults. Time is scenario time converted with the clock's speed, so a scenario played ten times
faster holds a request a tenth as long. A manual clock (`vpnwatch replay`) does not move while a
request waits, so these faults refuse to run on one instead of answering at once (which would be
kinder than Azure).
"""

from __future__ import annotations

import asyncio
import contextlib
import math

from vpnwatch.emulator.timeline import ApiFault

SLOW, SILENT = "slow_responses", "no_response"
HELD = (SLOW, SILENT)  # faults that hold a request rather than refuse it
SILENT_HOLD = 600.0  # scenario seconds a `no_response` request is held


class UnsupportedClock(ValueError):
    """A fault that holds requests needs time to pass during a request."""


class HeldRequests:
    """How long to hold a request before answering it, and the holding itself."""

    def __init__(self, api_faults: list[ApiFault], speed: float) -> None:
        self.faults = sorted((f for f in api_faults if f.kind in HELD), key=lambda f: f.start)
        self.speed = speed
        if self.faults and (math.isinf(speed) or speed <= 0):
            kinds = sorted({f.kind for f in self.faults})
            raise UnsupportedClock(
                f"{', '.join(kinds)} need a clock on which time passes while a request waits "
                "(a real or scaled one); a manual clock cannot play them"
            )
        self._stopping = asyncio.Event()

    def hold_seconds(self, subscription: str | None, path: str, t: float) -> float:
        """Scenario seconds to hold a request arriving at `t` (0: answer at once)."""
        hold = 0.0
        for fault in self.faults:
            if fault.start > t:
                break
            if not fault.active(t) or not fault.covers(subscription, path):
                continue
            hold = max(hold, fault.delay if fault.kind == SLOW else SILENT_HOLD)
        return hold

    async def hold(self, subscription: str | None, path: str, t: float) -> None:
        """Wait as the faults say (in wall seconds); returns early when the emulator stops."""
        seconds = self.hold_seconds(subscription, path, t)
        if seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds / self.speed)

    def release(self) -> None:
        """Stop holding every request (the emulator is stopping)."""
        self._stopping.set()
