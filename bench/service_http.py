"""HTTP latency of `/health`, `/livez` and `/metrics` while the agent polls a 1,000-gateway fleet.

Starts the emulator with `vpnwatch/scenarios/large-fleet.yaml`, the agent and its service on
127.0.0.1, waits until /readyz answers 200, then loads the service from a separate client
process (so the client never competes with the server for the interpreter):

- `/health` at a fixed rate (`--rate`, default 500 requests/s) for `--seconds`, while polling;
- `/livez` at 100 requests/s while another client scrapes `/metrics` back to back;
- `/metrics` alone, back to back: latency and series count.

Long-running operations (BGP peer status, route tables) wait as the SDK waits against Azure: the
agent's default `lro_poll_interval_seconds` between polls, not 0. Prints p50/p99 latency and
requests/s. No assertions; it stops by itself.

    .venv/bin/python bench/service_http.py [--rate 500] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from vpnwatch.clock import SystemClock
from vpnwatch.config import CollectorsSettings
from vpnwatch.emulator import Emulator, load_scenario
from vpnwatch.replay import emulator_settings
from vpnwatch.service.app import create_app, running

SCENARIO = "large-fleet"


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
    client: httpx.AsyncClient, endpoint: str, rate: float, seconds: float, stop: asyncio.Event
) -> Result:
    """Requests sent on a fixed schedule (`rate` per second), each timed from its send."""
    result = Result(endpoint)
    pending: set[asyncio.Task[None]] = set()

    async def one() -> None:
        started = time.perf_counter()
        try:
            response = await client.get(endpoint)
        except httpx.HTTPError:
            result.errors += 1
            return
        result.latencies.append(time.perf_counter() - started)
        result.statuses[response.status_code] = result.statuses.get(response.status_code, 0) + 1
        result.body_bytes = len(response.content)

    began = time.perf_counter()
    n = 0
    while not stop.is_set() and time.perf_counter() - began < seconds:
        n += 1
        delay = began + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one())
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.wait(pending, timeout=30)
    result.wall_seconds = time.perf_counter() - began
    return result


async def _back_to_back(
    client: httpx.AsyncClient, endpoint: str, seconds: float, stop: asyncio.Event
) -> Result:
    result = Result(endpoint)
    began = time.perf_counter()
    while time.perf_counter() - began < seconds:
        started = time.perf_counter()
        try:
            response = await client.get(endpoint)
        except httpx.HTTPError:
            result.errors += 1
            continue
        result.latencies.append(time.perf_counter() - started)
        result.statuses[response.status_code] = result.statuses.get(response.status_code, 0) + 1
        result.body_bytes = len(response.content)
        result.series = sum(
            1 for line in response.text.splitlines() if line and not line.startswith("#")
        )
    stop.set()
    result.wall_seconds = time.perf_counter() - began
    return result


async def client_main(base_url: str, rate: float, seconds: float) -> None:
    """The load, run in its own process; prints one line per measurement."""
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:
        never = asyncio.Event()
        health = await _fixed_rate(client, "/health", rate, seconds, never)
        print(f"/health at {rate:g}/s while polling   {health.line()}", flush=True)
        stop = asyncio.Event()
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as scraper:
            livez, metrics = await asyncio.gather(
                _fixed_rate(client, "/livez", 100, seconds, stop),
                _back_to_back(scraper, "/metrics", seconds, stop),
            )
        print(f"/livez during /metrics scrapes  {livez.line()}", flush=True)
        print(f"/metrics back to back           {metrics.line()}", flush=True)
        print(f"/metrics series: {metrics.series}", flush=True)


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


async def main(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)
    clock = SystemClock()
    with tempfile.TemporaryDirectory(prefix="vpnwatch-bench-") as tmp:
        async with Emulator(scenario, clock=clock, port=0) as emulator:
            settings = emulator_settings(
                emulator.base_url, scenario, epoch=clock.now(),
                store_path=str(Path(tmp) / "bench.sqlite3"),
            )  # fmt: skip
            # LROs wait between polls as against Azure (emulator_settings makes replays skip it)
            lro_wait = CollectorsSettings().lro_poll_interval_seconds
            settings.collectors.lro_poll_interval_seconds = lro_wait
            settings.log_level = "WARNING"
            app = create_app(settings)
            async with running(app) as base_url:
                print(
                    f"scenario {scenario.name!r}: service {base_url}, emulator {emulator.base_url}"
                )
                try:
                    took = await _wait_ready(base_url, args.ready_timeout)
                except TimeoutError as exc:
                    print(f"gave up: {exc}", file=sys.stderr)
                    return 1
                state = app.state.agent.correlator.state
                print(
                    f"ready after {took:.1f} s: {len(state.gateways)} gateways, "
                    f"{len(state.connections)} connections, {len(state.entities)} entities; "
                    f"LRO poll interval {lro_wait:g} s"
                )
                client = await asyncio.create_subprocess_exec(
                    sys.executable, __file__, "--client", base_url,
                    "--rate", str(args.rate), "--seconds", str(args.seconds),
                )  # fmt: skip
                await client.wait()
                for status in app.state.agent.collector_status():
                    print(
                        f"collector {status.name:16} runs {status.runs:3d} "
                        f"failures {status.failures:3d}"
                    )
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default=SCENARIO)
    parser.add_argument("--rate", type=float, default=500.0, help="/health requests per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each measurement")
    parser.add_argument("--ready-timeout", type=float, default=600.0)
    parser.add_argument("--client", metavar="BASE_URL", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.client:
        asyncio.run(client_main(arguments.client, arguments.rate, arguments.seconds))
        sys.exit(0)
    sys.exit(asyncio.run(main(arguments)))
