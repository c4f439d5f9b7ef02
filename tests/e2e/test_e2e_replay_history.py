"""`vpnwatch replay --json` prints each incident's whole history, and `--entities` every
entity's health per step: what a script needs to check an incident's life and "never stale up"
from outside."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from e2e_helpers import run_vpnwatch


def _replay(tmp_path: Path, *args: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    done = run_vpnwatch("replay", *args, "--json", cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    samples = [line for line in lines if "entities" in line]
    incidents = [line for line in lines if "history" in line]
    assert len(samples) + len(incidents) == len(lines)
    return incidents, samples


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _events(record: dict[str, Any]) -> list[str]:
    history = record["history"]
    times = [_t(e["at"]) for e in history]
    assert times == sorted(times), history
    return [e["event"] for e in history]


def test_history_of_an_escalated_paged_failover_and_entities_never_stale_up(
    tmp_path: Path,
) -> None:
    incidents, samples = _replay(tmp_path, "unplanned-failover", "--entities")

    breach = next(r for r in incidents if r["classification"] == "slo_breach")
    assert _events(breach) == [
        "opened",
        "escalated",
        "classified",
        "paged",
        "resolved",
        "page_resolved",
    ]
    opened, escalated, *_ = breach["history"]
    assert (opened["severity"], opened["classification"]) == ("info", "in_progress")
    assert opened["started_at"] == breach["opened_at"]
    assert (escalated["from"], escalated["to"]) == ("info", "critical")
    resolved = next(e for e in breach["history"] if e["event"] == "resolved")
    assert resolved["resolved_at"] == breach["resolved_at"]
    assert _t(resolved["at"]) >= _t(resolved["resolved_at"])  # decided after the hold

    # one sample per step (5 s) over the whole scenario
    assert len(samples) > 100
    steps = [_t(s["at"]) for s in samples]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)
    seen_down = False
    for sample in samples:
        now = _t(sample["at"])
        for entity in sample["entities"]:
            if entity["health"] == "up":
                assert entity["last_observed"] is not None, entity
                age = (now - _t(entity["last_observed"])).total_seconds()
                assert age <= entity["stale_after_seconds"], (sample["at"], entity)
            seen_down |= entity["health"] == "down" and entity["kind"] == "connection"
    assert seen_down  # the failover shows in the samples, so the check above saw both states


def test_history_shows_a_drop_settled_late_as_a_failover_and_a_parent_given_later(
    tmp_path: Path,
) -> None:
    incidents, samples = _replay(tmp_path, "single-connection-failover")
    assert samples == []  # only with --entities

    settled = next(
        r for r in incidents if r["type"] == "failover" and r["key"].endswith("/vpngw-solo-weu")
    )
    events = _events(settled)
    assert events[:3] == ["opened", "resolved", "retyped"]
    assert settled["history"][0]["type"] == "tunnel_down"  # what polling saw at first
    retyped = settled["history"][2]
    assert (retyped["from"], retyped["to"]) == ("tunnel_down", "failover")

    (lost,) = [r for r in incidents if r["type"] == "p2s_sessions_lost"]
    parent = next(e for e in lost["history"] if e["event"] == "parent_changed")
    assert (parent["from"], parent["to"]) == (None, settled["key"])
    assert lost["parent"] == settled["key"]
    assert "paged" not in _events(lost)
