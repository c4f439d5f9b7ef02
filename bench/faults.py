"""Time to blind and time to recover per API fault, through the real agent and SDK clients.

Each fault is replayed against the emulator on a manual clock (collectors at their default
intervals: connections 15 s, BGP and ExpressRoute 30 s, gateways 300 s; discovery 900 s; blind
after 60 s and two failed runs): a quiet hub, and from 60 s every request of the subscription
fails for `--fault-seconds`. Printed per fault, in scenario seconds: when `monitoring_blind`
was raised after the fault began, and when it resolved after the fault ended. Scenario time does
not depend on the machine's load, so the figures are the agent's own.

    .venv/bin/python bench/faults.py [--fault-seconds 300]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import time
from typing import Any

import yaml

from vpnwatch.agent import Agent
from vpnwatch.clock import ManualClock
from vpnwatch.correlate import CorrelationResult
from vpnwatch.emulator import Emulator
from vpnwatch.emulator.scenario import parse_scenario, scenario_path
from vpnwatch.incidents import IncidentType
from vpnwatch.replay import EMULATOR_TOKEN, REPLAY_EPOCH, emulator_settings
from vpnwatch.store import Store

FAULTS: dict[str, dict[str, Any]] = {
    "429 storm (Retry-After 30 s)": {"kind": "throttle", "retry_after": 30},
    "503 (ServiceUnavailable)": {"kind": "api_unavailable", "retry_after": 10},
    "401 (token refused)": {"kind": "auth_failure"},
}
FAULT_AT = 60.0
STEP = 5.0  # the replay's step: a collector runs at the first step it is due


async def measure(fault: dict[str, Any], seconds: float) -> tuple[float | None, float | None]:
    """(seconds from the fault's start until blind was raised, seconds from its end until the
    last blind incident resolved), as the agent announced them on its clock."""
    raw = copy.deepcopy(yaml.safe_load(scenario_path("monitoring-blind").read_text()))
    end = FAULT_AT + seconds
    raw.update(
        name="bench-fault",
        duration=end + 240,
        timeline=[{"at": FAULT_AT, "duration": seconds, **fault}],
        expect=[],
    )
    scenario = parse_scenario(raw, source="bench-fault")
    clock = ManualClock(epoch=REPLAY_EPOCH)
    raised: list[float] = []
    resolved: list[float] = []

    def listen(result: CorrelationResult) -> None:
        t = (clock.now() - REPLAY_EPOCH).total_seconds()
        blind = IncidentType.MONITORING_BLIND
        raised.extend(t for i in result.opened if i.type is blind)
        resolved.extend(t for i in result.resolved if i.type is blind)

    with Store.open(":memory:") as store:
        async with Emulator(scenario, clock=clock, port=0, token=EMULATOR_TOKEN) as emu:
            settings = emulator_settings(emu.base_url, scenario, epoch=clock.now())
            agent = Agent(settings, clock=clock, store=store)
            agent.add_listener(listen)
            await agent.open()
            try:
                while (clock.now() - REPLAY_EPOCH).total_seconds() <= scenario.duration_seconds:
                    await agent.run_due()
                    clock.advance(STEP)
            finally:
                await agent.stop()
    to_blind = min(raised) - FAULT_AT if raised else None
    to_recover = max(resolved) - end if resolved and len(resolved) >= len(raised) else None
    return to_blind, to_recover


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fault-seconds", type=float, default=300.0)
    args = parser.parse_args()
    print(f"fault from {FAULT_AT:g} s for {args.fault_seconds:g} s (scenario seconds)")
    print(f"{'fault':32} {'blind opened at':>16} {'resolved after end':>19} {'wall':>7}")
    for name, fault in FAULTS.items():
        started = time.monotonic()
        to_blind, to_recover = await measure(fault, args.fault_seconds)
        wall = time.monotonic() - started
        b = "never" if to_blind is None else f"+{to_blind:.0f} s"
        r = "never" if to_recover is None else f"+{to_recover:.0f} s"
        print(f"{name:32} {b:>16} {r:>19} {wall:6.1f}s")


if __name__ == "__main__":
    asyncio.run(main())
