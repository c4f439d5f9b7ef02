"""Notifications through the outbox: throughput with a slow receiver, and incident-to-receiver
latency with a healthy one.

The receiver is a webhook on 127.0.0.1 in a separate process (aiohttp), so its work does not
share vpnwatch's event loop. vpnwatch's side is what `vpnwatch run` uses: the planner, a SQLite
store on disk (WAL, synchronous=FULL), the dispatcher with its retry stage.

1. Throughput: N incidents open at once (one correlation step writes their N triggers in one
   transaction), the receiver answers each request after `--slow-ms`; measured from the write to
   the last delivery.
2. Latency: incidents open one per step at `--rate` per second while the receiver answers at
   once; per notification, from the moment its step was committed to the moment the receiver got
   it. p50 / p99 / max.

    .venv/bin/python bench/notify.py [--incidents 5000] [--slow-ms 50] [--concurrency 64]
                                     [--rate 50] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from vpnwatch.clock import ManualClock
from vpnwatch.incidents import Incident, IncidentType, Severity, incident_key
from vpnwatch.notify.pipeline import Notifications
from vpnwatch.notify.settings import NotifySettings
from vpnwatch.store import Store

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SUB = "00000000-0000-0000-0000-00000000beef"


# --- the receiver, in its own process ---------------------------------------------------------

RECEIVER = """
import asyncio, sys, time
from aiohttp import web

port, slow_ms = int(sys.argv[1]), float(sys.argv[2])
arrivals = []

async def hook(request):
    body = await request.json()
    arrivals.append((body["dedup_key"], time.time()))
    if slow_ms:
        await asyncio.sleep(slow_ms / 1000)
    return web.Response(status=202)

async def stats(request):
    return web.json_response(arrivals)

app = web.Application()
app.router.add_post("/hook", hook)
app.router.add_get("/stats", stats)
web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, backlog=1024)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    def __init__(self, slow_ms: float, directory: Path) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-c", RECEIVER, str(self.port), str(slow_ms)], cwd=directory
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(f"{self.url}/stats", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("the bench receiver did not start") from None
                time.sleep(0.05)

    def arrivals(self) -> list[tuple[str, float]]:
        return [(k, t) for k, t in httpx.get(f"{self.url}/stats", timeout=30).json()]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


# --- vpnwatch's side ----------------------------------------------------------------------------


def incident(n: int, at: datetime) -> Incident:
    gateway = (
        f"/subscriptions/{SUB}/resourceGroups/rg-bench/providers/"
        f"Microsoft.Network/virtualNetworkGateways/gw-{n}"
    )
    return Incident(
        key=incident_key(IncidentType.FAILOVER, gateway),
        type=IncidentType.FAILOVER,
        severity=Severity.CRITICAL,
        title=f"Gateway gw-{n} failed over: 3 connections interrupted",
        resources=(gateway,),
        opened_at=at,
        classification="slo_breach",
        attributes={"gateway": f"gw-{n}", "region": "westeurope"},
    )


def settings(url: str, concurrency: int) -> NotifySettings:
    return NotifySettings(
        receivers=[{"name": "bench", "kind": "webhook", "url": f"{url}/hook",
                    "secret": "bench-secret", "timeout_seconds": 30}],
        delivery={"concurrency": concurrency},
        group_wait_seconds=0,
    )  # fmt: skip


def step(notify: Notifications, store: Store, changed: list[Incident], open_: list[Incident]):
    plan = notify.plan(changed, open_)
    store.apply(incidents=changed, notifications=plan.entries, notification_states=plan.states)
    notify.committed(plan)
    return plan


async def throughput(url: str, n: int, concurrency: int, directory: Path) -> dict[str, float]:
    clock = ManualClock(epoch=T0)
    with Store.open(directory / "throughput.sqlite3") as store:
        notify = Notifications(settings(url, concurrency), store, clock)
        incidents = [incident(i, T0) for i in range(n)]
        await notify.start()
        try:
            started = time.perf_counter()
            cpu = time.process_time()
            await asyncio.to_thread(step, notify, store, incidents, incidents)
            written = time.perf_counter()
            assert await notify.drain(timeout=600), "the outbox did not empty"
            done = time.perf_counter()
            cpu = time.process_time() - cpu
        finally:
            await notify.stop()
        delivered = store.notification_counts().get(("bench", "delivered"), 0)
    return {
        "notifications": float(n),
        "delivered_rows_kept": float(delivered),
        "write_seconds": written - started,
        "total_seconds": done - started,
        "per_second": n / (done - started),
        "cpu_seconds": cpu,
    }


async def latency(url: str, rate: float, seconds: float, concurrency: int, directory: Path):
    clock = ManualClock(epoch=T0)
    committed: dict[str, float] = {}
    with Store.open(directory / "latency.sqlite3") as store:
        notify = Notifications(settings(url, concurrency), store, clock)
        await notify.start()
        open_: list[Incident] = []
        try:
            count = int(rate * seconds)
            next_at = time.perf_counter()
            for i in range(count):
                clock.advance(1)
                new = incident(i, clock.now())
                open_.append(new)
                plan = await asyncio.to_thread(step, notify, store, [new], open_)
                for entry in plan.entries:
                    committed[entry.dedup_key] = time.time()
                next_at += 1 / rate
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            assert await notify.drain(timeout=120), "the outbox did not empty"
        finally:
            await notify.stop()
    return committed


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=5000)
    parser.add_argument("--slow-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rate", type=float, default=50.0, help="incidents per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="vpnwatch-bench-notify-") as tmp:
        directory = Path(tmp)
        slow = Receiver(args.slow_ms, directory)
        try:
            figures = asyncio.run(throughput(slow.url, args.incidents, args.concurrency, directory))
            arrived = len({k for k, _ in slow.arrivals()})
        finally:
            slow.stop()
        print(f"throughput: {args.incidents} notifications, receiver answering after "
              f"{args.slow_ms:g} ms, concurrency {args.concurrency}")  # fmt: skip
        print(f"  written to the outbox in one step: {figures['write_seconds']:.2f} s")
        print(
            f"  written and delivered: {figures['total_seconds']:.2f} s = "
            f"{figures['per_second']:.0f} notifications/s ({arrived} distinct at the receiver)"
        )
        print(
            f"  vpnwatch's CPU time: {figures['cpu_seconds']:.2f} s = "
            f"{args.incidents / figures['cpu_seconds']:.0f} notifications per CPU-second "
            f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
        )

        healthy = Receiver(0.0, directory)
        try:
            committed = asyncio.run(
                latency(healthy.url, args.rate, args.seconds, args.concurrency, directory)
            )
            arrivals = healthy.arrivals()
        finally:
            healthy.stop()
        first: dict[str, float] = {}
        for key, at in arrivals:
            first.setdefault(key, at)
        delays = [first[k] - t for k, t in committed.items() if k in first]
        missing = len(committed) - len(delays)
        print(f"latency: {len(committed)} incidents at {args.rate:g}/s, healthy receiver")
        print(f"  incident committed -> receiver: p50 {percentile(delays, 50) * 1000:.1f} ms, "
              f"p99 {percentile(delays, 99) * 1000:.1f} ms, max {max(delays) * 1000:.1f} ms, "
              f"mean {statistics.mean(delays) * 1000:.1f} ms; missing {missing}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
