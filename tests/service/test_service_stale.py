"""Never a stale `up` on the API, /health, /metrics and the status page after a failed poll."""

from __future__ import annotations

import yaml
from service_helpers import open_fleet

from vpnwatch.emulator.scenario import Scenario, parse_scenario, scenario_path


def quiet_hub_with(timeline: list[dict]) -> Scenario:
    raw = yaml.safe_load(scenario_path("monitoring-blind").read_text())
    raw.update(name="stale-up", timeline=timeline, expect=[])
    return parse_scenario(raw, source="stale-up")


async def test_after_a_refused_poll_the_fleet_reads_unknown_with_its_last_known_state(tmp_path):
    # every request answers 401 from 20 s: the poll at 30 s fails
    scenario = quiet_hub_with([{"at": 20, "kind": "auth_failure", "duration": 600}])
    async with open_fleet(scenario, tmp_path) as fleet, fleet.client() as client:
        await fleet.collect()
        before = (await client.get("/api/v1/connections")).json()["items"]
        assert {c["health"] for c in before} == {"up"}
        await fleet.collect(30)  # the connection poll fails; 30 s is well within staleness
        connections = (await client.get("/api/v1/connections")).json()["items"]
        assert {c["health"] for c in connections} == {"unknown"}
        for c in connections:
            assert c["last_known"]["health"] == "up"
            assert "auth" in c["last_known"]["reason"]
        gateways = (await client.get("/api/v1/gateways")).json()["items"]
        assert {g["health"] for g in gateways} == {"unknown"}
        health = (await client.get("/health")).json()
        assert health["entities"]["up"] == 0
        metrics = (await client.get("/metrics")).text
        up_lines = [
            line
            for line in metrics.splitlines()
            if line.startswith("vpnwatch_connection_up{") and not line.endswith(" 0.0")
        ]
        assert up_lines == [], up_lines
        page = (await client.get("/")).text
        assert "last seen up at" in page
