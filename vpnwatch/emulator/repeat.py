"""Long scenarios from short ones: the same faults again every `every` seconds.

`repeated("demo", every=4 * 3600, duration=86_400)` is a day of the demo estate with the demo's
faults six times, quiet in between: what `bench/replay_day.py` replays to measure a day.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from vpnwatch.emulator.scenario import Scenario, parse_scenario, scenario_path


def repeated(name_or_path: str | Path, *, every: float, duration: float) -> Scenario:
    """The scenario's timeline repeated every `every` seconds up to `duration`; `expect` lists
    each round's incidents at their shifted offsets. Fault ids get the round as a suffix, and an
    instance failure takes the other instance every second round (the one that failed last time
    is the standby since the failover)."""
    raw = yaml.safe_load(scenario_path(name_or_path).read_text())
    if every < float(raw["duration"]):
        raise ValueError(f"every ({every:g} s) is shorter than the scenario ({raw['duration']} s)")
    timeline: list[dict] = []
    expect: list[dict] = []
    rounds = int(duration // every)
    for n in range(rounds):
        offset = n * every
        for fault in raw.get("timeline", []):
            again = copy.deepcopy(fault)
            again["at"] = fault["at"] + offset
            for key in ("id", "fault"):  # a recover names the fault it ends
                if key in again:
                    again[key] = f"{again[key]}-{n}"
            if again.get("kind") == "instance_failure" and n % 2:
                # after a failover the instance that failed is the standby: fail the other one
                again["instance"] = 1 - int(again["instance"])
            timeline.append(again)
        for entry in raw.get("expect", []):
            again = copy.deepcopy(entry)
            if "at" in again:
                again["at"] = entry["at"] + offset
            expect.append(again)
    raw.update(
        name=f"{raw['name']}-every-{every:g}s",
        duration=duration,
        timeline=timeline,
        expect=expect,
    )
    return parse_scenario(raw, source=f"{name_or_path} repeated every {every:g} s")
