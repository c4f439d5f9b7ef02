"""The entity and open-incident counts behind /health and /metrics are kept up to date, not
recounted: after any mix of observations, removals, unknowns, restarts and time passing they
equal a full recount."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace

from factories import (
    DOWN,
    UP,
    at,
    bgp,
    circuit,
    connection,
    gateway,
    rid,
    run,
    settings,
    site,
    unknown,
)

from vpnwatch.correlate import Correlator, Health
from vpnwatch.correlate.state import FleetState
from vpnwatch.observations import BgpPeerState, ConnectionStatus, Observation

STALENESS = 60


def recount(state: FleetState, now) -> dict:
    counted = Counter((str(e.kind), state.effective(e, now)) for e in state.entities.values())
    return {bucket: n for bucket, n in counted.items() if n}


def _observations(rng: random.Random, t: float) -> list[Observation]:
    """A random slice of a small fleet, seen at `t`: some resources not polled at all (so they
    grow stale), some down, unknown, unreadable or deleted."""
    out: list[Observation] = []
    for g in range(4):
        gw = gateway(f"gw{g}", t=t, active_active=g % 2 == 0, n=g + 1)
        if rng.random() < 0.3:
            out.append(gw)
        for c in range(3):
            name = f"c{g}{c}"
            roll = rng.random()
            if roll < 0.15:
                continue  # not polled this time
            if roll < 0.25:
                out.append(unknown(rid("connections", name), t=t))
                continue
            status = rng.choice([UP, UP, DOWN, ConnectionStatus.UNKNOWN])
            tunnels = [rng.choice([UP, DOWN]) for _ in gw.instances]
            out.append(connection(name, gw, t=t, status=status, tunnels=tunnels))
            if rng.random() < 0.3:
                out.append(site(f"site-{name}", t=t))
        if rng.random() < 0.4:
            state = rng.choice([BgpPeerState.CONNECTED, BgpPeerState.IDLE])
            out.append(bgp(gw, [(f"10.{g + 1}.255.4", "172.16.0.1", state, 5)], t=t))
    if rng.random() < 0.3:
        out.append(circuit("er1", t=t, primary=rng.random() < 0.7))
    if rng.random() < 0.1:  # a listing without some connections: they are deleted
        kept = [rid("connections", f"c{g}{c}") for g in range(4) for c in range(3) if c != 2]
        out.append(run("arm.connections", t=t, resource_ids=kept))
    elif rng.random() < 0.2:  # a read plan promising a slower refresh: staleness limits move
        promise = rng.choice([None, 30.0, 120.0])
        listed = [rid("connections", f"c{g}{c}") for g in range(4) for c in range(3)]
        listing = run("arm.connections", t=t, resource_ids=listed)
        out.append(replace(listing, promise_seconds=promise))
    return out


def test_counts_equal_a_full_recount_through_changes_staleness_and_restarts() -> None:
    rng = random.Random(16)
    corr = Correlator(settings(state={"staleness_seconds": STALENESS}))
    stored: dict[str, dict] = {}  # what the store holds
    t = 0.0
    checked = 0
    for step in range(120):
        t += rng.choice([5, 15, 15, 30, 70])
        result = corr.process(_observations(rng, t), at(t))
        stored.update(result.entity_records_changed)
        for gone in result.entity_ids_removed:
            stored.pop(gone, None)
        state = corr.state
        opened = Counter((str(i.type), str(i.severity)) for i in corr.open_incidents())
        assert corr.open_counts() == dict(opened)
        for later in (t, t + 1, t + STALENESS, t + STALENESS + 0.5):
            assert state.counts(at(later)) == recount(state, at(later)), (step, later)
            checked += 1
        if step % 25 == 24:  # a restart resumes the counts from the stored records
            corr = Correlator(corr.settings, entity_records=stored)
            assert corr.state.counts(at(t)) == recount(corr.state, at(t))
    assert checked == 480
    summary = corr.state.summary(at(t))
    assert sum(summary.values()) == len(corr.state.entities)


def test_time_going_back_still_counts_right() -> None:
    corr = Correlator(settings(state={"staleness_seconds": STALENESS}))
    gw = gateway("gw1")
    corr.process([gw, connection("c1", gw)], at(0))
    late = corr.state.summary(at(STALENESS + 1))
    assert late[Health.UP] == 0 and late[Health.UNKNOWN] == len(corr.state.entities)
    early = corr.state.summary(at(1))
    assert early[Health.UP] > 0
    assert corr.state.counts(at(1)) == recount(corr.state, at(1))
