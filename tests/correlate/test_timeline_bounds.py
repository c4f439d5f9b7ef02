"""A timeline cannot grow without bound: repeats from outside are counted, and past
`MAX_ENTRIES` new evidence is counted rather than kept."""

from __future__ import annotations

from factories import at

from vpnwatch.correlate.timeline import MAX_ENTRIES, OMITTED, add_evidence
from vpnwatch.incidents import Evidence, Incident, IncidentType, Severity

CONN = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/connections/c1"


def _incident() -> Incident:
    return Incident("k", IncidentType.TUNNEL_DOWN, Severity.WARNING, "t", (CONN,), at(0))


def test_repeated_outside_evidence_is_counted_not_added() -> None:
    inc = _incident()
    for n in range(1_000):
        fired = Evidence(at(n), "alert fired", CONN, "azure-monitor")
        assert add_evidence(inc, [fired], collapse=True)
    (entry,) = inc.timeline
    assert (entry.at, entry.repeats, entry.last_at) == (at(0), 999, at(999))


def test_the_same_entry_twice_changes_nothing() -> None:
    inc = _incident()
    assert add_evidence(inc, [Evidence(at(1), "down", CONN)])
    revision = inc.timeline_revision
    assert not add_evidence(inc, [Evidence(at(1), "down", CONN)], collapse=True)
    assert inc.timeline_revision == revision and inc.timeline[0].repeats == 0


def test_detector_evidence_keeps_each_time_until_the_timeline_is_full() -> None:
    inc = _incident()
    add_evidence(inc, [Evidence(at(n), "condition back", CONN) for n in range(3)])
    assert len(inc.timeline) == 3
    add_evidence(inc, [Evidence(at(10 + n), f"state {n}", CONN) for n in range(2 * MAX_ENTRIES)])
    assert len(inc.timeline) == MAX_ENTRIES
    assert int(inc.attributes[OMITTED]) == 2 * MAX_ENTRIES + 3 - MAX_ENTRIES
    add_evidence(inc, [Evidence(at(5_000), "condition back", CONN)])  # full: counted on its first
    assert inc.timeline[0].repeats == 1 and len(inc.timeline) == MAX_ENTRIES
