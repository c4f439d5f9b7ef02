"""A small scenario with a timeline given per test, replayed through the real agent."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from vpnwatch.emulator import load_scenario
from vpnwatch.emulator.scenario import Scenario, parse_scenario, scenario_path
from vpnwatch.incidents import Incident, IncidentType


def quiet_hub(
    timeline: list[dict[str, Any]], *, duration: float = 300, agent: dict[str, Any] | None = None
) -> Scenario:
    """The `monitoring-blind` hub (two tunnels, nothing happens) with another timeline."""
    raw = yaml.safe_load(scenario_path("monitoring-blind").read_text())
    raw = copy.deepcopy(raw)
    raw.update(name="test-hub", duration=duration, timeline=timeline, expect=[])
    if agent is not None:
        raw["agent"] = agent
    return parse_scenario(raw, source="test-hub")


def blind(incidents: list[Incident]) -> list[Incident]:
    return [i for i in incidents if i.type is IncidentType.MONITORING_BLIND]


__all__ = ["blind", "load_scenario", "quiet_hub"]
