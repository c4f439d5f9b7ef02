"""Generated estates for benchmarks at a real estate's size, with faults at known times.

Both estates have 1,000 VPN gateways (every other one active/active, every third
zone-redundant, the rest zonal), four BGP connections per gateway (4,000 in all) and 200
ExpressRoute circuits with a private peering:

* `spread`: 20 subscriptions of 50 gateways, about 200 connections and 10 circuits each;
* `hub`: one hub (connectivity) subscription with 500 gateways and 2,000 connections, and
  the other 500 gateways spread over 10 subscriptions of about 200 connections.

`build_estate("hub", faults=60)` returns an `Estate`: the `Scenario` to serve, the raw document
(`estate.document`, to write as YAML for `vpnwatch emulator --scenario file.yaml`) and the list
of `InjectedFault`s, each with its time, target and the incident type vpnwatch is expected to
open for it, so a benchmark can measure fault to incident. Faults take turns: a tunnel drop on
one connection, an active/standby failover, an active/active instance loss and a BGP session
going Idle, each on a gateway no other fault touches, spread over every subscription.

`fault_hubs` is the other end of the scale: one small hub (a gateway, two BGP connections) per
fault, each in a subscription of its own with its faults scoped to it, so that no fault blinds
or slows another. The fault suite (`tests/faults/`) and `bench/faults.py` inject API faults
into it.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from vpnwatch.emulator.scenario import Scenario, parse_scenario

Shape = Literal["spread", "hub"]

GATEWAYS = 1000
CONNECTIONS_PER_GATEWAY = 4
CIRCUITS = 200
ZONE_CYCLE: list[list[str]] = [["1", "2", "3"], ["1"], ["2"]]  # a third zone-redundant
REGIONS = ("westeurope", "northeurope", "eastus2", "centralus")
FAULT_KINDS = ("tunnel_down", "failover", "redundancy_lost", "bgp_peer_down")


def subscription_id(index: int) -> str:
    return f"6f1d3c2a-0000-4000-8000-0000e57a{index:04d}"


@dataclass(frozen=True)
class InjectedFault:
    """One fault on the estate's timeline and the incident it should open."""

    at: float  # scenario seconds
    duration: float
    kind: str  # one of FAULT_KINDS
    subscription: str
    gateway: str
    target: str  # the connection (tunnel drop) or gateway (the others) it hits
    expected_incident: str  # the incident type vpnwatch opens for it


@dataclass(frozen=True)
class Estate:
    shape: Shape
    scenario: Scenario
    document: dict[str, Any]
    faults: list[InjectedFault] = field(default_factory=list)

    @property
    def subscriptions(self) -> list[str]:
        return self.scenario.subscription_ids


@dataclass(frozen=True)
class _Fleet:
    subscription: str
    prefix: str
    gateways: int
    regions: tuple[str, ...]
    sites_per_region: int
    circuits: int


def _fleets(shape: Shape) -> list[_Fleet]:
    if shape == "spread":
        return [
            _Fleet(subscription_id(i), f"s{i:02d}", 50, REGIONS[i % 2 :: 2], 10, 10)
            for i in range(20)
        ]
    hub = _Fleet(subscription_id(0), "hub", 500, REGIONS, 50, 100)
    spokes = [
        _Fleet(subscription_id(i), f"sp{i:02d}", 50, REGIONS[i % 2 :: 2], 10, 10)
        for i in range(1, 11)
    ]
    return [hub, *spokes]


def _site_of(fleet: _Fleet, g: int, k: int) -> str:
    """The site connection k of gateway g goes to (the generator's own rule)."""
    region = fleet.regions[g % len(fleet.regions)]
    index = (g // len(fleet.regions) * CONNECTIONS_PER_GATEWAY + k) % fleet.sites_per_region
    return f"{fleet.prefix}-site-{region}-{index:03d}"


def build_estate(
    shape: Shape,
    *,
    faults: int = 60,
    first_fault_at: float = 600.0,
    fault_every: float = 30.0,
    fault_duration: float = 180.0,
    seed: int = 12,
    duration: float | None = None,
) -> Estate:
    """The `spread` or `hub` estate with `faults` faults from `first_fault_at`, one every
    `fault_every` scenario seconds, each lasting `fault_duration`."""
    fleets = _fleets(shape)
    generate = [
        {
            "subscription": f.subscription,
            "subscription_name": f"{shape}-{f.prefix}",
            "name_prefix": f.prefix,
            "regions": list(f.regions),
            "gateways": f.gateways,
            "connections_per_gateway": CONNECTIONS_PER_GATEWAY,
            "sites_per_region": f.sites_per_region,
            "active_active_every": 2,
            "zones": ZONE_CYCLE,
            "circuits": f.circuits,
            "routes_per_site": 8,
        }
        for f in fleets
    ]
    injected = _faults(fleets, faults, first_fault_at, fault_every, fault_duration, seed)
    end = first_fault_at + faults * fault_every + fault_duration + 300
    document: dict[str, Any] = {
        "name": f"estate-{shape}",
        "description": (
            f"Generated {shape} estate: {GATEWAYS} VPN gateways, "
            f"{GATEWAYS * CONNECTIONS_PER_GATEWAY} connections, {CIRCUITS} ExpressRoute "
            f"circuits in {len(fleets)} subscriptions; {faults} faults from {first_fault_at:g} s."
        ),
        "duration": duration or end,
        "seed": seed,
        "topology": {"generate": generate},
        "timeline": [_timeline_entry(f) for f in injected],
        "noise": {"counter_jitter": True},
    }
    scenario = parse_scenario(document, source=f"<estate {shape}>")
    return Estate(shape, scenario, document, injected)


def _faults(
    fleets: list[_Fleet], count: int, start: float, every: float, duration: float, seed: int
) -> list[InjectedFault]:
    """`count` faults taking turns over FAULT_KINDS and over the subscriptions, each on its own
    gateway (and, for tunnel drops, its own site) so no two faults explain each other."""
    r = random.Random(seed)
    candidates = {f.subscription: list(range(f.gateways)) for f in fleets}
    for pool in candidates.values():
        r.shuffle(pool)
    used_sites: set[str] = set()
    out: list[InjectedFault] = []
    for i in range(count):
        kind = FAULT_KINDS[i % len(FAULT_KINDS)]
        fleet = fleets[i % len(fleets)]
        pool = candidates[fleet.subscription]

        def fits(g: int, kind: str = kind, fleet: _Fleet = fleet) -> bool:
            if kind == "failover":
                return g % 2 == 1  # active/standby
            if kind == "redundancy_lost":
                return g % 2 == 0  # active/active
            if kind == "tunnel_down":
                return _site_of(fleet, g, 0) not in used_sites
            return True

        pick = next((g for g in pool if fits(g)), None)
        if pick is None:
            raise ValueError(f"no gateway left in {fleet.subscription} for fault {i} ({kind})")
        pool.remove(pick)
        gateway = f"{fleet.prefix}-vpngw-{pick:04d}"
        target = gateway
        if kind == "tunnel_down":
            target = f"{gateway}-cn0"
            used_sites.add(_site_of(fleet, pick, 0))
        elif kind == "bgp_peer_down":
            target = _site_of(fleet, pick, 0)  # the neighbor, by its site's name
        out.append(
            InjectedFault(
                at=start + i * every,
                duration=duration,
                kind=kind,
                subscription=fleet.subscription,
                gateway=gateway,
                target=target,
                expected_incident="failover" if kind == "failover" else kind,
            )
        )
    return out


def _timeline_entry(fault: InjectedFault) -> dict[str, Any]:
    base = {"at": fault.at, "duration": fault.duration}
    if fault.kind == "tunnel_down":
        return {**base, "kind": "tunnel_down", "connection": fault.target}
    if fault.kind in ("failover", "redundancy_lost"):
        return {**base, "kind": "instance_failure", "gateway": fault.gateway, "instance": 0}
    return {
        **base,
        "kind": "bgp_peer_down",
        "gateway": fault.gateway,
        "neighbor": fault.target,
        "state": "Idle",
    }


def fault_subscription(n: int) -> str:
    """The subscription of the `n`-th hub (from 1) of `fault_hubs`."""
    return f"6f1d3c2a-0000-4000-8000-0000000f{n:04d}"


def fault_hubs(
    name: str,
    faults: Mapping[str, Iterable[Mapping[str, Any]]],
    *,
    duration: float,
    extra: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """A scenario document with one small hub per entry of `faults` (label -> its timeline
    entries): in subscription `fault_subscription(n)`, named after the label, one zone-redundant
    active/standby gateway with two BGP connections to two sites. Its entries (API faults, the
    kinds a subscription can scope) are scoped to that subscription; the `extra` entries go on
    the timeline as they are."""
    generate: list[dict[str, Any]] = []
    timeline: list[dict[str, Any]] = [dict(e) for e in extra]
    for n, (label, entries) in enumerate(faults.items(), start=1):
        subscription = fault_subscription(n)
        generate.append(
            {
                "subscription": subscription,
                "subscription_name": label,
                "name_prefix": label,
                "regions": ["westeurope"],
                "gateways": 1,
                "connections_per_gateway": 2,
                "sites_per_region": 2,
                "active_active_every": 0,
                "zones": [["1", "2", "3"]],
            }
        )
        timeline.extend({**e, "subscription": subscription} for e in entries)
    return {
        "name": name,
        "description": f"{len(generate)} small hubs, one per fault, each in its own subscription",
        "duration": duration,
        "seed": 14,
        "topology": {"generate": generate},
        "timeline": timeline,
        "expect": [],
    }
