"""HTTP latency of `/health`, `/livez` and `/metrics` while the agent polls a 1,000-gateway fleet.

The emulator serves `vpnwatch/scenarios/large-fleet.yaml` in its own process (ARM's read budget
on, as in `bench/scale.py`), so computing Azure's answers never competes with the agent for the
interpreter. The agent and its service run on 127.0.0.1 as `vpnwatch run` runs them: the agent
on a thread and event loop of its own, the service under uvicorn on the main loop. The benchmark
waits until /readyz answers 200 and then until the first full rotation (every listed connection
and every gateway's BGP status read once), so `/metrics` carries the whole fleet. Then it loads
the service from a separate client process (aiohttp's client):

- `/health` at a fixed rate (`--rate`, default 500 requests/s) for `--seconds`, while polling;
- `/livez` at 100 requests/s while another client scrapes `/metrics` back to back (the scrapes'
  latency and series count are printed too).

Meanwhile a probe on each loop records how late it wakes a 10 ms sleeper.

Long-running operations (BGP peer status, route tables) wait as the SDK waits against Azure: the
agent's default `lro_poll_interval_seconds` between polls, not 0. `--speed` runs both processes
on a scaled clock (LRO waits and the read budget scale with it). Prints p50/p99 latency and
requests/s. No assertions; it stops by itself.

    .venv/bin/python bench/service_http.py [--rate 500] [--seconds 20] [--speed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from fastapi import FastAPI

from vpnwatch.agent import Agent
from vpnwatch.agent.thread import AgentThread
from vpnwatch.clock import ScaledClock
from vpnwatch.config import CollectorsSettings
from vpnwatch.emulator import Emulator, load_scenario
from vpnwatch.emulator.scenario import Scenario
from vpnwatch.replay import emulator_settings
from vpnwatch.service.app import create_app, running
from vpnwatch.service.metrics import ServiceMetrics

SCENARIO = "large-fleet"
IN_FLIGHT = 64  # requests sent at once by the fixed-rate client (its connections)


@dataclass
class Result:
    endpoint: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    wall_seconds: float = 0.0
    body_bytes: int = 0
    series: int = 0

    def quantile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def line(self) -> str:
        done = len(self.latencies)
        rate = done / self.wall_seconds if self.wall_seconds else 0.0
        return (
            f"{done:6d} req  p50 {self.quantile(0.5) * 1000:8.1f} ms  "
            f"p99 {self.quantile(0.99) * 1000:8.1f} ms  "
            f"mean {statistics.fmean(self.latencies) * 1000 if done else float('nan'):8.1f} ms  "
            f"{rate:7.1f} req/s  body {self.body_bytes / 1024:7.1f} KiB  "
            f"status {dict(sorted(self.statuses.items()))}  errors {self.errors}"
        )


async def _fixed_rate(
    client: aiohttp.ClientSession, endpoint: str, rate: float, seconds: float
) -> Result:
    """Requests sent on a fixed schedule (`rate` per second), each timed from the moment it was
    due, so a service that falls behind is charged for the wait. At most `IN_FLIGHT` are sent at
    once; the rest wait their turn here, not in the client's connection pool."""
    result = Result(endpoint)
    pending: set[asyncio.Task[None]] = set()
    slots = asyncio.Semaphore(IN_FLIGHT)

    async def one(started: float) -> None:
        try:
            async with slots, client.get(endpoint) as response:
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError):
            result.errors += 1
            return
        result.latencies.append(time.perf_counter() - started)
        result.statuses[response.status] = result.statuses.get(response.status, 0) + 1
        result.body_bytes = len(body)

    began = time.perf_counter()
    n = 0
    while time.perf_counter() - began < seconds:
        n += 1
        due = began + n / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        task = asyncio.create_task(one(due))
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.wait(pending, timeout=30)
    for task in list(pending):  # still unanswered: counted as errors, not left to the next load
        task.cancel()
        result.errors += 1
    result.wall_seconds = time.perf_counter() - began
    return result


async def _back_to_back(client: aiohttp.ClientSession, endpoint: str, seconds: float) -> Result:
    result = Result(endpoint)
    began = time.perf_counter()
    body = b""
    while time.perf_counter() - began < seconds:
        started = time.perf_counter()
        try:
            async with client.get(endpoint) as response:
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError):
            result.errors += 1
            continue
        result.latencies.append(time.perf_counter() - started)
        result.statuses[response.status] = result.statuses.get(response.status, 0) + 1
        result.body_bytes = len(body)
    result.wall_seconds = time.perf_counter() - began
    result.series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    return result


SCRAPES_FIRST = 1.0  # seconds the scraper runs before /livez is measured, and after


async def client_main(base_url: str, role: str, rate: float, seconds: float) -> None:
    """One load, run in its own process; prints one line. `/livez` and the `/metrics` scrapes
    run in two processes, so reading 4 MiB bodies never delays the client timing /livez.

    aiohttp's client, not httpx's: at 500 requests/s on a busy 2-core machine httpx's own CPU
    time per request made the client, not the service, the bottleneck."""
    session = aiohttp.ClientSession(
        base_url=base_url,
        timeout=aiohttp.ClientTimeout(total=60),
        connector=aiohttp.TCPConnector(limit=IN_FLIGHT),
    )
    async with session as client:
        if role == "health":
            health = await _fixed_rate(client, "/health", rate, seconds)
            print(f"/health at {rate:g}/s while polling   {health.line()}", flush=True)
        elif role == "livez":
            await asyncio.sleep(SCRAPES_FIRST)
            livez = await _fixed_rate(client, "/livez", 100, seconds)
            print(f"/livez during /metrics scrapes  {livez.line()}", flush=True)
        else:
            metrics = await _back_to_back(client, "/metrics", seconds + 2 * SCRAPES_FIRST)
            print(f"/metrics back to back           {metrics.line()}", flush=True)
            print(f"/metrics series: {metrics.series}", flush=True)


async def _clients(base_url: str, rate: float, seconds: float) -> None:
    """/health alone, then /livez while /metrics is scraped back to back."""

    async def client(role: str) -> None:
        process = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--client", base_url, "--role", role,
            "--rate", str(rate), "--seconds", str(seconds),
        )  # fmt: skip
        await process.wait()

    await client("health")
    await asyncio.gather(client("metrics"), client("livez"))


async def _loop_lag(lags: list[float], every: float = 0.01) -> None:
    """How late the agent's event loop wakes a sleeper: what a request waits for the loop."""
    while True:
        started = time.perf_counter()
        await asyncio.sleep(every)
        lags.append(max(0.0, time.perf_counter() - started - every))


def shared_clock(speed: float, wall_epoch: float) -> ScaledClock:
    """A scaled clock that reads `wall_epoch` at wall time `wall_epoch`, in any process."""
    now = wall_epoch + (time.time() - wall_epoch) * speed
    return ScaledClock(speed, epoch=datetime.fromtimestamp(now, UTC))


def _serve(scenario: str, speed: float, epoch: float, conn: Any) -> None:
    """The emulator's process: serve the scenario until the parent closes the pipe. Its own
    process, so that computing Azure's answers never competes with the agent for the
    interpreter."""

    async def main() -> None:
        async with Emulator(scenario, clock=shared_clock(speed, epoch), port=0) as emu:
            assert emu.started_at is not None
            conn.send((emu.base_url, emu.started_at.timestamp()))
            while not await asyncio.to_thread(conn.poll, 0.5):
                pass

    asyncio.run(main())


async def _wait_ready(base_url: str, timeout: float) -> float:
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        while time.monotonic() - started < timeout:
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)
    raise TimeoutError(f"not ready after {timeout:.0f} s")


def _rotation_done(agent: Agent) -> tuple[bool, str]:
    """Whether every connection the subscriptions list, and the BGP status of every gateway
    with BGP, has been read at least once: the whole fleet is in the state (and on /metrics)."""
    assert agent.correlator is not None
    state = agent.correlator.state
    listed = sum(b.connections for b in agent.budgets())
    with_bgp = sum(1 for gw in state.gateways.values() if gw.bgp_enabled)
    progress = (
        f"{len(state.connections)} of {listed} connections, "
        f"BGP of {len(state.bgp)} of {with_bgp} gateways, {len(state.entities)} entities"
    )
    done = listed > 0 and len(state.connections) >= listed and len(state.bgp) >= with_bgp
    return done, progress


async def _rotation(runner: AgentThread) -> tuple[bool, str]:
    """`_rotation_done`, read on the agent's own loop (the thread that changes its state)."""

    async def read() -> tuple[bool, str]:
        return _rotation_done(runner.agent)

    return await runner.call(read())


async def _wait_full_rotation(runner: AgentThread, timeout: float) -> float:
    started = time.monotonic()
    shown = 0.0
    while time.monotonic() - started < timeout:
        done, progress = await _rotation(runner)
        if done:
            return time.monotonic() - started
        if time.monotonic() - shown > 30:
            print(f"  reading the fleet: {progress}", flush=True)
            shown = time.monotonic()
        await asyncio.sleep(1.0)
    raise TimeoutError(f"no full rotation after {timeout:.0f} s ({(await _rotation(runner))[1]})")


async def main(args: argparse.Namespace) -> int:
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)  # the service keeps a lower one
    scenario = load_scenario(args.scenario)
    epoch = time.time()
    parent, child = mp.Pipe()
    emulator = mp.get_context("spawn").Process(
        target=_serve, args=(args.scenario, args.speed, epoch, child)
    )
    emulator.start()
    try:
        emulator_url, started = await asyncio.to_thread(parent.recv)
        return await _measure(args, scenario, emulator_url, started, epoch)
    finally:
        parent.close()
        emulator.join(timeout=10)
        if emulator.is_alive():
            emulator.terminate()


async def _measure(
    args: argparse.Namespace, scenario: Scenario, emulator_url: str, started: float, epoch: float
) -> int:
    clock = shared_clock(args.speed, epoch)
    with tempfile.TemporaryDirectory(prefix="vpnwatch-bench-") as tmp:
        settings = emulator_settings(
            emulator_url, scenario, epoch=datetime.fromtimestamp(started, UTC),
            store_path=str(Path(tmp) / "bench.sqlite3"),
        )  # fmt: skip
        # LROs wait between polls as against Azure (emulator_settings makes replays skip it):
        # the SDK's wait is wall time, so it is the default scenario wait over the speed.
        lro_wait = CollectorsSettings().lro_poll_interval_seconds
        settings.collectors.lro_poll_interval_seconds = lro_wait / args.speed
        settings.log_level = "WARNING"
        # As `vpnwatch run` does (`serve`): the agent on its own thread and event loop, the
        # service under uvicorn on this one.
        metrics = ServiceMetrics(settings.service)
        agent = Agent(settings, observer=metrics, clock=clock)
        runner = AgentThread(agent)
        await runner.start()
        app = create_app(
            settings, agent=agent, metrics=metrics, manage_agent=False, clock=clock, runner=runner
        )
        try:
            return await _load(args, scenario, app, runner, emulator_url, lro_wait)
        finally:
            await runner.stop()


async def _load(
    args: argparse.Namespace,
    scenario: Scenario,
    app: FastAPI,
    runner: AgentThread,
    emulator_url: str,
    lro_wait: float,
) -> int:
    agent = runner.agent
    async with running(app) as base_url:
        print(
            f"scenario {scenario.name!r} at speed {args.speed:g}: service {base_url}, "
            f"emulator {emulator_url} (its own process); agent on its own thread and loop"
        )
        try:
            took = await _wait_ready(base_url, args.ready_timeout)
            print(f"ready after {took:.1f} s: {(await _rotation(runner))[1]}", flush=True)
            took = await _wait_full_rotation(runner, args.ready_timeout)
        except TimeoutError as exc:
            print(f"gave up: {exc}", file=sys.stderr)
            return 1
        print(
            f"first full rotation {took:.1f} s after ready: {(await _rotation(runner))[1]}; "
            f"LRO poll interval {lro_wait:g} scenario s"
        )
        lags: list[float] = []  # the service's loop, where requests are answered
        agent_lags: list[float] = []  # the agent's loop
        probe = asyncio.create_task(_loop_lag(lags))
        runner.spawn(lambda: _loop_lag(agent_lags), "loop-lag")
        cpu = time.process_time()
        await _clients(base_url, args.rate, args.seconds)
        cpu = time.process_time() - cpu
        probe.cancel()
        print(f"agent process meanwhile: {cpu:.1f} CPU s")
        for name, samples in (("service", lags), ("agent", list(agent_lags))):
            samples.sort()
            p50, p99 = samples[len(samples) // 2], samples[int(len(samples) * 0.99)]
            print(
                f"{name} event loop late by p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
                f"max {samples[-1] * 1000:.0f} ms ({len(samples)} samples)"
            )
        for status in agent.collector_status():
            print(f"collector {status.name:16} runs {status.runs:3d} failures {status.failures:3d}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default=SCENARIO)
    parser.add_argument("--rate", type=float, default=500.0, help="/health requests per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each measurement")
    parser.add_argument("--speed", type=float, default=1.0, help="scenario seconds per second")
    parser.add_argument(
        "--ready-timeout", type=float, default=1200.0, help="for readiness, then a full rotation"
    )
    parser.add_argument(
        "--switch-interval",
        type=float,
        help="the interpreter's switch interval in seconds, if below the service's own (1 ms)",
    )
    parser.add_argument("--client", metavar="BASE_URL", help=argparse.SUPPRESS)
    parser.add_argument("--role", choices=("health", "livez", "metrics"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.client:
        asyncio.run(
            client_main(arguments.client, arguments.role, arguments.rate, arguments.seconds)
        )
        sys.exit(0)
    sys.exit(asyncio.run(main(arguments)))
