"""The store's public surface: what goes in comes back, filtered, paged, once."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from vpnwatch.incidents import (
    Evidence,
    Incident,
    IncidentStatus,
    IncidentType,
    Severity,
    incident_key,
)
from vpnwatch.store import SCHEMA_VERSION, Store, StoreError
from vpnwatch.store import schema as store_schema

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RG = "/subscriptions/0000/resourceGroups/rg-hub/providers/Microsoft.Network"
GW = f"{RG}/virtualNetworkGateways/gw1"
CONN = f"{RG}/connections/c1"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def make_incident(
    subject: str = CONN,
    *,
    type_: IncidentType = IncidentType.TUNNEL_DOWN,
    severity: Severity = Severity.CRITICAL,
    opened: float = 0,
    resources: tuple[str, ...] | None = None,
    **fields: object,
) -> Incident:
    return Incident(
        key=incident_key(type_, subject),
        type=type_,
        severity=severity,
        title=f"{type_.value} on {subject.rsplit('/', 1)[-1]}",
        resources=resources if resources is not None else (subject,),
        opened_at=at(opened),
        **fields,  # type: ignore[arg-type]
    )


@pytest.fixture
def store() -> Store:
    s = Store.open(":memory:")
    yield s
    s.close()


def test_every_field_round_trips(store: Store) -> None:
    incident = make_incident(
        resources=(CONN, GW),
        status=IncidentStatus.RESOLVED,
        resolved_at=at(95.25),
        classification="unplanned_slo_breach",
        outage_seconds=95.25,
        parent_key="zone_outage:westeurope/1",
        attributes={"region": "westeurope", "zone": "1", "gateway": "gw1"},
        timeline=[
            Evidence(at(0), "tunnel c1_20.1.2.3 NotConnected", CONN, "arm.connections"),
            Evidence(at(0.000001), "BGP peer 10.0.0.4 Idle", GW, None),
            Evidence(at(95.25), "tunnel restored"),
        ],
        updated_at=at(95.5),
        clearing_since=at(60.125),
        flaps=3,
    )
    store.apply(incidents=[incident])

    loaded = store.get_incident(incident.id)
    assert loaded == incident
    assert loaded is not None
    assert isinstance(loaded.type, IncidentType) and isinstance(loaded.severity, Severity)
    assert isinstance(loaded.status, IncidentStatus)
    assert isinstance(loaded.resources, tuple)
    for value in (loaded.opened_at, loaded.resolved_at, loaded.updated_at, loaded.clearing_since):
        assert value is not None and value.utcoffset() == timedelta(0)
    assert store.get_incident("no-such-id") is None


def test_datetimes_in_other_offsets_come_back_as_the_same_instant_in_utc(store: Store) -> None:
    cet = timezone(timedelta(hours=1))
    incident = make_incident(timeline=[Evidence(datetime(2026, 3, 1, 13, 0, tzinfo=cet), "x")])
    incident.opened_at = datetime(2026, 3, 1, 13, 0, tzinfo=cet)
    store.apply(incidents=[incident])

    loaded = store.get_incident(incident.id)
    assert loaded is not None
    assert loaded.opened_at == T0 and loaded.opened_at.tzinfo is UTC
    assert loaded.timeline[0].at == T0 and loaded.timeline[0].at.tzinfo is UTC


def test_naive_datetimes_are_refused_and_nothing_is_written(store: Store) -> None:
    good = make_incident(GW)
    bad = make_incident()
    bad.opened_at = datetime(2026, 3, 1, 12, 0)
    with pytest.raises(StoreError, match="naive"):
        store.apply(incidents=[good, bad])
    assert store.get_incident(good.id) is None


def test_upsert_replaces_fields_and_appends_evidence_once(store: Store) -> None:
    incident = make_incident(timeline=[Evidence(at(0), "down", CONN, "arm.connections")])
    store.apply(incidents=[incident])

    incident.severity = Severity.WARNING
    incident.resources = (CONN, GW)
    incident.attributes = {"zone": "2"}
    incident.flaps = 1
    incident.timeline.append(Evidence(at(30), "still down", CONN))
    incident.timeline.append(Evidence(at(30), "still down", CONN))  # a repeat within one cycle
    store.apply(incidents=[incident])
    store.apply(incidents=[incident])  # the same cycle persisted twice

    loaded = store.get_incident(incident.id)
    assert loaded is not None
    assert loaded.severity is Severity.WARNING
    assert loaded.resources == (CONN, GW)
    assert loaded.attributes == {"zone": "2"}
    assert loaded.flaps == 1
    assert [(e.at, e.message) for e in loaded.timeline] == [(at(0), "down"), (at(30), "still down")]
    assert store.list_incidents()[1] == 1


def test_evidence_is_append_only(store: Store) -> None:
    incident = make_incident(timeline=[Evidence(at(0), "down", CONN)])
    store.apply(incidents=[incident])
    incident.timeline = [Evidence(at(10), "later", CONN)]  # the caller trimmed its copy
    store.apply(incidents=[incident])

    loaded = store.get_incident(incident.id)
    assert loaded is not None
    assert [e.message for e in loaded.timeline] == ["down", "later"]


def test_evidence_dedup_key_is_at_message_resource(store: Store) -> None:
    incident = make_incident(
        timeline=[
            Evidence(at(0), "down", CONN, "a"),
            Evidence(at(0), "down", CONN, "b"),  # same except source: a duplicate
            Evidence(at(0), "down", GW),  # other resource
            Evidence(at(0), "down", None),  # no resource
            Evidence(at(0), "down", None),
            Evidence(at(1), "down", CONN),  # other time
            Evidence(at(0), "up", CONN),  # other message
        ]
    )
    store.apply(incidents=[incident])
    loaded = store.get_incident(incident.id)
    assert loaded is not None
    assert [(e.at, e.message, e.resource, e.source) for e in loaded.timeline] == [
        (at(0), "down", CONN, "a"),
        (at(0), "down", GW, None),
        (at(0), "down", None, None),
        (at(1), "down", CONN, None),
        (at(0), "up", CONN, None),
    ]


def test_filters_paging_and_total(store: Store) -> None:
    incidents = []
    for n in range(7):
        incidents.append(
            make_incident(
                f"{CONN}{n}",
                opened=n * 60,
                severity=Severity.CRITICAL if n % 2 else Severity.WARNING,
                status=IncidentStatus.RESOLVED if n < 3 else IncidentStatus.OPEN,
                resolved_at=at(n * 60 + 30) if n < 3 else None,
            )
        )
    zone = make_incident(
        "westeurope/1",
        type_=IncidentType.ZONE_OUTAGE,
        opened=1000,
        resources=(GW, f"{CONN}4"),
    )
    store.apply(incidents=[*incidents, zone])

    page, total = store.list_incidents()
    assert total == 8
    assert [i.id for i in page] == [zone.id, *[i.id for i in reversed(incidents)]]

    page, total = store.list_incidents(limit=3, offset=2)
    assert total == 8
    assert [i.id for i in page] == [incidents[5].id, incidents[4].id, incidents[3].id]
    assert store.list_incidents(limit=3, offset=8) == ([], 8)

    page, total = store.list_incidents(status="resolved")
    assert (total, [i.id for i in page]) == (3, [incidents[2].id, incidents[1].id, incidents[0].id])

    page, total = store.list_incidents(status=IncidentStatus.OPEN, severity="critical")
    assert (total, {i.id for i in page}) == (3, {incidents[3].id, incidents[5].id, zone.id})

    page, total = store.list_incidents(type="zone_outage")
    assert (total, [i.id for i in page]) == (1, [zone.id])

    # any of the resources, exact, ignoring case
    page, total = store.list_incidents(resource=f"{CONN}4".upper())
    assert (total, [i.id for i in page]) == (2, [zone.id, incidents[4].id])
    assert store.list_incidents(resource=CONN) == ([], 0)  # a prefix is not a match

    page, total = store.list_incidents(status="open", type="tunnel_down", limit=1)
    assert (total, [i.id for i in page]) == (4, [incidents[6].id])

    with pytest.raises(ValueError):
        store.list_incidents(limit=-1)


def test_list_filters_use_indexes(store: Store) -> None:
    db: sqlite3.Connection = store._db  # type: ignore[assignment]
    plan = " ".join(
        row[3]
        for row in db.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM incidents WHERE status = 'open' "
            "ORDER BY opened_at DESC"
        )
    )
    assert "USING INDEX incidents_status" in plan
    plan = " ".join(
        row[3]
        for row in db.execute(
            "EXPLAIN QUERY PLAN SELECT incident_id FROM incident_resources "
            "WHERE resource_folded = 'x'"
        )
    )
    assert "incident_resources_folded" in plan


def test_load_open_incidents_returns_full_objects(store: Store) -> None:
    open_one = make_incident(timeline=[Evidence(at(0), "down", CONN)])
    resolved = make_incident(GW, status=IncidentStatus.RESOLVED, resolved_at=at(10), opened=-100)
    store.apply(incidents=[open_one, resolved])
    assert store.load_open_incidents() == [open_one]


def test_children_are_those_overlapping_the_parents_lifetime(store: Store) -> None:
    parent = make_incident(
        "westeurope/1",
        type_=IncidentType.ZONE_OUTAGE,
        opened=100,
        status=IncidentStatus.RESOLVED,
        resolved_at=at(500),
    )
    later_parent = make_incident("westeurope/1", type_=IncidentType.ZONE_OUTAGE, opened=900)
    key = parent.key

    def child(name: str, opened: float, resolved: float | None) -> Incident:
        return make_incident(
            f"{CONN}-{name}",
            opened=opened,
            parent_key=key,
            status=IncidentStatus.RESOLVED if resolved is not None else IncidentStatus.OPEN,
            resolved_at=at(resolved) if resolved is not None else None,
        )

    before = child("before", 0, 50)  # over before the parent opened
    early = child("early", 90, 300)  # opened just before the parent was decided
    during = child("during", 200, 400)
    still_open = child("open", 300, None)
    after = child("after", 950, None)  # belongs to the later incident with the same key
    unrelated = make_incident(f"{CONN}-other", opened=200, parent_key="zone_outage:x/2")
    store.apply(
        incidents=[parent, later_parent, before, early, during, still_open, after, unrelated]
    )

    assert [c.id for c in store.children(parent)] == [early.id, during.id, still_open.id]
    assert [c.id for c in store.children(later_parent)] == [still_open.id, after.id]
    assert store.children(unrelated) == []


def test_entity_records_replace_and_remove(store: Store) -> None:
    store.apply(entity_records={"gw1": {"state": "up", "since": "2026-03-01T12:00:00Z"}, "c1": {}})
    store.apply(entity_records={"gw1": {"state": "down", "n": [1, 2.5, None]}})
    assert store.load_entity_records() == {"gw1": {"state": "down", "n": [1, 2.5, None]}, "c1": {}}

    store.apply(entity_records={"c1": {"state": "up"}}, removed_entities=["gw1", "c1", "never"])
    assert store.load_entity_records() == {}


def test_unserialisable_entity_record_names_the_entity(store: Store) -> None:
    with pytest.raises(StoreError, match="entity gw1"):
        store.apply(entity_records={"gw1": {"at": T0}})


def test_alerts_are_idempotent_on_alert_id_and_condition(store: Store) -> None:
    alert_id = "/subscriptions/0000/providers/Microsoft.AlertsManagement/alerts/aaaa"
    payload = {"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": {"x": "é"}}}
    assert store.record_alert(alert_id, at(0), payload) is True
    assert store.record_alert(alert_id, at(5), {"other": True}) is False
    assert store.record_alert("second", at(1), {"n": 2}) is True
    # Azure Monitor reuses the alertId when the alert resolves
    assert store.record_alert(alert_id, at(6), {"resolved": 1}, condition="Resolved") is True
    assert store.record_alert(alert_id, at(7), {"resolved": 2}, condition="Resolved") is False

    stored = store.get_alert(alert_id)
    assert stored is not None
    assert (stored.alert_id, stored.received_at, stored.payload) == (alert_id, at(0), payload)
    assert stored.condition == "Fired" and stored.processed is False
    assert store.get_alert(alert_id, "Resolved").payload == {"resolved": 1}  # type: ignore[union-attr]
    assert [a.key for a in store.unprocessed_alerts()] == [
        (alert_id, "Fired"),
        ("second", "Fired"),
        (alert_id, "Resolved"),
    ]

    store.mark_alerts_processed([(alert_id, "Fired")])
    assert [a.key for a in store.unprocessed_alerts()] == [
        ("second", "Fired"),
        (alert_id, "Resolved"),
    ]
    assert store.get_alert(alert_id).processed is True  # type: ignore[union-attr]
    assert store.get_alert(alert_id, "Resolved").processed is False  # type: ignore[union-attr]
    assert store.record_alert(alert_id, at(9), payload) is False  # processed is still known
    assert store.get_alert("unknown") is None


def test_alerts_stored_before_the_condition_was_keyed_keep_theirs(tmp_path: Path) -> None:
    """Migrating a version-1 store reads each alert's condition from its payload."""
    path = tmp_path / "v1.sqlite3"
    db = sqlite3.connect(path)
    for statement in store_schema.MIGRATIONS[0]:
        db.execute(statement)
    db.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT)")
    db.execute("INSERT INTO schema_version VALUES (1, '2026-01-01T00:00:00+00:00')")
    resolved = {"data": {"essentials": {"monitorCondition": "Resolved"}}}
    db.execute("INSERT INTO alerts VALUES ('a', ?, ?, 1)", (at(0).isoformat(), json.dumps({})))
    db.execute(
        "INSERT INTO alerts VALUES ('b', ?, ?, 0)", (at(1).isoformat(), json.dumps(resolved))
    )
    db.commit()
    db.close()
    with Store.open(path) as s:
        assert s.get_alert("a").processed is True  # type: ignore[union-attr]
        assert [a.key for a in s.unprocessed_alerts()] == [("b", "Resolved")]


def test_meta(store: Store) -> None:
    assert store.get_meta("last_cycle") is None
    store.set_meta("last_cycle", "2026-03-01T12:00:00+00:00")
    store.set_meta("last_cycle", "2026-03-01T12:00:15+00:00")
    assert store.get_meta("last_cycle") == "2026-03-01T12:00:15+00:00"


def test_survives_reopen_and_creates_the_directory(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "vpnwatch.sqlite3"
    incident = make_incident(timeline=[Evidence(at(0), "down", CONN)])
    with Store.open(path) as first:
        assert first.schema_version == SCHEMA_VERSION
        first.apply(incidents=[incident], entity_records={"c1": {"state": "down"}})
        first.record_alert("a1", at(1), {"k": "v"})
        first.set_meta("m", "v")

    with Store.open(str(path)) as second:
        assert second.schema_version == SCHEMA_VERSION
        assert second.load_open_incidents() == [incident]
        assert second.load_entity_records() == {"c1": {"state": "down"}}
        assert [a.alert_id for a in second.unprocessed_alerts()] == ["a1"]
        assert second.get_meta("m") == "v"
        db: sqlite3.Connection = second._db  # type: ignore[assignment]
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "vpnwatch.sqlite3"
    Store.open(path).close()
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
            (SCHEMA_VERSION + 1, T0.isoformat()),
        )
    db.close()
    with pytest.raises(StoreError) as raised:
        Store.open(path)
    message = str(raised.value)
    assert str(path) in message
    assert f"version {SCHEMA_VERSION + 1}" in message
    assert f"up to version {SCHEMA_VERSION}" in message


def test_migrations_run_in_order_from_the_stored_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "vpnwatch.sqlite3"
    with Store.open(path) as s:
        s.set_meta("kept", "yes")
    step = ("CREATE TABLE later_step (id INTEGER PRIMARY KEY, body TEXT NOT NULL)",)
    monkeypatch.setattr(store_schema, "MIGRATIONS", (*store_schema.MIGRATIONS, step))
    monkeypatch.setattr(store_schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with Store.open(path) as s:
        assert s.schema_version == SCHEMA_VERSION + 1
        assert s.get_meta("kept") == "yes"
        db: sqlite3.Connection = s._db  # type: ignore[assignment]
        versions = [v for (v,) in db.execute("SELECT version FROM schema_version ORDER BY 1")]
        assert versions == list(range(1, SCHEMA_VERSION + 2))
        db.execute("INSERT INTO later_step (body) VALUES ('x')")


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("this is not SQLite\n" * 100)
    with pytest.raises(StoreError, match="not a usable vpnwatch store"):
        Store.open(path)


def test_closed_store_refuses_calls() -> None:
    s = Store.open(":memory:")
    s.close()
    s.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        s.get_meta("x")


def test_a_failed_apply_leaves_nothing_behind(store: Store) -> None:
    good = make_incident(GW)
    store.apply(entity_records={"keep": {"v": 1}})
    with pytest.raises(StoreError):
        store.apply(
            incidents=[good],
            entity_records={"keep": {"v": 2}, "bad": {"v": object()}},
        )
    assert store.get_incident(good.id) is None
    assert store.load_entity_records() == {"keep": {"v": 1}}
    store.apply(incidents=[good])  # the store still works afterwards
    assert store.get_incident(good.id) == good


def test_safe_from_threads_and_asyncio(tmp_path: Path) -> None:
    s = Store.open(tmp_path / "t.sqlite3")
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for k in range(20):
                s.apply(
                    incidents=[make_incident(f"{CONN}-{n}-{k}")],
                    entity_records={f"e{n}": {"k": k}},
                )
                s.list_incidents(limit=5)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()

    async def from_asyncio() -> int:
        results = await asyncio.gather(
            *(asyncio.to_thread(s.record_alert, f"a{n}", at(n), {"n": n}) for n in range(10))
        )
        return sum(results)

    assert asyncio.run(from_asyncio()) == 10
    for thread in threads:
        thread.join()
    assert errors == []
    assert s.list_incidents(limit=0)[1] == 80
    assert s.load_entity_records() == {f"e{n}": {"k": 19} for n in range(4)}
    s.close()


def test_hostile_text_is_kept_or_refused_cleanly(store: Store) -> None:
    payload = {"description": "lone \ud800 surrogate", "emoji": "🛰️", "nested": [{"é": None}]}
    assert store.record_alert("hostile", at(0), payload)
    assert store.get_alert("hostile").payload == payload  # type: ignore[union-attr]

    bad = make_incident()
    bad.title = "lone \udc00 surrogate"
    with pytest.raises(StoreError):
        store.apply(incidents=[bad])
    store.set_meta("still", "works")
    assert store.get_meta("still") == "works"


def test_processed_alerts_older_than_the_cutoff_are_pruned(store: Store) -> None:
    store.record_alert("old-done", at(0), {"n": 1})
    store.record_alert("old-pending", at(1), {"n": 2})
    store.record_alert("new-done", at(100), {"n": 3})
    store.mark_alerts_processed([("old-done", "Fired"), ("new-done", "Fired")])
    assert store.prune_alerts(before=at(50)) == 1
    assert store.get_alert("old-done") is None
    assert store.get_alert("old-pending") is not None  # not yet correlated: never pruned
    assert store.get_alert("new-done") is not None
    assert store.prune_alerts(before=at(50)) == 0
