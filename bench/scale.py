"""The agent against an estate of real size, inside Azure's real read budget.

The emulator runs in its own process (so the agent's CPU and memory are the agent's), on a scaled
clock shared with the agent (same epoch and speed), with ARM's throttling switched on: today's
token buckets (`--model bucket`) or the older hourly limits (`--model hourly`). The agent runs
with default collector settings through the real SDK clients. At the end it prints, per
subscription, the reads and writes per hour it caused against the budget and the 429s; the
effective interval per collector; the oldest entity and any entity older than what was promised
for it; fault to incident p50/p95 (generated estates inject faults with the incident each should
open); the Azure Monitor calls (metrics batches and Log Analytics queries, collectors on) against
their own limits; and the agent's CPU seconds per connection pass and peak RSS. No assertions.

    .venv/bin/python -P bench/scale.py --estate spread --model bucket [--speed 1]
    .venv/bin/python -P bench/scale.py --estate hub --model hourly
    .venv/bin/python -P bench/scale.py --estate large-fleet --model bucket --duration 600

Estates: `spread` and `hub` (`vpnwatch.emulator.estates`: 1,000 gateways, 4,000 connections,
200 circuits), or any shipped scenario name (`large-fleet`).

Wall time: a run at speed s asks for the budget times s requests per wall second (*spread*: 20
subscriptions at 12.5 reads/s is 250 per second at speed 1), and the agent and the emulator each
need CPU for every one; on two cores speed 1 is about what both keep up with. So the run is kept
short in scenario time instead: the faults start once the first full rotation is done, follow
each other every few seconds (each on its own gateway, across every subscription), and the run
ends when the last one is over. Each fault lasts longer than the rotation the budget allows, so
every fault can be seen.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import multiprocessing as mp
import resource
import shutil
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
from vpnwatch.service.health import fleet_health
from vpnwatch.service.metrics import ServiceMetrics
from vpnwatch.store import Store

SCENARIOS = Path(__file__).resolve().parent.parent / "vpnwatch" / "scenarios"
BUDGET_PER_HOUR = {"bucket": (25 * 3600, 10 * 3600), "hourly": (12_000, 1_200)}
METRICS_CALLS_PER_HOUR = 360_000  # metrics:getBatch, per subscription
LOG_QUERIES_PER_30_S = 200  # Log Analytics, per caller
TARGET_KINDS = ("tunnel_down", "failover", "bgp_peer_down")  # the kinds fault to incident targets
WORKSPACE = "3f2d7c55-0000-4000-8000-0000000be4c1"


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
    duration: float
    kind: str
    target: str
    gateway: str
    expected: str


@dataclass
class Run:
    opened: list[tuple[float, Any]] = field(default_factory=list)  # (scenario s, incident)
    samples: int = 0  # staleness checks made during the run
    stale_up: Counter[str] = field(default_factory=Counter)  # older than promised, read `up`
    stale: Counter[str] = field(default_factory=Counter)  # older than promised, any health


# Per estate: when the first fault comes (after the first full rotation), how far apart faults
# are and how long each lasts (longer than the estate's rotation under the bucket model).
FAULT_TIMING = {
    "spread": {"first": 90.0, "every": 4.0, "duration": 180.0},
    # the hub's connections and BGP status rotate together in about 300 s (docs/read-budget.md)
    "hub": {"first": 330.0, "every": 2.0, "duration": 420.0},
}


def _estate(args: argparse.Namespace) -> tuple[dict[str, Any], list[Fault]]:
    name = args.estate
    if name in ("spread", "hub"):
        from vpnwatch.emulator.estates import build_estate

        timing = FAULT_TIMING[name]
        estate = build_estate(
            name,  # type: ignore[arg-type]
            faults=args.faults,
            first_fault_at=args.first_fault or timing["first"],
            fault_every=args.fault_every or timing["every"],
            fault_duration=args.fault_duration or timing["duration"],
        )
        injected = [
            Fault(f.at, f.duration, f.kind, f.target, f.gateway, f.expected_incident)
            for f in estate.faults
        ]
        return estate.document, injected
    path = Path(name)
    if not path.exists():
        path = SCENARIOS / f"{name}.yaml"
    return yaml.safe_load(path.read_text()), []


def _started(conn: Any, emulator: Any) -> Any:
    """What the emulator's process sends once it serves; an error if it died first."""
    while not conn.poll(1.0):
        if not emulator.is_alive():
            raise RuntimeError(f"the emulator's process exited with {emulator.exitcode}")
    return conn.recv()


async def _run(args: argparse.Namespace) -> None:
    document, faults = _estate(args)
    if args.duration is None:  # until the last fault is over, or 600 s without faults
        args.duration = max((f.at + f.duration for f in faults), default=600.0) + 15.0
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
        base_url, started = await asyncio.to_thread(_started, parent, emulator)
        clock = shared_clock(args.speed, epoch)
        origin = datetime.fromtimestamp(started, UTC)  # scenario time 0, the emulator's start
        settings = emulator_settings(
            base_url, scenario, epoch=origin, store_path=str(workdir / "state.db")
        )
        collectors = settings.collectors
        # The SDK waits between LRO polls in wall time: 2 scenario seconds.
        update: dict[str, Any] = {
            "lro_poll_interval_seconds": 2.0 / args.speed,
            "retry_backoff_seconds": 0.8 / args.speed,
        }
        if not args.no_monitor:  # Azure Monitor on, at its default intervals and own limits
            update["metrics"] = collectors.metrics.model_copy(update={"enabled": True})
            update["logs"] = collectors.logs.model_copy(
                update={"enabled": True, "workspace_id": WORKSPACE}
            )
        settings = settings.model_copy(update={"collectors": collectors.model_copy(update=update)})
        await _measure(args, settings, clock, origin, base_url, faults, scenario.subscription_ids)
    finally:
        parent.send("stop")
        emulator.join(timeout=10)
        if emulator.is_alive():
            emulator.kill()
        shutil.rmtree(workdir, ignore_errors=True)


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
    # The service's own metrics as the request observer: its `vpnwatch_azure_requests_total`
    # is where a 429 the agent met would be counted.
    metrics = ServiceMetrics(settings.service)
    agent = Agent(settings, clock=clock, store=Store.open(":memory:"), observer=metrics)

    def on_result(result: CorrelationResult) -> None:
        t = (clock.now() - origin).total_seconds()
        run.opened.extend((t, i) for i in result.opened)

    agent.add_listener(on_result)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    start = read_counters(base_url)
    await agent.start()
    try:
        while (clock.now() - origin).total_seconds() < args.duration:
            await asyncio.sleep(max(1.0, 10.0 / args.speed))
            _check_staleness(agent, clock, run)
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        served = read_counters(base_url).minus(start)
        _report(args, agent, clock, origin, served, faults, run, subscriptions, cpu0, cpu1)
        _report_service(agent, metrics)
    finally:
        await agent.stop()


def _check_staleness(agent: Agent, clock: ScaledClock, run: Run) -> None:
    """Every entity older than what was promised for it must read `unknown`, never `up`."""
    if agent.correlator is None:
        return
    state = agent.correlator.state
    now = clock.now()
    run.samples += 1
    for entity in state.entities.values():
        if entity.last_observed is None:
            continue
        age = (now - entity.last_observed).total_seconds()
        if age > state.stale_after(entity.entity_id):
            run.stale[str(entity.kind)] += 1
            if state.effective(entity, now) is Health.UP:
                run.stale_up[str(entity.kind)] += 1


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
    elapsed = (clock.now() - origin).total_seconds()
    print(
        f"\nestate {args.estate}, model {args.model}, {served.elapsed:.0f} scenario s "
        f"at speed {args.speed:g}, {len(subscriptions)} subscription(s)"
    )
    _report_budget(args, agent, served, subscriptions)
    _report_lanes(agent, subscriptions)
    _report_monitor(served, subscriptions)
    _report_intervals(agent, elapsed)
    _report_entities(agent, clock, run)
    if faults:
        _report_faults(faults, run, elapsed)
    cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    passes = next((s.runs for s in agent.collector_status() if s.name == "arm.connections"), 0)
    print(
        f"\nagent CPU {cpu:.1f} s over {passes} connection passes "
        f"({cpu / max(passes, 1):.2f} s per pass, {cpu / max(elapsed, 1):.2f} s per scenario s); "
        f"peak RSS {cpu1.ru_maxrss / 1024:.0f} MiB"
    )


def _report_service(agent: Agent, metrics: ServiceMetrics) -> None:
    """What `/metrics` and `/health` would say: 429s in `vpnwatch_azure_requests_total`, and the
    effective connection interval per subscription."""
    by_code: Counter[str] = Counter()
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name == "vpnwatch_azure_requests_total":
                by_code[sample.labels.get("code", "")] += int(sample.value)
    print(
        "\n/metrics vpnwatch_azure_requests_total by code: "
        + ", ".join(f"{code} {n}" for code, n in sorted(by_code.items()))
    )
    health = fleet_health(agent)
    print(f"/health: {health.status.value}, subscriptions (effective connection interval):")
    for b in health.subscriptions:
        print(
            f"  {b.subscription_id} {b.connections} connections, every "
            f"{_s(b.effective_interval_seconds)} s (configured {b.configured_interval_seconds:g},"
            f" achieved {_s(b.achieved_interval_seconds)}, limited {b.limited})"
        )


def _report_budget(
    args: argparse.Namespace, agent: Agent, served: Any, subscriptions: list[str]
) -> None:
    hours = served.elapsed / 3600
    reads_budget, writes_budget = BUDGET_PER_HOUR[args.model]
    print(f"ARM budget per subscription: {reads_budget:,} reads/h, {writes_budget:,} writes/h")
    budgets = {b.subscription_id.lower(): b for b in agent.budgets()}
    print(
        f"{'subscription':38} {'reads/h':>9} {'%':>4} {'writes/h':>9} {'%':>4} {'429':>4} "
        f"{'conns':>5} {'promised':>8} {'achieved':>8} {'oldest':>6} {'bgp':>6}"
    )
    for sub in subscriptions:
        b = budgets.get(sub.lower())
        reads, writes = served.reads(sub) / hours, served.writes(sub) / hours
        print(
            f"{sub:38} {reads:9.0f} {reads / reads_budget:4.0%} {writes:9.0f} "
            f"{writes / writes_budget:4.0%} {served.of(sub)['throttled']:4d} "
            f"{b.connections if b else 0:5d} "
            f"{_s(b.effective_interval_seconds if b else None):>8} "
            f"{_s(b.achieved_interval_seconds if b else None):>8} "
            f"{_s(b.oldest_connection_age_seconds if b else None):>6} "
            f"{_s(b.bgp_interval_seconds if b else None):>6}"
        )
    print(
        f"429s: {served.total('throttled')} served by the emulator, "
        f"{sum(b.throttled for b in budgets.values())} met by the agent"
    )


def _report_lanes(agent: Agent, subscriptions: list[str]) -> None:
    """Per collector: what it spent per subscription (mean over the subscriptions, per second
    of the run) and the rotation period the planner's ration gave it."""
    clients = agent._clients  # the bench reads the agent's own budget and planner
    if clients is None:
        return
    spent: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    periods: dict[str, list[float]] = defaultdict(list)
    for sub in subscriptions:
        for i, kind in enumerate(("reads", "writes")):
            for lane, rate in clients.budget.average_rates(sub, kind).items():
                spent[lane][i] += rate / len(subscriptions)
        for lane, ration in clients.planner.rations(sub).items():
            periods[lane].append(ration.period)
    print("per collector, per subscription (mean): reads/s, writes/s, ration period s")
    for lane, (reads, writes) in sorted(spent.items(), key=lambda x: -x[1][0]):
        p = periods.get(lane)
        span = f"{min(p):.0f}-{max(p):.0f}" if p else "-"
        print(f"  {lane:20} {reads:6.2f} {writes:6.2f}  {span}")


def _report_monitor(served: Any, subscriptions: list[str]) -> None:
    hours = served.elapsed / 3600
    calls = [served.of(sub)["metrics"] / hours for sub in subscriptions]
    queries = served.of("tenant")["query"]
    per_30s = queries / max(served.elapsed / 30, 1e-9)
    print(
        f"Azure Monitor: metrics:getBatch {min(calls, default=0):.0f}-{max(calls, default=0):.0f}"
        f" calls/h per subscription (limit {METRICS_CALLS_PER_HOUR:,}); Log Analytics "
        f"{queries} queries, {per_30s:.1f} per 30 s (limit {LOG_QUERIES_PER_30_S} per caller)"
    )


def _report_intervals(agent: Agent, elapsed: float) -> None:
    print("\neffective interval per collector (scenario seconds between passes):")
    for status in agent.collector_status():
        per_pass = elapsed / status.runs if status.runs else math.nan
        print(f"  {status.name:18} configured {status.interval_seconds:6.0f}  "
              f"achieved {per_pass:7.1f}  runs {status.runs}")  # fmt: skip


def _report_entities(agent: Agent, clock: ScaledClock, run: Run) -> None:
    assert agent.correlator is not None
    state = agent.correlator.state
    now = clock.now()
    ages: dict[str, float] = defaultdict(float)
    health = Counter[Health]()
    for entity in state.entities.values():
        health[state.effective(entity, now)] += 1
        if entity.last_observed is not None:
            age = (now - entity.last_observed).total_seconds()
            ages[str(entity.kind)] = max(ages[str(entity.kind)], age)
    total = sum(health.values())
    print(
        f"\nentities {total}: "
        + ", ".join(f"{h.value} {n}" for h, n in sorted(health.items(), key=lambda x: x[0].value))
        + f" ({health[Health.UNKNOWN] / max(total, 1):.1%} unknown)"
    )
    print(
        "oldest entity per kind (s): " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(ages.items()))
    )
    stale = ", ".join(f"{k} {n}" for k, n in sorted(run.stale.items())) or "none"
    stale_up = ", ".join(f"{k} {n}" for k, n in sorted(run.stale_up.items())) or "none"
    print(f"older than promised, over {run.samples} checks during the run: {stale}")
    print(f"  ... of which read `up`: {stale_up}")


def _report_faults(faults: list[Fault], run: Run, elapsed: float) -> None:
    injected = [f for f in faults if f.at < elapsed]
    latencies = _fault_latencies(faults, run, elapsed)
    seen = [x for x in latencies if x is not None]
    print(f"\nfaults injected {len(injected)}, opened the expected incident {len(seen)}")
    if seen:
        print(f"fault to incident: p50 {_q(seen, 50):.0f} s, p95 {_q(seen, 95):.0f} s, "
              f"max {max(seen):.0f} s")  # fmt: skip
    # The target names tunnel drops, failovers and BGP sessions down; instance losses
    # of active/active gateways carry `redundancy_lost`'s hold and are reported beside them.
    named = [
        latency
        for fault, latency in zip(faults, latencies, strict=False)
        if fault.at < elapsed and fault.kind in TARGET_KINDS
    ]
    found = [x for x in named if x is not None]
    print(f"  tunnel drops, failovers, BGP sessions down: injected {len(named)}, "
          f"opened {len(found)}"
          + (f", p50 {_q(found, 50):.0f} s, p95 {_q(found, 95):.0f} s, max {max(found):.0f} s"
             if found else ""))  # fmt: skip
    by_kind: dict[str, list[float | None]] = defaultdict(list)
    for fault, latency in zip(faults, latencies, strict=False):
        if fault.at < elapsed:
            by_kind[fault.kind].append(latency)
    for kind, values in sorted(by_kind.items()):
        found = [v for v in values if v is not None]
        if not found:
            print(f"  {kind:16} n {len(values):3d}  none opened")
            continue
        print(f"  {kind:16} n {len(values):3d}  opened {len(found):3d}  "
              f"p50 {_q(found, 50):5.0f} s  p95 {_q(found, 95):5.0f} s  "
              f"max {max(found):5.0f} s")  # fmt: skip


def _q(values: list[float], percent: int) -> float:
    """The `percent` percentile (nearest rank), so p95 of 60 faults is the 57th."""
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


def _fault_latencies(faults: list[Fault], run: Run, elapsed: float) -> list[float | None]:
    out: list[float | None] = []
    for fault in faults:
        if fault.at >= elapsed:
            out.append(None)
            continue
        # The estate names its targets; an incident lists full resource ids, which end in them.
        targets = {fault.target.lower(), fault.gateway.lower()}
        match = None
        for t, incident in run.opened:
            if t < fault.at or str(incident.type) != fault.expected:
                continue
            names = {r.rstrip("/").rsplit("/", 1)[-1].lower() for r in incident.resources}
            if targets & names:
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
    parser.add_argument("--speed", type=float, default=1.0, help="scenario seconds per second")
    parser.add_argument(
        "--duration", type=float, default=None, help="scenario seconds (default: until the "
        "last fault is over)"
    )  # fmt: skip
    parser.add_argument(
        "--faults",
        type=int,
        default=68,
        help="faults in a generated estate, taking turns over four kinds (68: 51 of the three "
        "kinds the fault-to-incident target names)",
    )
    parser.add_argument("--first-fault", type=float, default=None, help="scenario s")
    parser.add_argument("--fault-every", type=float, default=None, help="scenario s")
    parser.add_argument("--fault-duration", type=float, default=None, help="scenario s")
    parser.add_argument(
        "--no-monitor", action="store_true", help="leave the Azure Monitor collectors off"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(_run(args))


if __name__ == "__main__":
    main()
