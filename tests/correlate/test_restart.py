"""A restart resumes exactly: a new Correlator built from the open incidents and entity records
the previous one handed out continues the same incidents and measures the same outages."""

from __future__ import annotations

import json
from typing import Any

from factories import DOWN, UP, at, connection, gateway, key, rid, run, settings

from vpnwatch.correlate import CorrelationResult, Correlator
from vpnwatch.incidents import Incident, IncidentStatus, IncidentType
from vpnwatch.observations import FailureCause

GW = gateway("gw1")
AA = gateway("gwaa", active_active=True, n=2)


class Store:
    """Keeps what a store would: incidents by id and entity records, as JSON."""

    def __init__(self) -> None:
        self.incidents: dict[str, Incident] = {}
        self.records: dict[str, str] = {}

    def save(self, result: CorrelationResult) -> None:
        for inc in (*result.opened, *result.updated, *result.resolved):
            self.incidents[inc.id] = inc
        for rid_, record in result.entity_records_changed.items():
            self.records[rid_] = json.dumps(record)
        for rid_ in result.entity_ids_removed:
            self.records.pop(rid_, None)

    def resume(self, **sections: Any) -> Correlator:
        return Correlator(
            settings(**sections),
            open_incidents=[i for i in self.incidents.values() if i.is_open],
            entity_records={k: json.loads(v) for k, v in self.records.items()},
        )


def test_failover_continues_after_restart_and_resolves_with_the_right_outage() -> None:
    store = Store()
    corr = Correlator(settings())
    conns = ("c1", "c2")
    store.save(corr.process([GW, *(connection(n, GW) for n in conns)], at(0)))
    store.save(corr.process([connection(n, GW, t=15, status=DOWN) for n in conns], at(15)))
    failover = key(IncidentType.FAILOVER, GW.resource_id)
    (before,) = corr.open_incidents()
    assert before.key == failover

    corr = store.resume()  # the process restarts; the gateway is not polled again
    result = corr.process([connection(n, GW, t=45, status=DOWN) for n in conns], at(45))
    assert result.opened == []
    restored = corr.state.health_of(rid("connections", "c1"), at(45))
    assert restored.value == "down"
    store.save(result)
    store.save(corr.process([connection(n, GW, t=60, status=UP) for n in conns], at(60)))
    result = corr.tick(at(120))
    (resolved,) = result.resolved
    assert resolved.id == before.id
    assert resolved.resolved_at == at(60) and resolved.outage_seconds == 45.0
    assert resolved.classification == "unplanned"


def test_restart_during_the_hold_resolves_back_dated_or_counts_the_flap() -> None:
    store = Store()
    corr = Correlator(settings())
    store.save(corr.process([GW, connection("c1", GW), connection("c2", GW)], at(0)))
    store.save(corr.process([connection("c1", GW, t=15, status=DOWN)], at(15)))
    store.save(corr.process([connection("c1", GW, t=30, status=UP)], at(30)))
    (inc,) = corr.open_incidents()
    assert inc.clearing_since == at(30)

    corr = store.resume()
    store.save(corr.process([connection("c1", GW, t=45, status=DOWN)], at(45)))
    (again,) = corr.open_incidents()
    assert again.id == inc.id and again.flaps == 1
    store.save(corr.process([connection("c1", GW, t=75, status=UP)], at(75)))

    corr = store.resume()
    result = corr.process([connection("c1", GW, t=135, status=UP)], at(135))
    (resolved,) = result.resolved
    assert resolved.id == inc.id and resolved.resolved_at == at(75)
    assert resolved.outage_seconds == 15.0 + 30.0


def test_redundancy_and_blindness_resume() -> None:
    store = Store()
    corr = Correlator(settings(blind={"after_seconds": 30, "min_failed_runs": 2}))
    store.save(corr.process([AA, connection("a", AA)], at(0)))
    store.save(corr.process([connection("a", AA, t=15, tunnels=[UP, DOWN])], at(15)))
    for t in (10, 40):
        failed = run("arm.bgp", t=t, ok=False, cause=FailureCause.THROTTLED)
        store.save(corr.process([failed], at(t)))
    assert {i.type for i in corr.open_incidents()} == {
        IncidentType.REDUNDANCY_LOST,
        IncidentType.MONITORING_BLIND,
    }
    ids = {i.key: i.id for i in corr.open_incidents()}

    corr = store.resume(blind={"after_seconds": 30, "min_failed_runs": 2})
    result = corr.process([connection("a", AA, t=50), run("arm.bgp", t=50)], at(50))
    assert result.opened == []
    resolved = list(result.resolved)  # blindness ends at once; redundancy after the hold
    assert [i.type for i in resolved] == [IncidentType.MONITORING_BLIND]
    resolved += corr.tick(at(110)).resolved
    assert {i.key: i.id for i in resolved} == ids
    outages = {i.type: i.outage_seconds for i in resolved}
    assert outages == {IncidentType.REDUNDANCY_LOST: 35.0, IncidentType.MONITORING_BLIND: 40.0}
    assert all(i.status is IncidentStatus.RESOLVED for i in resolved)


def test_an_unreadable_record_is_dropped_not_fatal() -> None:
    store = Store()
    corr = Correlator(settings())
    store.save(corr.process([GW, connection("c1", GW), connection("c2", GW)], at(0)))
    broken = rid("connections", "c2")
    store.records[broken] = json.dumps({"observation": {"type": "ConnectionObserved"}})
    corr = store.resume()
    assert broken not in corr.state.connections
    assert rid("connections", "c1") in corr.state.connections
    result = corr.process([connection("c2", GW, t=15)], at(15))
    assert broken in result.entity_records_changed  # observed afresh, stored again
