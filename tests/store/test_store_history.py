"""Incident history in the store: timelines written incrementally, repeats counted, resolved
incidents kept for their retention and the recently resolved ones loaded back."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from vpnwatch.incidents import Evidence, Incident, IncidentStatus, IncidentType, incident_key
from vpnwatch.store import Store, StoreError

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CONN = "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Network/connections/c1"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def incident(name: str = "c1", **fields: object) -> Incident:
    subject = CONN.replace("c1", name)
    return Incident(
        key=incident_key(IncidentType.TUNNEL_DOWN, subject),
        type=IncidentType.TUNNEL_DOWN,
        severity="critical",  # type: ignore[arg-type]
        title=f"{name} down",
        resources=(subject,),
        opened_at=at(0),
        **fields,  # type: ignore[arg-type]
    )


def resolve(inc: Incident, seconds: float) -> None:
    inc.status = IncidentStatus.RESOLVED
    inc.resolved_at = at(seconds)


@pytest.fixture
def store() -> Store:
    s = Store.open(":memory:")
    yield s
    s.close()


def _evidence_writes(store: Store) -> set[str]:
    """The messages of the evidence rows each later write inserts or updates."""
    messages: set[str] = set()

    def trace(sql: str) -> None:
        if sql.startswith("INSERT INTO evidence"):
            messages.update(re.findall(r"'(entry \d+|one more)'", sql))

    store._connection().set_trace_callback(trace)
    return messages


def test_a_timeline_is_written_incrementally(store: Store) -> None:
    inc = incident(timeline=[Evidence(at(n), f"entry {n}", CONN) for n in range(200)])
    store.apply(incidents=[inc])
    writes = _evidence_writes(store)

    inc.timeline.append(Evidence(at(500), "one more", CONN))
    store.apply(incidents=[inc])
    assert writes == {"one more"}  # one row, not 201

    writes.clear()
    inc.timeline[3].repeats += 2
    inc.timeline[3].last_at = at(600)
    store.apply(incidents=[inc])
    assert writes == {"entry 3"}

    writes.clear()
    store.apply(incidents=[inc])  # nothing new
    assert writes == set()

    loaded = store.get_incident(inc.id)
    assert loaded is not None and len(loaded.timeline) == 201
    assert (loaded.timeline[3].repeats, loaded.timeline[3].last_at) == (2, at(600))


def test_a_failed_write_is_written_again_in_full(store: Store, tmp_path) -> None:
    inc = incident(timeline=[Evidence(at(0), "down", CONN)])
    broken = incident("c2", timeline=[Evidence(at(0), "x", CONN)])
    broken.attributes = {"bad": object()}  # type: ignore[dict-item]
    with pytest.raises(StoreError):
        store.apply(incidents=[inc, broken])
    store.apply(incidents=[inc])  # the entry was never committed, so it is written now
    loaded = store.get_incident(inc.id)
    assert loaded is not None and [e.message for e in loaded.timeline] == ["down"]


def test_evidence_only_changes_its_count_and_is_kept_while_open(store: Store) -> None:
    inc = incident(timeline=[Evidence(at(0), "down", CONN)])
    store.apply(incidents=[inc])
    db = store._connection()
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE evidence SET message = 'rewritten'")
    with pytest.raises(sqlite3.DatabaseError, match="open incident"):
        db.execute("DELETE FROM evidence")


def test_resolved_incidents_are_pruned_after_retention_open_ones_never(store: Store) -> None:
    old = incident("old", timeline=[Evidence(at(0), "down", CONN)])
    resolve(old, 60)
    recent = incident("recent", timeline=[Evidence(at(0), "down", CONN)])
    resolve(recent, 86_400 * 20)
    still_open = incident("open", timeline=[Evidence(at(0), "down", CONN)])
    store.apply(incidents=[old, recent, still_open])

    assert store.prune_resolved_incidents(before=at(86_400 * 10)) == 1
    assert store.get_incident(old.id) is None
    assert store.get_incident(recent.id) is not None
    assert store.get_incident(still_open.id) is not None
    db = store._connection()
    for table in ("evidence", "incident_resources"):
        count = db.execute(f"SELECT COUNT(*) FROM {table} WHERE incident_id = ?", (old.id,))
        assert count.fetchone() == (0,)
    assert store.prune_resolved_incidents(before=at(86_400 * 10)) == 0


def test_recently_resolved_incidents_load_with_their_timelines(store: Store) -> None:
    early = incident("early", timeline=[Evidence(at(0), "down", CONN)])
    resolve(early, 100)
    late = incident("late", timeline=[Evidence(at(0), "down", CONN, repeats=4, last_at=at(9))])
    resolve(late, 1_000)
    store.apply(incidents=[early, late, incident("open")])

    (loaded,) = store.load_resolved_since(at(500))
    assert loaded.id == late.id and loaded.resolved_at == at(1_000)
    assert loaded.timeline == late.timeline
    assert loaded.timeline[0].repeats == 4
