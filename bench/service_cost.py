"""CPU cost of `/health`'s counts and of `/metrics` on the synthetic 1,000-gateway fleet of
`bench/correlate.py`, without HTTP or polling in the way: what the service spends per request,
and what the per-step snapshot costs in its worker thread.

    .venv/bin/python bench/service_cost.py [--cycles 20] [--repeat 200]

Prints figures only.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from datetime import timedelta
from types import SimpleNamespace

from correlate import POLL, T0, Weather, build_fleet, cycle_observations

from vpnwatch.config import CorrelatorSettings
from vpnwatch.correlate import Correlator
from vpnwatch.service.fleet import FleetView
from vpnwatch.service.metrics import ServiceMetrics


def cpu_ms(fn, repeat: int) -> float:
    started = time.process_time()
    for _ in range(repeat):
        fn()
    return (time.process_time() - started) * 1000 / repeat


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateways", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args(argv)

    rng = random.Random(7)
    fleet = build_fleet(args.gateways, 4, rng)
    weather = Weather(fleet, rng, args.cycles)
    corr = Correlator(CorrelatorSettings())
    now = T0
    for cycle in range(args.cycles):
        now = T0 + timedelta(seconds=cycle * POLL)
        result = corr.process(cycle_observations(fleet, weather, cycle), now)
        dict(result.entity_records_changed)
    state = corr.state
    print(f"fleet: {len(state.gateways)} gateways, {len(state.entities)} entities")

    view = FleetView(state, now)
    kept = cpu_ms(view.health_counts, args.repeat)

    def recount() -> Counter:
        return Counter((str(e.kind), state.effective(e, now)) for e in state.entities.values())

    counted = cpu_ms(recount, max(1, args.repeat // 20))
    print(f"/health counts: {kept:.3f} ms CPU kept up to date, {counted:.1f} ms to recount")

    agent = SimpleNamespace(
        ready=True, blind=False, correlator=corr, notifications=None,
        clock=SimpleNamespace(now=lambda: now),
        collector_status=lambda: [], budgets=lambda: [],
    )  # fmt: skip
    metrics = ServiceMetrics()
    metrics._agent = agent  # what `bind` does, without an agent's listeners
    metrics.on_request("GET connections", 200, 0.02, 11999)
    step = cpu_ms(metrics.refresh, max(1, args.repeat // 20))
    body = metrics.render()
    series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    scrape = cpu_ms(metrics.render, args.repeat)
    print(
        f"/metrics: {series} series, {len(body) / 2**20:.1f} MiB; per step (worker thread): "
        f"{step:.0f} ms CPU snapshot + render; per scrape: {scrape:.2f} ms CPU"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
