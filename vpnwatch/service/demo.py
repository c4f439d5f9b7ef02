"""The demo's story, for the banner on every page of `vpnwatch demo`: that it is a demo, which
scenario, how far it has got, what is happening now and what comes next, and when it has ended.

Times are scenario seconds on the demo's own clock, the clock every page of the demo shows, so a
page never mixes scenario time and wall time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vpnwatch.clock import Clock

if TYPE_CHECKING:
    from vpnwatch.emulator import Scenario
    from vpnwatch.notify.demo_receiver import Inbox

_NOT_TARGETS = {"at", "duration", "id", "kind"}


@dataclass(frozen=True, slots=True)
class DemoStatus:
    scenario: str
    description: str
    speed: float
    elapsed: float
    duration: float
    now: list[str]
    next: str | None
    ended: bool

    @property
    def percent(self) -> int:
        return min(100, int(100 * self.elapsed / self.duration)) if self.duration else 100


def describe(fault: Any) -> str:
    """`instance failure: gateway vpngw-hub-weu, instance 0` from a timeline entry."""
    data = fault.model_dump(exclude_none=True) if hasattr(fault, "model_dump") else dict(fault)
    kind = str(data.get("kind", "event")).replace("_", " ")
    targets = [
        f"{k.replace('_', ' ')} {v}"
        for k, v in data.items()
        if k not in _NOT_TARGETS and isinstance(v, str | int) and not isinstance(v, bool)
    ]
    return f"{kind}: {', '.join(targets[:3])}" if targets else kind


class DemoStory:
    """Reads `scenario` against the demo's `clock`, which started with the scenario; `inbox`
    holds what the demo's on-call receiver got, for the status page."""

    def __init__(self, scenario: Scenario, clock: Clock, inbox: Inbox | None = None) -> None:
        self.scenario = scenario
        self.clock = clock
        self.started = clock.now()
        self.inbox = inbox

    def status(self) -> DemoStatus:
        elapsed = max(0.0, (self.clock.now() - self.started).total_seconds())
        duration = self.scenario.duration_seconds
        now, upcoming = [], []
        for fault in self.scenario.timeline:
            start = float(fault.at)
            end = start + float(fault.duration) if fault.duration else None
            if start <= elapsed and (end is None or elapsed < end):
                left = f", {end - elapsed:.0f} s left" if end is not None else ""
                now.append(f"{describe(fault)} (since {start:.0f} s{left})")
            elif start > elapsed:
                upcoming.append((start, describe(fault)))
        upcoming.sort()
        following = f"{upcoming[0][1]} at {upcoming[0][0]:.0f} s" if upcoming else None
        return DemoStatus(
            scenario=self.scenario.name,
            description=self.scenario.description,
            speed=float(getattr(self.clock, "speed", 1.0)),
            elapsed=min(elapsed, duration),
            duration=duration,
            now=now,
            next=following,
            ended=elapsed >= duration,
        )
