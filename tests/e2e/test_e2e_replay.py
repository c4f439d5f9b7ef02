"""`vpnwatch replay`: what a scenario would page for, as JSON lines a script can read."""

from __future__ import annotations

import json
from pathlib import Path

from e2e_helpers import run_vpnwatch

RECORD_KEYS = {
    "type",
    "severity",
    "resources",
    "opened_at",
    "resolved_at",
    "outage_seconds",
    "parent",
    "classification",
}


def test_replay_json_prints_one_incident_object_per_line(tmp_path: Path) -> None:
    done = run_vpnwatch("replay", "unplanned-failover", "--json", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines, "no incidents printed"
    records = [json.loads(line) for line in lines]  # every line alone is one JSON document
    for record in records:
        assert isinstance(record, dict)
        assert record.keys() >= RECORD_KEYS, sorted(RECORD_KEYS - record.keys())
        assert record["resources"]
        assert all(r.startswith("/subscriptions/") for r in record["resources"])
    failovers = [(r["type"], r["classification"]) for r in records if r["parent"] is None]
    assert failovers == [("failover", "unplanned"), ("failover", "slo_breach")]
    for record in records:
        if record["type"] == "failover":
            assert record["resolved_at"] is not None and record["outage_seconds"] > 0
    assert records[0]["opened_at"] < records[1]["opened_at"]


def test_replay_of_a_missing_scenario_file_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-scenario.yaml"

    done = run_vpnwatch("replay", str(missing), "--json", cwd=tmp_path)

    assert done.returncode == 1
    assert done.stdout == ""
    assert str(missing) in done.stderr
    assert "Traceback" not in done.stderr


def test_replay_of_an_invalid_scenario_file_lists_its_problems(tmp_path: Path) -> None:
    scenario = tmp_path / "broken.yaml"
    scenario.write_text("name: broken\nduration: 60\ntopology: {subscriptions: []}\nwhen: 3\n")

    done = run_vpnwatch("replay", str(scenario), "--json", cwd=tmp_path)

    assert done.returncode == 1
    assert done.stdout == ""
    assert str(scenario) in done.stderr
    assert "when" in done.stderr
    assert "Traceback" not in done.stderr


def test_replay_with_a_broken_config_reports_it(tmp_path: Path) -> None:
    config = tmp_path / "vpnwatch.yaml"
    config.write_text(
        "targets:\n"
        "  subscriptions: [6f1d3c2a-0000-4000-8000-00000000c001]\n"
        "correlator:\n"
        "  failover:\n"
        "    slo_secs: 90\n"
    )

    done = run_vpnwatch(
        "replay", "unplanned-failover", "--json", "--config", str(config), cwd=tmp_path
    )

    assert done.returncode == 1
    assert done.stdout == ""
    assert str(config) in done.stderr
    assert "correlator.failover.slo_secs" in done.stderr
    assert "Traceback" not in done.stderr
