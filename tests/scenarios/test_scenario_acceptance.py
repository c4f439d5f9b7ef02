"""Acceptance by scenario: emulator + real SDK collectors + correlator, stepped through each shipped
scenario, must open exactly the incidents the scenario's `expect:` block lists.

Every incident the replay opens (children included) must match one expectation and every
expectation one incident: type, severity, classification, the resources it names, its parent's
type, when it opened and how long the outage was — both within one poll interval of the
scenario's truth.
"""

from __future__ import annotations

from typing import Any

import pytest

from vpnwatch.config import CollectorsSettings
from vpnwatch.emulator import load_scenario, shipped_scenarios
from vpnwatch.incidents import Incident
from vpnwatch.replay import REPLAY_EPOCH, replay

ACCEPTANCE = sorted(name for name in shipped_scenarios() if name not in {"large-fleet"})

_COLLECTORS = CollectorsSettings()
# Which poll decides when each kind of incident is seen: its interval is the tolerance.
_POLL_SECONDS = {
    "bgp_peer_down": _COLLECTORS.bgp.interval_seconds,
    "route_withdrawal": _COLLECTORS.bgp.interval_seconds,
    "expressroute_down": _COLLECTORS.expressroute.interval_seconds,
    "expressroute_redundancy_lost": _COLLECTORS.expressroute.interval_seconds,
    "expressroute_failover_to_vpn": _COLLECTORS.expressroute.interval_seconds,
    "hybrid_connectivity_lost": _COLLECTORS.expressroute.interval_seconds,
}


def _tolerance(expected: dict[str, Any]) -> float:
    return float(
        expected.get(
            "tolerance_seconds",
            _POLL_SECONDS.get(expected["type"], _COLLECTORS.connections.interval_seconds),
        )
    )


def _names(incident: Incident) -> set[str]:
    return {rid.rstrip("/").rsplit("/", 1)[-1].lower() for rid in incident.resources}


def _mismatches(
    expected: dict[str, Any], incident: Incident, by_key: dict[str, Incident]
) -> list[str]:
    problems: list[str] = []
    for field in ("type", "severity", "classification"):
        if field in expected:
            actual = getattr(incident, field)
            actual = getattr(actual, "value", actual)
            if actual != expected[field]:
                problems.append(f"{field} {actual!r} != {expected[field]!r}")
    missing = {n.lower() for n in expected.get("resources", [])} - _names(incident)
    if missing:
        problems.append(f"resources lack {sorted(missing)}")
    parent = by_key.get(incident.parent_key) if incident.parent_key else None
    parent_type = parent.type.value if parent else None
    if expected.get("parent") != parent_type:
        problems.append(f"parent {parent_type!r} != {expected.get('parent')!r}")
    tolerance = _tolerance(expected)
    if "at" in expected:
        opened = (incident.opened_at - REPLAY_EPOCH).total_seconds()
        if abs(opened - float(expected["at"])) > tolerance:
            problems.append(f"opened at +{opened:.0f}s, expected +{expected['at']}s ±{tolerance}")
    if "outage_seconds" in expected:
        outage = incident.outage_seconds
        if outage is None or abs(outage - float(expected["outage_seconds"])) > tolerance:
            want = expected["outage_seconds"]
            problems.append(f"outage {outage} s, expected {want} ±{tolerance}")
    if expected.get("resolved", True) and incident.resolved_at is None:
        problems.append("still open at the end of the scenario")
    return problems


def _describe(incident: Incident) -> str:
    opened = (incident.opened_at - REPLAY_EPOCH).total_seconds()
    return (
        f"{incident.type.value}/{incident.severity.value}/{incident.classification} "
        f"+{opened:.0f}s outage={incident.outage_seconds} parent={incident.parent_key} "
        f"resources={sorted(_names(incident))}"
    )


@pytest.mark.parametrize("name", ACCEPTANCE)
async def test_scenario_opens_exactly_the_expected_incidents(name: str) -> None:
    scenario = load_scenario(name)
    assert scenario.expect or name == "quiet", f"{name}.yaml lists no expected incidents"
    incidents = await replay(scenario)
    by_key = {i.key: i for i in incidents}
    unmatched = list(incidents)
    failures: list[str] = []
    for expected in scenario.expect:
        candidates = [(i, _mismatches(expected, i, by_key)) for i in unmatched]
        exact = [i for i, problems in candidates if not problems]
        if exact:
            unmatched.remove(exact[0])
            continue
        near = [
            f"    {_describe(i)}: {'; '.join(p)}"
            for i, p in candidates
            if i.type.value == expected["type"]
        ]
        hint = "\n" + "\n".join(near) if near else ""
        failures.append(f"expected {expected} — no match{hint}")
    failures.extend(f"unexpected incident: {_describe(i)}" for i in unmatched)
    assert not failures, f"{name}:\n" + "\n".join(failures)
