"""HTTP latency of `/health`, `/livez` and `/metrics` while the agent polls a 1,000-gateway fleet.

The emulator serves `vpnwatch/scenarios/large-fleet.yaml` in its own process (ARM's read budget
on, as in `bench/scale.py`), so computing Azure's answers never competes with the agent for the
interpreter. The agent and its service run on 127.0.0.1 as `vpnwatch run` runs them
(`vpnwatch.runtime.serve`): this process is the front, answering the probes and `/metrics` from
what the agent process (its child) publishes. The benchmark waits until /readyz answers 200 and
then until the first full rotation (every listed connection and every BGP gateway's peers read
once, asked of the API), so `/metrics` carries the whole fleet. Then it loads the service from
separate client processes (aiohttp's client):

- `/health` at a fixed rate (`--rate`, default 500 requests/s) for `--seconds`, while polling;
- `/livez` at 100 requests/s while another client scrapes `/metrics` back to back (the scrapes'
  latency and series count are printed too).

Meanwhile a probe on the front's loop records how late it wakes a 10 ms sleeper, the cycle
collector's passes in the front are timed, and the CPU time and resident memory of both
processes are read from /proc.

Long-running operations (BGP peer status, route tables) wait as the SDK waits against Azure: the
agent's default `lro_poll_interval_seconds` between polls, not 0. `--speed` runs both processes
on a scaled clock (LRO waits and the read budget scale with it). Prints p50/p99 latency and
requests/s. No assertions; it stops by itself.

    .venv/bin/python bench/service_http.py [--rate 500] [--seconds 20] [--speed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing as mp
import os
import signal
import socket
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

from vpnwatch.clock import ScaledClock
from vpnwatch.config import CollectorsSettings
from vpnwatch.emulator import Emulator, load_scenario
from vpnwatch.emulator.scenario import Scenario
from vpnwatch.replay import emulator_settings
from vpnwatch.runtime import serve
from vpnwatch.runtime.child import NICENESS
from vpnwatch.tasks import cancel_and_wait

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
    interpreter. At the agent process's priority (nice 10): Azure's own CPU is not on this
    host, so the emulator yields to the service as the agent does."""

    async def main() -> None:
        async with Emulator(scenario, clock=shared_clock(speed, epoch), port=0) as emu:
            assert emu.started_at is not None
            conn.send((emu.base_url, emu.started_at.timestamp()))
            while not await asyncio.to_thread(conn.poll, 0.5):
                pass

    os.nice(NICENESS)
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


async def _rotation(client: httpx.AsyncClient) -> tuple[bool, str]:
    """Whether every connection the subscriptions list, and the BGP peers of every gateway with
    BGP, have been read at least once (the whole fleet is in the state and on /metrics), asked
    of the API as anyone would."""
    health = (await client.get("/health")).json()
    listed = sum(s["connections"] for s in health["subscriptions"])
    read = sum(health["entities_by_kind"].get("connection", {}).values())
    with_bgp = {  # the gateways whose BGP peer status the agent reads (`collect/bgp.py`)
        g["id"]
        for g in await _all(client, "/api/v1/gateways")
        if g["bgp_enabled"] and g["gateway_type"].lower() == "vpn"
    }
    peered = {p["gateway_id"] for p in await _all(client, "/api/v1/bgp-peers")}
    progress = (
        f"{read} of {listed} connections, BGP peers of {len(peered & with_bgp)} of "
        f"{len(with_bgp)} gateways, {sum(health['entities'].values())} entities"
    )
    return listed > 0 and read >= listed and with_bgp <= peered, progress


async def _all(client: httpx.AsyncClient, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    url: str | None = f"{path}?limit=500"
    while url:
        page = (await client.get(url)).json()
        items.extend(page["items"])
        url = page["next"]
    return items


async def _wait_full_rotation(client: httpx.AsyncClient, timeout: float) -> float:
    started = time.monotonic()
    shown = 0.0
    while time.monotonic() - started < timeout:
        done, progress = await _rotation(client)
        if done:
            return time.monotonic() - started
        if time.monotonic() - shown > 30:
            print(f"  reading the fleet: {progress}", flush=True)
            shown = time.monotonic()
        await asyncio.sleep(2.0)
    raise TimeoutError(f"no full rotation after {timeout:.0f} s ({(await _rotation(client))[1]})")


async def main(args: argparse.Namespace) -> int:
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
        settings.service.port = _free_port()
        # As `vpnwatch run` runs: this process is the front, the agent runs in its child.
        serving = asyncio.create_task(serve(settings, clock=clock), name="vpnwatch")
        try:
            return await _load(args, scenario, f"http://127.0.0.1:{settings.service.port}",
                               emulator_url, lro_wait)  # fmt: skip
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # stops the front and its agent, as in a deploy
            await serving


@dataclass(frozen=True)
class ProcessUsage:
    """CPU seconds and resident memory of a process, from /proc."""

    pid: int

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory(self) -> str:
        status = dict(
            line.split(":", 1) for line in Path(f"/proc/{self.pid}/status").read_text().splitlines()
        )
        return f"RSS {status['VmRSS'].strip()} (peak {status['VmHWM'].strip()})"


def _agent_process() -> int:
    me = os.getpid()
    for child in Path(f"/proc/{me}/task/{me}/children").read_text().split():
        if b"vpnwatch.runtime.child" in Path(f"/proc/{child}/cmdline").read_bytes():
            return int(child)
    raise RuntimeError("no agent process")


class CollectorPauses:
    """Times the cycle collector's passes (which hold the interpreter) while entered."""

    def __init__(self) -> None:
        self.by_generation: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.by_generation[info["generation"]].append(time.perf_counter() - self._started)

    def __enter__(self) -> CollectorPauses:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def __str__(self) -> str:
        parts = []
        for generation, pauses in self.by_generation.items():
            longest = max(pauses, default=0.0) * 1000
            parts.append(f"gen {generation}: {len(pauses)} ({longest:.0f} ms longest)")
        return f"cycle collector passes {', '.join(parts)}"


async def _load(
    args: argparse.Namespace, scenario: Scenario, base_url: str, emulator_url: str, lro_wait: float
) -> int:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        try:
            took = await _wait_ready(base_url, args.ready_timeout)
            front, agent = ProcessUsage(os.getpid()), ProcessUsage(_agent_process())
            print(
                f"scenario {scenario.name!r} at speed {args.speed:g}: service {base_url} (front: "
                f"pid {front.pid}, agent process: pid {agent.pid}), emulator {emulator_url} "
                "(its own process)"
            )
            print(f"ready after {took:.1f} s: {(await _rotation(client))[1]}", flush=True)
            took = await _wait_full_rotation(client, args.ready_timeout)
        except TimeoutError as exc:
            print(f"gave up: {exc}", file=sys.stderr)
            return 1
        print(
            f"first full rotation {took:.1f} s after ready: {(await _rotation(client))[1]}; "
            f"LRO poll interval {lro_wait:g} scenario s"
        )
        lags: list[float] = []  # the front's loop, where the probes are answered
        probe = asyncio.create_task(_loop_lag(lags))
        pauses = CollectorPauses()
        cpu = {p: p.cpu_seconds() for p in (front, agent)}
        wall = time.monotonic()
        with pauses:
            await _clients(base_url, args.rate, args.seconds)
        wall = time.monotonic() - wall
        await cancel_and_wait([probe])
        for name, usage in (("front", front), ("agent process", agent)):
            spent = usage.cpu_seconds() - cpu[usage]
            print(
                f"{name} meanwhile: {spent:.1f} CPU s in {wall:.0f} s ({spent / wall:.0%} of a "
                f"core), {usage.memory()}"
            )
        print(f"front: {pauses}")
        lags.sort()
        p50, p99 = lags[len(lags) // 2], lags[int(len(lags) * 0.99)]
        print(
            f"front event loop late by p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
            f"max {lags[-1] * 1000:.0f} ms ({len(lags)} samples)"
        )
        health = (await client.get("/health")).json()
        for status in health["collectors"]:
            print(f"collector {status['name']:16} runs {status['runs']:3d} "
                  f"failures {status['failures']:3d}")  # fmt: skip
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
