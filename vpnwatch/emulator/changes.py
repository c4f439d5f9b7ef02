"""When a scenario's world can change: the scenario seconds at which some fault, noise or
lifecycle entry starts or ends. Between two of them the emulator answers every read the same
way (counters aside), which lets the stepped replay skip stretches where nothing happens.

`change_times` returns None when it cannot tell (an entry it does not know, or Azure-defined
maintenance windows, which recur): then nothing may be skipped.
"""

from __future__ import annotations

from vpnwatch.emulator.scenario import (
    Create,
    Delete,
    Flap,
    InstanceFailure,
    PlannedMaintenance,
    Recover,
    Scenario,
    _ApiFault,
    _Fault,
)

MISSED_POLL_REACH = 600.0  # a missed poll counts as a change this long (its reads come later)


def change_times(scenario: Scenario) -> list[float] | None:
    """Every scenario second at which the world may change, sorted; None: cannot tell."""
    spec = scenario.spec
    for sub in spec.topology.subscriptions:
        for rg in sub.resource_groups:
            if rg.maintenance_configurations:
                return None
    times: set[float] = {0.0}
    for entry in spec.timeline:
        at = float(entry.at)
        times.add(at)
        if isinstance(entry, Flap):
            times.update(at + k * entry.period / 2 for k in range(2 * entry.count + 1))
        elif isinstance(entry, (Create, Delete, Recover)):
            pass
        elif isinstance(entry, _Fault | _ApiFault):
            if entry.duration is not None:
                times.add(at + entry.duration)
            if isinstance(entry, InstanceFailure):
                times.add(at + entry.failover_seconds)
            if isinstance(entry, PlannedMaintenance):
                times.add(at + entry.interruption_seconds)
        else:
            return None
    for missed in spec.noise.missed_polls:  # the next matching reads fail, whenever they come
        times.update((float(missed.at), float(missed.at) + MISSED_POLL_REACH))
    return sorted(times)


def next_change(times: list[float], after: float) -> float | None:
    """The first change strictly after `after` scenario seconds."""
    for t in times:
        if t > after:
            return t
    return None
