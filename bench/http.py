"""HTTP latency of `/health` and `/metrics` while the agent polls a 1,000-gateway fleet.

Starts the emulator with `vpnwatch/scenarios/large-fleet.yaml`, the agent and its service on
127.0.0.1, waits until /readyz answers 200, then sends a bounded load (a fixed number of requests
per endpoint, cut short after a fixed duration) from a separate thread and event loop, so the
client does not wait behind the server's own tasks. Prints p50/p99 latency and requests/s.
No assertions; it stops by itself.

    .venv/bin/python bench/http.py [--requests 400] [--concurrency 1,8] [--max-seconds 20]
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the standard library's `http` package, which httpx imports: run as a
# script, its own directory must not be first on the path. The repository root goes there instead.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field

import httpx

from vpnwatch.clock import SystemClock
from vpnwatch.emulator import Emulator, load_scenario
from vpnwatch.replay import emulator_settings
from vpnwatch.service.app import create_app, running

SCENARIO = "large-fleet"
ENDPOINTS = ("/health", "/metrics")


@dataclass
class Result:
    endpoint: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    wall_seconds: float = 0.0
    body_bytes: int = 0

    def quantile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def line(self) -> str:
        done = len(self.latencies)
        rate = done / self.wall_seconds if self.wall_seconds else 0.0
        return (
            f"{self.endpoint:9} {done:5d} req  p50 {self.quantile(0.5) * 1000:8.1f} ms  "
            f"p99 {self.quantile(0.99) * 1000:8.1f} ms  "
            f"mean {statistics.fmean(self.latencies) * 1000 if done else float('nan'):8.1f} ms  "
            f"{rate:7.1f} req/s  body {self.body_bytes / 1024:7.1f} KiB  "
            f"status {dict(sorted(self.statuses.items()))}  errors {self.errors}"
        )


async def _load(
    base_url: str, endpoint: str, count: int, concurrency: int, max_seconds: float
) -> Result:
    result = Result(endpoint)
    deadline = time.monotonic() + max_seconds
    remaining = count
    lock = asyncio.Lock()

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal remaining
        while True:
            async with lock:
                if remaining <= 0 or time.monotonic() >= deadline:
                    return
                remaining -= 1
            started = time.perf_counter()
            try:
                response = await client.get(endpoint)
            except httpx.HTTPError:
                result.errors += 1
                continue
            result.latencies.append(time.perf_counter() - started)
            result.statuses[response.status_code] = result.statuses.get(response.status_code, 0) + 1
            result.body_bytes = len(response.content)

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:
        began = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        result.wall_seconds = time.perf_counter() - began
    return result


def _load_in_thread(base_url: str, args: argparse.Namespace) -> list[tuple[int, Result]]:
    results: list[tuple[int, Result]] = []
    runs = [(c, e) for c in args.concurrency for e in ENDPOINTS]

    def run() -> None:
        for concurrency, endpoint in runs:
            result = asyncio.run(
                _load(base_url, endpoint, args.requests, concurrency, args.max_seconds)
            )
            results.append((concurrency, result))

    thread = threading.Thread(target=run, name="load", daemon=True)
    thread.start()
    thread.join(timeout=len(runs) * (args.max_seconds + 35))
    return results


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
                    f"{len(state.connections)} connections, {len(state.entities)} entities"
                )
                print(
                    f"load: {args.requests} requests per endpoint and concurrency, at most "
                    f"{args.max_seconds:.0f} s each, while the collectors keep polling"
                )
                results = await asyncio.to_thread(_load_in_thread, base_url, args)
                for concurrency, result in results:
                    print(f"c={concurrency:<2d} {result.line()}")
                for status in app.state.agent.collector_status():
                    print(
                        f"collector {status.name:12} runs {status.runs:3d} "
                        f"failures {status.failures:3d}"
                    )
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default=SCENARIO)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument(
        "--concurrency",
        type=lambda v: [int(c) for c in v.split(",")],
        default=[1, 8],
        help="comma-separated concurrency levels, each run in turn (default 1,8)",
    )
    parser.add_argument("--max-seconds", type=float, default=20.0)
    parser.add_argument("--ready-timeout", type=float, default=600.0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
