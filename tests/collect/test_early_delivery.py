"""A pass the budget stretches hands what it has read to the agent as it goes: a tunnel read at
the start of a long pass reaches the correlator seconds later, not when the pass ends."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from collect_helpers import emulator_settings, run_of

from vpnwatch.clock import ScaledClock
from vpnwatch.collect.base import Scope
from vpnwatch.collect.clients import AzureClients
from vpnwatch.collect.connections import ConnectionCollector
from vpnwatch.emulator import Emulator
from vpnwatch.emulator.scenario import parse_scenario
from vpnwatch.observations import CollectionRun, ConnectionObserved, Observation

SUB = "0d0d0d0d-0000-4000-8000-000000000001"


def _fleet(gateways: int, timeline: list[dict[str, Any]] | None = None) -> Any:
    return parse_scenario(
        {
            "name": "early-delivery",
            "duration": 3600,
            "timeline": timeline or [],
            "topology": {
                "generate": [
                    {
                        "subscription": SUB,
                        "name_prefix": "ed",
                        "regions": ["westeurope"],
                        "gateways": gateways,
                        "connections_per_gateway": 4,
                        "sites_per_region": 8,
                    }
                ]
            },
        },
        source="<early-delivery>",
    )


async def _every_interval(
    collector: ConnectionCollector, scope: Scope, passes: int
) -> list[tuple[datetime, list[Observation]]]:
    """`passes` passes, each begun one interval after the last (or when it ended, if later),
    as the agent's schedule runs them; each with when it began."""
    done = []
    for _ in range(passes):
        began = collector.clock.now()
        done.append((began, await collector.collect(scope)))
        elapsed = (collector.clock.now() - began).total_seconds()
        await collector.clock.sleep(max(0.0, collector.interval_seconds - elapsed))
    return done


async def test_a_long_pass_hands_over_what_it_read_before_it_ends() -> None:
    clock = ScaledClock(speed=20)
    delivered: list[tuple[float, list[Observation]]] = []
    async with Emulator(_fleet(8), clock=clock, port=0) as emu:
        # 2 % of the read bucket: a few reads at once, then one every 2 s, so the pass of a
        # 60 s interval reads 25 connections over about 45 scenario seconds.
        settings = emulator_settings(emu.base_url, subscriptions=[SUB], budget={"share": 0.02})
        async with AzureClients(settings, clock=clock) as clients:
            collector = ConnectionCollector(clients, clock, 60)
            # the first pass of a rotation the budget cannot afford whole reads one gateway
            await collector.collect(Scope(SUB))
            started = clock.now()

            async def deliver(observations: list[Observation], *, urgent: bool = False) -> None:
                delivered.append(((clock.now() - started).total_seconds(), observations))

            collector.deliver = deliver
            returned = await collector.collect(Scope(SUB))
            ended = (clock.now() - started).total_seconds()

    early = [o for _, batch in delivered for o in batch]
    assert ended > 30
    assert delivered and delivered[0][0] < ended - 20  # long before the pass ended
    assert len(delivered) >= 5
    assert all(isinstance(o, ConnectionObserved) for o in early)
    late = [o for o in returned if isinstance(o, ConnectionObserved)]
    names = [o.name for o in early + late]
    assert len(names) == len(set(names)) >= 20  # each read once, early or at the end
    assert len(early) > len(late)
    assert run_of(returned).ok


async def test_a_pass_that_failed_somewhere_hands_nothing_over_early() -> None:
    clock = ScaledClock(speed=20)
    delivered: list[Observation] = []
    async with Emulator(_fleet(8), clock=clock, port=0) as emu:
        settings = emulator_settings(emu.base_url, subscriptions=[SUB], budget={"share": 0.02})
        async with AzureClients(settings, clock=clock) as clients:
            collector = ConnectionCollector(clients, clock, 60)

            async def deliver(observations: list[Observation], *, urgent: bool = False) -> None:
                delivered.extend(observations)

            # A resource group that does not exist fails the pass, so its correlation step
            # must see every connection it did read, to tell them from the ones it did not.
            scope = Scope(SUB, ("rg-ed-westeurope", "rg-missing"))
            await collector.collect(scope)  # the first pass reads one gateway
            collector.deliver = deliver
            returned = await collector.collect(scope)

    assert delivered == []
    run = next(o for o in returned if isinstance(o, CollectionRun))
    assert not run.ok
    assert len([o for o in returned if isinstance(o, ConnectionObserved)]) >= 20


async def test_a_changed_reading_is_handed_over_at_once() -> None:
    clock = ScaledClock(speed=20)
    dropped = "ed-vpngw-0001-cn2"
    urgent_batches: list[list[Observation]] = []
    timeline = [{"at": 20, "kind": "tunnel_down", "connection": dropped, "duration": 600}]
    async with Emulator(_fleet(2, timeline), clock=clock, port=0) as emu:
        settings = emulator_settings(emu.base_url, subscriptions=[SUB])
        async with AzureClients(settings, clock=clock) as clients:
            collector = ConnectionCollector(clients, clock, 15)

            async def deliver(observations: list[Observation], *, urgent: bool = False) -> None:
                if urgent:
                    urgent_batches.append(observations)

            collector.deliver = deliver
            first = await collector.collect(Scope(SUB))  # before the drop: nothing changed
            assert urgent_batches == []
            await clock.sleep(30)
            second = await collector.collect(Scope(SUB))

    assert run_of(first).ok and run_of(second).ok
    handed = [o for batch in urgent_batches for o in batch if isinstance(o, ConnectionObserved)]
    down = [o for o in handed if o.name == dropped]
    assert len(down) == 1 and down[0].status != "Connected"
    # the rest of the pass comes back as usual, each connection once
    late = [o.name for o in second if isinstance(o, ConnectionObserved)]
    assert dropped not in late
    assert len(late) + len(handed) == 8


async def test_a_pass_that_reads_part_of_its_rotation_spreads_those_reads_over_its_interval():
    """So each connection is read one rotation after the last time, not at whichever pass
    boundary comes first."""
    clock = ScaledClock(speed=20)
    async with Emulator(_fleet(8), clock=clock, port=0) as emu:
        # 6 % of the read bucket: 1.5 reads/s, about 21 a 15 s pass, for 32 connections and
        # the lists: not all of them every pass
        settings = emulator_settings(emu.base_url, subscriptions=[SUB], budget={"share": 0.06})
        async with AzureClients(settings, clock=clock) as clients:
            collector = ConnectionCollector(clients, clock, 15)
            passes = await _every_interval(collector, Scope(SUB), 3)

    began, last = passes[-1]
    read = [o for o in last if isinstance(o, ConnectionObserved)]
    assert 0 < len(read) < 32
    offsets = sorted((o.observed_at - began).total_seconds() for o in read)
    # started one after the other over 80 % of the interval, not in one burst
    assert offsets[-1] - offsets[0] >= 6
    assert offsets[-1] < 15


async def test_a_rotation_lists_its_resource_groups_once_not_on_every_pass() -> None:
    """Listing says which connections exist, never their status: a rotation that reads each
    one by name lists once per rotation (at least every `RELIST_MAX_SECONDS`)."""
    clock = ScaledClock(speed=20)
    group = "rg-ed-westeurope"
    async with Emulator(_fleet(8), clock=clock, port=0) as emu:
        settings = emulator_settings(emu.base_url, subscriptions=[SUB], budget={"share": 0.06})
        async with AzureClients(settings, clock=clock) as clients:
            collector = ConnectionCollector(clients, clock, 15)
            passes = await _every_interval(collector, Scope(SUB, (group,)), 8)
            runs = [run_of(observations) for _, observations in passes]
            lists = emu.counters.of(SUB)["list"]
            promise = collector.promise(Scope(SUB))

    assert all(r.ok for r in runs)
    assert promise is not None and promise >= 30  # the budget cannot read all 32 each pass
    # one listing (one page) per rotation of two passes or more, not eight
    assert 2 <= lists <= 5
    # every pass still names every connection that exists
    assert all(len(r.resource_ids) == 32 for r in runs)
