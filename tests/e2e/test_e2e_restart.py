"""`vpnwatch run` killed with SIGKILL during a failover resumes the open incident and loses none.

The emulator plays `unplanned-failover` 20 times faster than the wall clock; the agent runs on
real time with intervals in real seconds. In wall time the second failover (scenario 420 s, 150 s
to restore) starts about 21 s after the emulator and lasts 7.5 s, against a 5 s SLO. The agent
is killed twice during that incident (a collection cycle may be in flight each time), and started
again on the same store: once while the tunnels are down, once while its resolution is held.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import (
    FAST_COLLECTORS,
    LOOPBACK,
    ProcessGroup,
    VpnwatchProcess,
    free_port,
    get_json,
    run_config,
    status_of,
    wait_for,
)

SCENARIO = "unplanned-failover"
SUBSCRIPTION = "6f1d3c2a-0000-4000-8000-00000000c001"
GATEWAY = "vpngw-core-weu"
SPEED = 20.0
SECOND_FAILOVER_AT = 420.0  # scenario seconds
INSTANCE_REPAIRED_AT = 300.0  # between the two failovers
SLO_SECONDS = 5.0  # real seconds: the scaled 150 s outage (7.5 s) breaches it
PLANNED_MAX_SECONDS = 1.0
CLEAR_HOLD_SECONDS = 5.0  # long enough to kill the agent while a resolution is held

pytestmark = pytest.mark.slow


def agent_config(tmp_path: Path, emulator_url: str, service_port: int) -> Path:
    return run_config(
        tmp_path,
        emulator_url,
        service_port,
        [SUBSCRIPTION],
        collectors={**FAST_COLLECTORS, "timeout_seconds": 5},
        correlator={
            "state": {"staleness_seconds": 10, "clear_hold_seconds": CLEAR_HOLD_SECONDS},
            "failover": {
                "planned_max_seconds": PLANNED_MAX_SECONDS,
                "slo_seconds": SLO_SECONDS,
            },
        },
    )


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def integrity(database: Path) -> str:
    """`PRAGMA integrity_check` of a copy of the store with its WAL, as a crash left them.

    A copy, because opening the store itself would replay and checkpoint the WAL, sparing the
    restarted agent the recovery this test wants it to do.
    """
    copies = database.parent.parent / f"integrity-{time.monotonic_ns()}"
    copies.mkdir()
    for path in database.parent.glob(f"{database.name}*"):
        shutil.copy2(path, copies / path.name)
    with contextlib.closing(sqlite3.connect(copies / database.name)) as db:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])


def all_incidents(api: str) -> list[dict[str, Any]]:
    return list(get_json(f"{api}/api/v1/incidents?limit=1000")["items"])


def incident(api: str, incident_id: str) -> dict[str, Any]:
    return dict(get_json(f"{api}/api/v1/incidents/{incident_id}"))


def evidence(found: dict[str, Any]) -> set[tuple[str, str]]:
    return {(e["at"], e["message"]) for e in found["timeline"]}


def test_kill_9_during_failover_resumes_the_open_incident(
    tmp_path: Path, processes: ProcessGroup
) -> None:
    emulator_url = processes.start_emulator(SCENARIO, "--speed", f"{SPEED:g}")
    emulator_started = datetime.now(UTC)
    service_port = free_port()
    config = agent_config(tmp_path, emulator_url, service_port)
    database = tmp_path / "state" / "vpnwatch.sqlite3"
    api = f"http://{LOOPBACK}:{service_port}"

    def start_agent(name: str) -> VpnwatchProcess:
        return processes.start_run(name, config, until=f"{api}/livez", deadline_seconds=20)

    agent = start_agent("agent")
    agent.wait_answering(f"{api}/readyz", deadline_seconds=20)
    # one start-up line says where it reads from, as whom, where it keeps state and listens
    [startup] = [line for line in agent.stderr().splitlines() if " starting: " in line]
    assert "cloud custom" in startup and "credential static_token" in startup
    assert str(database) in startup and f"{LOOPBACK}:{service_port}" in startup

    # The second failover, not the first: opened after instance 0 was repaired.
    second_spell = emulator_started + timedelta(seconds=INSTANCE_REPAIRED_AT / SPEED)

    def open_second_failover() -> dict[str, Any] | None:
        page = get_json(f"{api}/api/v1/incidents?status=open&type=failover")
        return next((i for i in page["items"] if parse_time(i["opened_at"]) >= second_spell), None)

    failover = wait_for("the second failover to open", open_second_failover, 40)
    failover_id = failover["id"]
    assert GATEWAY in failover["title"]
    seen_before_kill = {i["id"] for i in all_incidents(api)}
    evidence_before_kill = evidence(incident(api, failover_id))
    assert evidence_before_kill

    # 1. Killed while the tunnels are down; a collection cycle may be in flight.
    agent.kill_hard()
    assert integrity(database) == "ok"
    agent = start_agent("agent-restarted")
    resumed = incident(api, failover_id)
    assert resumed["status"] == "open", resumed
    assert resumed["opened_at"] == failover["opened_at"]

    # 2. Killed again once the tunnels are back, while the resolution is held
    # (`clear_hold_seconds`): the restore the failover detector recorded must survive.
    def clearing() -> dict[str, Any] | None:
        found = incident(api, failover_id)
        assert found["status"] == "open", f"resolved before its hold was seen: {found}"
        back = [e for e in found["timeline"] if "connections back" in e["message"]]
        return found if back else None

    held = wait_for("the tunnels to come back", clearing, 30)
    restored_at = next(e["at"] for e in held["timeline"] if "connections back" in e["message"])
    agent.kill_hard()
    assert integrity(database) == "ok"
    agent = start_agent("agent-restarted-again")

    def resolved() -> dict[str, Any] | None:
        found = incident(api, failover_id)
        return found if found["status"] == "resolved" else None

    done = wait_for("the resumed failover to resolve", resolved, 30)
    assert done["resolved_at"] == restored_at, "the restart moved the restore time"
    assert parse_time(done["resolved_at"]) > parse_time(done["opened_at"])
    assert done["outage_seconds"] == pytest.approx(held["outage_seconds"])
    assert done["outage_seconds"] > SLO_SECONDS
    assert (done["classification"], done["severity"]) == ("slo_breach", "critical")
    assert evidence_before_kill <= evidence(done), "evidence recorded before the kill was lost"
    assert evidence(held) <= evidence(done), "evidence recorded before the second kill was lost"

    after = all_incidents(api)
    missing = seen_before_kill - {i["id"] for i in after}
    assert not missing, f"incidents lost across the restarts: {missing}"
    for incident_id in seen_before_kill:
        assert status_of(f"{api}/api/v1/incidents/{incident_id}") == 200
    second_spell_failovers = [
        i for i in after if i["type"] == "failover" and parse_time(i["opened_at"]) >= second_spell
    ]
    assert [i["id"] for i in second_spell_failovers] == [failover_id], (
        "a restart opened a second incident for the same failover"
    )

    # Ctrl-C: uvicorn shuts down cleanly, then re-raises the signal (exit 130, as for any CLI).
    assert agent.interrupt(deadline_seconds=15) in (0, 130)
    assert integrity(database) == "ok"
