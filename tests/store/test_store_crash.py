"""`kill -9` in the middle of a correlation cycle loses nothing that was committed.

A real child process writes cycles as fast as it can and prints each cycle number only after
`apply` returned; the test kills it with SIGKILL while it is writing, reopens the file and
checks that every printed cycle is complete, that no cycle is half there, and that SQLite
finds the file intact.
"""

from __future__ import annotations

import os
import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from vpnwatch.store import Store

INCIDENTS_PER_CYCLE = 3
EVIDENCE_PER_INCIDENT = 4

WRITER = f"""
import sys
from datetime import UTC, datetime, timedelta
from itertools import count

from vpnwatch.incidents import Evidence, Incident, IncidentType, Severity
from vpnwatch.store import Store

store = Store.open(sys.argv[1])
t0 = datetime(2026, 3, 1, tzinfo=UTC)
print("ready", flush=True)
for cycle in count():
    now = t0 + timedelta(seconds=15 * cycle)
    incidents = [
        Incident(
            key=f"tunnel_down:c{{cycle}}-{{k}}",
            type=IncidentType.TUNNEL_DOWN,
            severity=Severity.CRITICAL,
            title="tunnel down " * 20,
            resources=(f"/subscriptions/s/connections/c{{cycle}}-{{k}}",),
            opened_at=now,
            id=f"{{cycle}}-{{k}}",
            timeline=[
                Evidence(now + timedelta(seconds=e), "evidence " * 30 + str(e))
                for e in range({EVIDENCE_PER_INCIDENT})
            ],
        )
        for k in range({INCIDENTS_PER_CYCLE})
    ]
    records = {{f"entity-{{n}}": {{"cycle": cycle, "pad": "x" * 200}} for n in range(50)}}
    store.apply(incidents=incidents, entity_records=records)
    print(cycle, flush=True)
"""

KILL_AFTER_CYCLES = 25


def test_kill_9_mid_cycle_loses_nothing_committed(tmp_path: Path) -> None:
    path = tmp_path / "crash.sqlite3"
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
        text=True,
    )
    printed: list[str] = []
    deadline = time.monotonic() + 30
    try:
        while len(printed) < KILL_AFTER_CYCLES + 1:  # "ready" plus cycles
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"writer too slow; stderr: {child.stderr.read()!r}"
            readable, _, _ = select.select([child.stdout], [], [], remaining)
            if readable:
                line = child.stdout.readline()
                assert line, f"writer exited early; stderr: {child.stderr.read()!r}"
                printed.append(line.strip())
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        printed.extend(line.strip() for line in child.stdout.read().splitlines())
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        child.stderr.close()

    assert child.returncode == -signal.SIGKILL
    assert printed[0] == "ready"
    committed = [int(line) for line in printed[1:] if line]
    assert committed == list(range(len(committed)))
    assert len(committed) >= KILL_AFTER_CYCLES
    # the writer never closed its connection: the reopen has to recover from the WAL
    assert Path(f"{path}-wal").stat().st_size > 0

    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    db.close()

    with Store.open(path) as store:
        for cycle in committed:
            for k in range(INCIDENTS_PER_CYCLE):
                incident = store.get_incident(f"{cycle}-{k}")
                assert incident is not None, f"committed cycle {cycle} lost incident {k}"
                assert len(incident.timeline) == EVIDENCE_PER_INCIDENT

        # every cycle in the file is whole, including one committed but not yet printed
        stored = store.load_open_incidents()
        per_cycle: dict[int, int] = {}
        for incident in stored:
            cycle = int(incident.id.split("-")[0])
            per_cycle[cycle] = per_cycle.get(cycle, 0) + 1
        assert set(per_cycle.values()) == {INCIDENTS_PER_CYCLE}
        last = max(per_cycle)
        assert last in (committed[-1], committed[-1] + 1)
        records = store.load_entity_records()
        assert len(records) == 50
        assert {r["cycle"] for r in records.values()} == {last}
