"""Time to blind and time to recover per API fault, through the real agent and SDK clients.

One emulator serves one small hub per fault, each in its own subscription with its fault scoped
to it; one agent watches them all with DEFAULT settings (connections every 15 s, BGP and
ExpressRoute every 30 s, gateways every 300 s, the call deadline and blind timing that follow).
Both run on one scaled clock (`--speed`), so every wait is a real one in scenario time: the
SDK's Retry-After sleeps, read timeouts, backoff, slow answers (the SDK's pause between LRO
polls, which it takes in wall seconds, is set to the default 2 s of scenario time). Each fault
starts at 120 s and lasts `--fault-seconds`. Printed per fault, in scenario seconds:

- first failed poll: when the first failed poll ended, after the fault began;
- blind raised: when the agent opened `monitoring_blind`, after the first failed poll;
- resolved: when it resolved, after the fault ended;
- after Azure answers: when it resolved, after Azure would answer vpnwatch again: the fault's end,
  or later when the last 429 before it asked to wait past it (`Retry-After`, which the agent
  honours: the emulator's counters, sampled every 0.5 s, say when that 429 was).

    flock /tmp/vpnwatch-bench.lock .venv/bin/python bench/faults.py  # --speed 5 --fault-seconds 300
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vpnwatch.agent import Agent
from vpnwatch.clock import ScaledClock
from vpnwatch.config import Settings
from vpnwatch.correlate import CorrelationResult
from vpnwatch.emulator import Emulator
from vpnwatch.emulator.estates import fault_hubs, fault_subscription
from vpnwatch.emulator.scenario import parse_scenario
from vpnwatch.incidents import IncidentType
from vpnwatch.replay import emulator_cloud
from vpnwatch.store import Store

FAULT_AT = 120.0
TOKEN = "bench-token"

# label -> the fault's timeline entries (`at`, `duration`, `subscription` are added)
FAULTS: dict[str, list[dict[str, Any]]] = {
    "429 storm, Retry-After 30 s": [{"kind": "throttle", "retry_after": 30}],
    "503, Retry-After 10 s": [{"kind": "api_unavailable", "retry_after": 10}],
    "401 token refused": [{"kind": "auth_failure"}],
    "no answer (connection held)": [{"kind": "no_response"}],
    "answers 10 s late": [{"kind": "slow_responses", "delay": 10}],
    "answers 3 s late": [{"kind": "slow_responses", "delay": 3}],
    "429 bursts of 1 s, Retry-After 2 s": [
        {"kind": "throttle", "retry_after": 2, "duration": 1, "every": 45}
    ],
    "none (control)": [],
}


def scenario_document(fault_seconds: float) -> dict[str, Any]:
    """One small hub per fault (`f1`, `f2`, ...); a fault with `every` starts again every so
    many seconds while it lasts."""
    hubs: dict[str, list[dict[str, Any]]] = {}
    for n, entries in enumerate(FAULTS.values(), start=1):
        timeline = hubs[f"f{n}"] = []
        for entry in entries:
            entry = dict(entry)
            every = entry.pop("every", None)
            starts = (
                [FAULT_AT + k * every for k in range(int(fault_seconds // every) + 1)]
                if every
                else [FAULT_AT]
            )
            timeline.extend({"duration": fault_seconds, **entry, "at": at} for at in starts)
    return fault_hubs("bench-faults", hubs, duration=FAULT_AT + fault_seconds + 300)


@dataclass
class Seen:
    opened: dict[str, float] = field(default_factory=dict)  # scope -> when raised
    first_failed: dict[str, float] = field(default_factory=dict)  # scope -> its failing_since
    resolved: dict[str, float] = field(default_factory=dict)
    other: dict[str, list[str]] = field(default_factory=dict)  # scope -> other incident types
    last_throttled: dict[str, float] = field(default_factory=dict)  # scope -> the last 429


async def measure(speed: float, fault_seconds: float) -> tuple[Seen, float]:
    scenario = parse_scenario(scenario_document(fault_seconds), source="bench-faults")
    clock = ScaledClock(speed=speed)
    seen = Seen()

    def at(moment: datetime) -> float:
        return (moment - started).total_seconds()

    def listen(result: CorrelationResult) -> None:
        now = at(clock.now())
        for incident in result.opened:
            scope = incident.attributes.get("scope") or incident.resources[0]
            if incident.type is IncidentType.MONITORING_BLIND:
                seen.opened.setdefault(scope, now)
                seen.first_failed.setdefault(scope, at(incident.opened_at))
            else:
                sub = "/".join(incident.resources[0].split("/")[:3])
                seen.other.setdefault(sub, []).append(str(incident.type))
        for incident in result.resolved:
            if incident.type is IncidentType.MONITORING_BLIND:
                seen.resolved[incident.attributes.get("scope", "")] = now

    with Store.open(":memory:") as store:
        async with Emulator(scenario, clock=clock, port=0, token=TOKEN) as emu:
            started = emu.started_at or clock.now()
            settings = Settings(
                azure=emulator_cloud(emu.base_url, TOKEN),
                targets={"subscriptions": scenario.subscription_ids},
                # the SDK waits between LRO polls in wall seconds: the default 2 s, in scenario time
                collectors={"lro_poll_interval_seconds": 2.0 / speed},
            )
            agent = Agent(settings, clock=clock, store=store)
            agent.add_listener(listen)

            async def watch_throttling() -> None:
                counted: dict[str, int] = {}
                while True:
                    snapshot = emu.counters
                    for n in range(1, len(FAULTS) + 1):
                        sub = fault_subscription(n)
                        throttled = snapshot.of(sub)["throttled"]
                        if throttled > counted.get(sub, 0):
                            counted[sub] = throttled
                            seen.last_throttled[f"/subscriptions/{sub}"] = at(clock.now())
                    await clock.sleep(0.5)

            began = time.monotonic()
            await agent.start()
            watcher = asyncio.create_task(watch_throttling())
            try:
                await clock.sleep(scenario.duration_seconds)
            finally:
                watcher.cancel()
                await agent.stop()
            return seen, time.monotonic() - began


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=5.0, help="scenario seconds per second")
    parser.add_argument("--fault-seconds", type=float, default=300.0)
    args = parser.parse_args()
    seen, wall = await measure(args.speed, args.fault_seconds)
    end = FAULT_AT + args.fault_seconds
    print(
        f"faults from {FAULT_AT:g} s for {args.fault_seconds:g} s, speed {args.speed:g}, "
        f"{wall:.0f} s of wall time (scenario seconds below)"
    )
    print(
        f"{'fault':38} {'first failed poll':>18} {'blind raised':>13} {'resolved':>9} "
        f"{'after Azure answers':>20}  other"
    )
    for n, (label, entries) in enumerate(FAULTS.items(), start=1):
        scope = f"/subscriptions/{fault_subscription(n)}"
        first = seen.first_failed.get(scope)
        raised = seen.opened.get(scope)
        resolved = seen.resolved.get(scope)
        answers = end
        last_429 = seen.last_throttled.get(scope)
        if last_429 is not None and last_429 <= end:
            wait = max((e.get("retry_after", 0) for e in entries), default=0)
            answers = max(end, last_429 + wait)
        cells = [
            "-" if first is None else f"{first - FAULT_AT:+.1f} s",
            "never" if raised is None or first is None else f"{raised - first:+.1f} s",
            "-" if resolved is None else f"{resolved - end:+.1f} s",
            "-" if resolved is None else f"{resolved - answers:+.1f} s",
        ]
        other = ", ".join(seen.other.get(scope, [])) or "-"
        print(f"{label:38} {cells[0]:>18} {cells[1]:>13} {cells[2]:>9} {cells[3]:>20}  {other}")


if __name__ == "__main__":
    asyncio.run(main())
