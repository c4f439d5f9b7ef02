"""Correlator throughput and memory on a synthetic fleet.

1,000 gateways (active/standby and active/active, zonal across three zones in four regions),
4,000 connections to 1,000 sites, BGP on every gateway. Each cycle is one connection poll; BGP
is polled every other cycle and the gateway inventory every twentieth, as the agent does. Along
the way gateways fail over, tunnels flap, BGP sessions drop and a zone goes down and comes back,
so the detectors have work to do. Prints figures only:

    .venv/bin/python bench/correlate.py [--gateways 1000] [--cycles 40]

Throughput is per CPU second (`time.process_time`), measured without tracing; peak memory in a
second, traced pass (tracemalloc) and as the process's maximum RSS (resource.getrusage).
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from vpnwatch.config import CorrelatorSettings
from vpnwatch.correlate import Correlator
from vpnwatch.observations import (
    BgpPeerObserved,
    BgpPeerState,
    BgpStatusObserved,
    CollectionRun,
    ConnectionObserved,
    ConnectionStatus,
    GatewayInstance,
    GatewayObserved,
    LocalNetworkGatewayObserved,
    Observation,
    TunnelObserved,
)

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
POLL = 15.0
REGIONS = ("westeurope", "northeurope", "eastus", "westus2")
SUB = "00000000-0000-0000-0000-00000000beef"
NET = f"/subscriptions/{SUB}/resourceGroups/rg-bench/providers/Microsoft.Network"


@dataclass
class Fleet:
    gateways: list[GatewayObserved]
    sites: list[LocalNetworkGatewayObserved]
    connections: list[tuple[str, GatewayObserved, LocalNetworkGatewayObserved]]


def build_fleet(n_gateways: int, per_gateway: int, rng: random.Random) -> Fleet:
    gateways = []
    for g in range(n_gateways):
        region = REGIONS[g % len(REGIONS)]
        zone = str(1 + (g // len(REGIONS)) % 3)
        active_active = g % 3 == 0
        instances = [
            GatewayInstance(
                name,
                f"{NET}/publicIPAddresses/gw{g}-{name}",
                f"20.{g // 250}.{g % 250}.{i + 1}",
                (zone,),
                (f"10.{g // 250}.{g % 250}.{i + 4}",),
            )
            for i, name in enumerate(("default", "activeActive")[: 2 if active_active else 1])
        ]
        gateways.append(
            GatewayObserved(
                observed_at=T0,
                source="arm.gateways",
                resource_id=f"{NET}/virtualNetworkGateways/gw{g}",
                name=f"gw{g}",
                subscription_id=SUB,
                resource_group="rg-bench",
                region=region,
                vnet_id=f"{NET}/virtualNetworks/vnet{g}",
                gateway_type="Vpn",
                sku="VpnGw2AZ",
                active_active=active_active,
                bgp_enabled=True,
                asn=65515,
                provisioning_state="Succeeded",
                instances=tuple(instances),
            )
        )
    sites = [
        LocalNetworkGatewayObserved(
            observed_at=T0,
            source="arm.gateways",
            resource_id=f"{NET}/localNetworkGateways/site{s}",
            name=f"site{s}",
            subscription_id=SUB,
            resource_group="rg-bench",
            region=REGIONS[s % len(REGIONS)],
            gateway_ip_address=f"198.{s // 250}.{s % 250}.1",
            bgp_peering_address=f"192.168.{s // 250}.{s % 250}",
        )
        for s in range(n_gateways)
    ]
    connections = [
        (f"{NET}/connections/gw{g}-c{c}", gw, sites[rng.randrange(len(sites))])
        for g, gw in enumerate(gateways)
        for c in range(per_gateway)
    ]
    return Fleet(gateways, sites, connections)


class Weather:
    """Which connections and sessions are down at a moment: failovers, flaps, a zone outage."""

    def __init__(self, fleet: Fleet, rng: random.Random, cycles: int) -> None:
        self.down_gateways: dict[str, tuple[int, int]] = {}  # gateway -> (from, to) cycles
        self.flapping = {cid for cid, _, _ in rng.sample(fleet.connections, 20)}
        self.bgp_down = {gw.resource_id for gw in rng.sample(fleet.gateways, 10)}
        for gw in rng.sample(fleet.gateways, 40):
            start = rng.randrange(cycles)
            self.down_gateways[gw.resource_id] = (start, start + rng.choice((1, 2, 8)))
        self.zone = ("westeurope", "2", cycles // 3, cycles // 3 + 6)

    def connection_down(self, cid: str, gw: GatewayObserved, cycle: int) -> bool:
        span = self.down_gateways.get(gw.resource_id)
        if span is not None and span[0] <= cycle < span[1]:
            return True
        region, zone, start, end = self.zone
        if gw.region == region and gw.zonal_zone == zone and start <= cycle < end:
            return True
        return cid in self.flapping and cycle % 4 == 1


def cycle_observations(fleet: Fleet, weather: Weather, cycle: int) -> list[Observation]:
    now = T0 + timedelta(seconds=cycle * POLL)
    out: list[Observation] = []
    if cycle % 20 == 0:
        out.extend(g.__class__(**{**_fields(g), "observed_at": now}) for g in fleet.gateways)
        out.extend(s.__class__(**{**_fields(s), "observed_at": now}) for s in fleet.sites)
    for cid, gw, site in fleet.connections:
        down = weather.connection_down(cid, gw, cycle)
        status = ConnectionStatus.NOT_CONNECTED if down else ConnectionStatus.CONNECTED
        name = cid.rsplit("/", 1)[-1]
        out.append(
            ConnectionObserved(
                observed_at=now,
                source="arm.connections",
                resource_id=cid,
                name=name,
                subscription_id=SUB,
                resource_group="rg-bench",
                region=gw.region,
                connection_type="IPsec",
                gateway_id=gw.resource_id,
                peer_id=site.resource_id,
                status=status,
                ingress_bytes=cycle * 1000,
                egress_bytes=cycle * 900,
                tunnels=tuple(
                    TunnelObserved(
                        f"{name}_{i.public_ip_address}",
                        status,
                        cycle * 500,
                        cycle * 450,
                        None,
                        i.public_ip_address,
                    )
                    for i in gw.instances
                ),
            )
        )
    out.append(_run("arm.connections", now, [c for c, _, _ in fleet.connections]))
    if cycle % 2 == 0:
        by_gateway: dict[str, list[LocalNetworkGatewayObserved]] = {}
        for _cid, gw, site in fleet.connections:
            by_gateway.setdefault(gw.resource_id, []).append(site)
        for gw in fleet.gateways:
            sessions_down = gw.resource_id in weather.bgp_down and cycle % 8 == 2
            peers = tuple(
                BgpPeerObserved(
                    address,
                    site.bgp_peering_address or "",
                    65010,
                    BgpPeerState.IDLE if sessions_down else BgpPeerState.CONNECTED,
                    0 if sessions_down else 25,
                )
                for site in by_gateway[gw.resource_id]
                for i in gw.instances
                for address in i.bgp_addresses
            )
            out.append(
                BgpStatusObserved(
                    observed_at=now, source="arm.bgp", gateway_id=gw.resource_id, peers=peers
                )
            )
    return out


def _fields(obs: Observation) -> dict[str, object]:
    return {f: getattr(obs, f) for f in obs.__dataclass_fields__}


def _run(collector: str, now: datetime, ids: list[str]) -> CollectionRun:
    return CollectionRun(
        observed_at=now,
        source=collector,
        collector=collector,
        scope=f"/subscriptions/{SUB}",
        ok=True,
        resource_ids=tuple(ids),
    )


def play(
    fleet: Fleet, weather: Weather, cycles: int
) -> Iterator[tuple[int, float, float, Counter]]:
    """Run the cycles; yields (observations, CPU seconds in process/tick, CPU seconds encoding
    the changed records as the store does at persist time, incident events)."""
    corr = Correlator(CorrelatorSettings())
    for cycle in range(cycles):
        observations = cycle_observations(fleet, weather, cycle)
        now = T0 + timedelta(seconds=cycle * POLL)
        events: Counter = Counter()
        correlating = encoding = 0.0
        for batch, at in ((observations, now), ((), now + timedelta(seconds=POLL / 2))):
            started = time.process_time()
            r = corr.process(batch, at)
            encoded = time.process_time()
            records = dict(r.entity_records_changed)  # what the store's thread does
            correlating += encoded - started
            encoding += time.process_time() - encoded
            events["opened"] += len(r.opened)
            events["updated"] += len(r.updated)
            events["resolved"] += len(r.resolved)
            events["records"] += len(records)
        yield len(observations), correlating, encoding, events


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateways", type=int, default=1000)
    parser.add_argument("--connections-per-gateway", type=int, default=4)
    parser.add_argument("--cycles", type=int, default=40)
    parser.add_argument("--traced-cycles", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    fleet = build_fleet(args.gateways, args.connections_per_gateway, rng)
    weather = Weather(fleet, rng, args.cycles)
    print(
        f"fleet: {len(fleet.gateways)} gateways, {len(fleet.connections)} connections, "
        f"{len(fleet.sites)} sites; {args.cycles} cycles of {POLL:g} s"
    )

    total_obs, total_s, total_enc, totals = 0, 0.0, 0.0, Counter()
    slowest = 0.0
    for n, elapsed, encoding, events in play(fleet, weather, args.cycles):
        total_obs += n
        total_s += elapsed
        total_enc += encoding
        slowest = max(slowest, elapsed)
        totals.update(events)
    print(f"observations: {total_obs} in {total_s:.2f} CPU s of correlation")
    print(f"throughput: {total_obs / total_s:,.0f} observations per CPU second")
    print(
        f"record encoding at persist time (the store's worker thread): {total_enc:.2f} CPU s; "
        f"with it {total_obs / (total_s + total_enc):,.0f} observations per CPU second"
    )
    print(f"per cycle: mean {1000 * total_s / args.cycles:.0f} ms, slowest {1000 * slowest:.0f} ms")
    print(
        f"incidents: {totals['opened']} opened, {totals['updated']} updated, "
        f"{totals['resolved']} resolved; {totals['records']} entity records written"
    )

    tracemalloc.start()
    for _ in play(fleet, weather, args.traced_cycles):
        pass
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak traced memory ({args.traced_cycles} cycles): {peak / 2**20:.1f} MiB")
    print(f"max RSS: {rss_kib / 1024:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
