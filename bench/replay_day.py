"""How long `vpnwatch replay` takes for a day: the demo estate for 24 hours at the default poll
intervals (connections every 15 s), its four faults again every four hours (six rounds),
through the emulator, the real SDK collectors and the correlator on the stepped clock.

Prints the wall and CPU time of the replay and whether every round opened what it must (each
round's incidents, at their offsets within one poll). `--every-step` replays every 5 s step,
quiet stretches included, as before they were skipped (about ten times slower).

    .venv/bin/python bench/replay_day.py [--hours 24] [--every-hours 4] [--every-step]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from vpnwatch.emulator.repeat import repeated
from vpnwatch.replay import REPLAY_EPOCH, replay

POLL = 15.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--every-hours", type=float, default=4.0)
    parser.add_argument("--every-step", action="store_true")
    args = parser.parse_args()
    scenario = repeated("demo", every=args.every_hours * 3600, duration=args.hours * 3600)
    wall, cpu = time.perf_counter(), time.process_time()
    incidents = asyncio.run(replay(scenario, skip_quiet=not args.every_step))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    roots = sorted((i for i in incidents if i.parent_key is None), key=lambda i: i.opened_at)
    want = sorted(scenario.expect, key=lambda e: e["at"])
    matched = sum(
        1
        for inc, exp in zip(roots, want, strict=False)
        if inc.type.value == exp["type"]
        and abs((inc.opened_at - REPLAY_EPOCH).total_seconds() - exp["at"]) <= POLL
    )
    print(f"scenario: {scenario.name}, {args.hours:g} h, {len(scenario.timeline)} faults")
    print(f"mode: {'every 5 s step' if args.every_step else 'quiet stretches skipped'}")
    print(f"replay: {wall:.1f} s wall, {cpu:.1f} s CPU")
    print(
        f"incidents: {len(roots)} root ({len(incidents)} in all), {len(want)} expected, "
        f"{matched} opened as expected"
    )


if __name__ == "__main__":
    main()
