"""The agent against an estate of real size, inside Azure's real read budget.

The emulator runs in its own process (so the agent's CPU and memory are the agent's), on a scaled
clock shared with the agent (same epoch and speed), with ARM's throttling switched on: today's
token buckets (`--model bucket`) or the older hourly limits (`--model hourly`). The agent runs
with default collector settings through the real SDK clients. At the end it prints, per
subscription, the reads and writes per hour it caused against the budget and the 429s; the
effective interval per collector; the oldest entity and any entity older than what was promised
for it; fault to incident p50/p95 (generated estates inject faults with the incident each should
open); and the agent's CPU seconds per connection pass and peak RSS. No assertions.

    .venv/bin/python bench/scale.py --estate spread --model bucket [--speed 10] [--duration 1800]
    .venv/bin/python bench/scale.py --estate large-fleet --model bucket

Estates: `spread` and `hub` (`vpnwatch.emulator.estates`: 1,000 gateways, 4,000 connections,
200 circuits), or any shipped scenario name (`large-fleet`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import multiprocessing as mp
import resource
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from vpnwatch.agent import Agent
from vpnwatch.clock import ScaledClock
from vpnwatch.correlate import CorrelationResult
from vpnwatch.correlate.entities import Health
from vpnwatch.emulator import load_scenario
from vpnwatch.emulator.counters import read_counters
from vpnwatch.replay import emulator_settings
from vpnwatch.store import Store

SCENARIOS = Path(__file__).resolve().parent.parent / "vpnwatch" / "scenarios"
BUDGET_PER_HOUR = {"bucket": (25 * 3600, 10 * 3600), "hourly": (12_000, 1_200)}


def shared_clock(speed: float, wall_epoch: float) -> ScaledClock:
    """A scaled clock that reads `wall_epoch` at wall time `wall_epoch`, in any process."""
    now = wall_epoch + (time.time() - wall_epoch) * speed
    return ScaledClock(speed, epoch=datetime.fromtimestamp(now, UTC))


def _serve(path: str, speed: float, epoch: float, model: str, conn: Any) -> None:
    """The emulator's process: serve the scenario until the parent closes the pipe."""
    from vpnwatch.emulator import Emulator

    async def main() -> None:
        clock = shared_clock(speed, epoch)
        async with Emulator(path, clock=clock, port=0, throttling=model) as emu:
            assert emu.started_at is not None
            conn.send((emu.base_url, emu.started_at.timestamp()))
            while not await asyncio.to_thread(conn.poll, 0.5):
                pass

    asyncio.run(main())


@dataclass
class Fault:
    at: float
    kind: str
    target: str
    gateway: str
    expected: str


@dataclass
class Run:
    opened: list[tuple[float, Any]] = field(default_factory=list)  # (scenario s, incident)
    passes: Counter[str] = field(default_factory=Counter)


def _estate(name: str, faults: int) -> tuple[dict[str, Any], list[Fault]]:
    if name in ("spread", "hub"):
        from vpnwatch.emulator.estates import build_estate

        estate = build_estate(name, faults=faults)  # type: ignore[arg-type]
        injected = [
            Fault(f.at, f.kind, f.target, f.gateway, f.expected_incident) for f in estate.faults
        ]
        return estate.document, injected
    path = Path(name)
    if not path.exists():
        path = SCENARIOS / f"{name}.yaml"
    return yaml.safe_load(path.read_text()), []


async def _run(args: argparse.Namespace) -> None:
    document, faults = _estate(args.estate, args.faults)
    workdir = Path(tempfile.mkdtemp(prefix="vpnwatch-scale-"))
    scenario_path = workdir / "estate.yaml"
    scenario_path.write_text(yaml.safe_dump(document, sort_keys=False))
    scenario = load_scenario(scenario_path)
    epoch = time.time()
    parent, child = mp.Pipe()
    emulator = mp.get_context("spawn").Process(
        target=_serve, args=(str(scenario_path), args.speed, epoch, args.model, child)
    )
    emulator.start()
    try:
        base_url, started = await asyncio.to_thread(parent.recv)
        clock = shared_clock(args.speed, epoch)
        origin = datetime.fromtimestamp(started, UTC)  # scenario time 0, the emulator's start
        settings = emulator_settings(
            base_url, scenario, epoch=origin, store_path=str(workdir / "state.db")
        )
        settings = settings.model_copy(
            update={
                "collectors": settings.collectors.model_copy(
                    # The SDK waits between LRO polls in wall time: 2 scenario seconds.
                    update={
                        "lro_poll_interval_seconds": 2.0 / args.speed,
                        "retry_backoff_seconds": 0.8 / args.speed,
                    }
                )
            }
        )
        await _measure(args, settings, clock, origin, base_url, faults, scenario.subscription_ids)
    finally:
        parent.send("stop")
        emulator.join(timeout=10)
        if emulator.is_alive():
            emulator.kill()


async def _measure(
    args: argparse.Namespace,
    settings: Any,
    clock: ScaledClock,
    origin: datetime,
    base_url: str,
    faults: list[Fault],
    subscriptions: list[str],
) -> None:
    run = Run()
    agent = Agent(settings, clock=clock, store=Store.open(":memory:"))

    def on_result(result: CorrelationResult) -> None:
        t = (clock.now() - origin).total_seconds()
        run.opened.extend((t, i) for i in result.opened)

    agent.add_listener(on_result)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    start = read_counters(base_url)
    await agent.start()
    try:
        report_at = args.duration
        while (clock.now() - origin).total_seconds() < report_at:
            await asyncio.sleep(1.0)
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        served = read_counters(base_url).minus(start)
        _report(args, agent, clock, origin, served, faults, run, subscriptions, cpu0, cpu1)
    finally:
        await agent.stop()


def _report(
    args: argparse.Namespace,
    agent: Agent,
    clock: ScaledClock,
    origin: datetime,
    served: Any,
    faults: list[Fault],
    run: Run,
    subscriptions: list[str],
    cpu0: Any,
    cpu1: Any,
) -> None:
    hours = served.elapsed / 3600
    reads_budget, writes_budget = BUDGET_PER_HOUR[args.model]
    print(
        f"\nestate {args.estate}, model {args.model}, {served.elapsed:.0f} scenario s "
        f"at speed {args.speed:g}, {len(subscriptions)} subscription(s)"
    )
    print(f"budget per subscription: {reads_budget:,} reads/h, {writes_budget:,} writes/h (100 %)")
    budgets = {b.subscription_id.lower(): b for b in agent.budgets()}
    rows = []
    for sub in subscriptions:
        c = served.of(sub)
        b = budgets.get(sub.lower())
        rows.append(
            (
                sub,
                served.reads(sub) / hours,
                served.writes(sub) / hours,
                c["throttled"],
                b.connections if b else 0,
                b.effective_interval_seconds if b else None,
                b.achieved_interval_seconds if b else None,
                b.bgp_interval_seconds if b else None,
            )
        )
    print(
        f"{'subscription':38} {'reads/h':>9} {'%':>4} {'writes/h':>9} {'%':>4} {'429':>4} "
        f"{'conns':>5} {'promised':>8} {'achieved':>8} {'bgp':>6}"
    )
    for sub, reads, writes, throttled, conns, promised, achieved, bgp in rows:
        print(
            f"{sub:38} {reads:9.0f} {reads / reads_budget:4.0%} {writes:9.0f} "
            f"{writes / writes_budget:4.0%} {throttled:4d} {conns:5d} {_s(promised):>8} "
            f"{_s(achieved):>8} {_s(bgp):>6}"
        )
    print(f"429s served by the emulator: {served.total('throttled')}")

    now = clock.now()
    elapsed = (now - origin).total_seconds()
    print("\neffective interval per collector (scenario seconds between passes):")
    for status in agent.collector_status():
        per_pass = elapsed / status.runs if status.runs else math.nan
        print(f"  {status.name:18} configured {status.interval_seconds:6.0f}  "
              f"achieved {per_pass:7.1f}  runs {status.runs}")  # fmt: skip

    assert agent.correlator is not None
    state = agent.correlator.state
    ages: dict[str, float] = defaultdict(float)
    over = Counter[str]()
    health = Counter[Health]()
    for entity in state.entities.values():
        health[state.effective(entity, now)] += 1
        if entity.last_observed is None:
            continue
        age = (now - entity.last_observed).total_seconds()
        ages[str(entity.kind)] = max(ages[str(entity.kind)], age)
        if age > state.stale_after(entity.entity_id) and entity.health is not Health.UNKNOWN:
            over[str(entity.kind)] += 1
    total = sum(health.values())
    print(
        f"\nentities {total}: "
        + ", ".join(f"{h.value} {n}" for h, n in sorted(health.items(), key=lambda x: x[0].value))
        + f" ({health[Health.UNKNOWN] / max(total, 1):.1%} unknown)"
    )
    oldest = ", ".join(f"{k} {v:.0f}" for k, v in sorted(ages.items()))
    print(f"oldest entity per kind (s): {oldest}")
    print(
        "older than promised (shown unknown, never up): "
        + (", ".join(f"{k} {n}" for k, n in sorted(over.items())) or "none")
    )

    if faults:
        latencies = _fault_latencies(faults, run, elapsed)
        seen = [x for x in latencies if x is not None]
        print(
            f"\nfaults injected {len([f for f in faults if f.at < elapsed])}, detected {len(seen)}"
        )
        if seen:
            q = statistics.quantiles(seen, n=20) if len(seen) > 1 else [seen[0]] * 19
            print(f"fault to incident: p50 {statistics.median(seen):.0f} s, p95 {q[18]:.0f} s, "
                  f"max {max(seen):.0f} s")  # fmt: skip
        by_kind: dict[str, list[float]] = defaultdict(list)
        for fault, latency in zip(faults, latencies, strict=False):
            if latency is not None:
                by_kind[fault.kind].append(latency)
        for kind, values in sorted(by_kind.items()):
            print(f"  {kind:16} n {len(values):3d}  p50 {statistics.median(values):5.0f} s  "
                  f"max {max(values):5.0f} s")  # fmt: skip

    cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    passes = next((s.runs for s in agent.collector_status() if s.name == "arm.connections"), 0)
    print(
        f"\nagent CPU {cpu:.1f} s over {passes} connection passes "
        f"({cpu / max(passes, 1):.2f} s per pass); peak RSS {cpu1.ru_maxrss / 1024:.0f} MiB"
    )


def _fault_latencies(faults: list[Fault], run: Run, elapsed: float) -> list[float | None]:
    out: list[float | None] = []
    for fault in faults:
        if fault.at >= elapsed:
            out.append(None)
            continue
        targets = {fault.target.lower(), fault.gateway.lower()}
        match = None
        for t, incident in run.opened:
            if t < fault.at or str(incident.type) != fault.expected:
                continue
            resources = {r.lower() for r in incident.resources}
            if targets & resources or any(
                r.startswith(x) or x.startswith(r) for r in resources for x in targets
            ):
                match = t - fault.at
                break
        out.append(match)
    return out


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estate", default="spread", help="spread | hub | a scenario name")
    parser.add_argument("--model", choices=("bucket", "hourly"), default="bucket")
    parser.add_argument("--speed", type=float, default=10.0, help="scenario seconds per second")
    parser.add_argument("--duration", type=float, default=1800.0, help="scenario seconds")
    parser.add_argument("--faults", type=int, default=60, help="faults in a generated estate")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(_run(args))


if __name__ == "__main__":
    main()
