"""Azure Monitor collectors on the large fleet: what one metrics pass and one logs pass cost.

The `large-fleet` scenario (1,000 VPN gateways in 2 subscriptions and 8 regions) is served by
the emulator on loopback; the real `MetricsClient` and `LogsQueryClient` read it through the
collectors, on a manual clock 30 minutes into the scenario. Prints, per subscription: metrics
batch calls, ARM listing calls, series observed and wall time of the pass; then one logs pass.

    .venv/bin/python bench/monitor.py [--passes 3]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from vpnwatch.clock import ManualClock
from vpnwatch.collect.base import Scope
from vpnwatch.collect.clients import AzureClients
from vpnwatch.collect.logs import DiagnosticLogCollector
from vpnwatch.collect.metrics import MetricsCollector
from vpnwatch.config import Settings
from vpnwatch.emulator import Emulator, load_scenario
from vpnwatch.observations import CollectionRun, MetricObserved
from vpnwatch.replay import emulator_cloud

TOKEN = "emulator-token"


def settings_for(base_url: str, subscriptions: list[str]) -> Settings:
    return Settings(
        azure=emulator_cloud(base_url, TOKEN),
        targets={"subscriptions": subscriptions},
        collectors={
            "timeout_seconds": 60,
            "metrics": {"enabled": True},
            "logs": {"enabled": True, "workspace_id": "bench-workspace"},
        },
    )


async def main(passes: int) -> None:
    scenario = load_scenario("large-fleet")
    subscriptions = sorted(scenario.subscription_ids)
    clock = ManualClock()
    async with Emulator(scenario, clock=clock, port=0, token=TOKEN) as emu:
        clock.advance(1800)
        async with AzureClients(settings_for(emu.base_url, subscriptions), clock=clock) as clients:
            metrics = MetricsCollector(clients, clock, 60)
            logs = DiagnosticLogCollector(clients, clock, 120)
            for n in range(passes):
                for sub in subscriptions:
                    before = len(emu.requests)
                    started = time.perf_counter()
                    observed = await metrics.collect(Scope(sub))
                    elapsed = time.perf_counter() - started
                    made = emu.requests[before:]
                    batch = sum(1 for r in made if r.path.endswith("metrics:getBatch"))
                    run = next(o for o in observed if isinstance(o, CollectionRun))
                    series = sum(1 for o in observed if isinstance(o, MetricObserved))
                    print(
                        f"metrics pass {n + 1} {sub}: ok={run.ok} batches={run.extra['batches']} "
                        f"getBatch calls={batch} ARM listings={len(made) - batch} "
                        f"series={series} wall={elapsed:.2f} s"
                    )
                clock.advance(60)
            for sub in subscriptions:
                started = time.perf_counter()
                observed = await logs.collect(Scope(sub))
                run = next(o for o in observed if isinstance(o, CollectionRun))
                print(
                    f"logs pass {sub}: ok={run.ok} rows={run.extra.get('rows')} "
                    f"wall={time.perf_counter() - started:.2f} s"
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=3)
    asyncio.run(main(parser.parse_args().passes))
