"""Incidents, the resources they name, and their timelines (appended to; an entry only ever
changes its repeat count; removed with its incident once that is resolved and past retention)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from vpnwatch.incidents import Evidence, Incident, IncidentStatus, IncidentType, Severity
from vpnwatch.store.codec import chunks, dt, maybe_dt, maybe_ts, to_json, ts
from vpnwatch.store.errors import StoreError

_COLUMNS = (
    "id, key, type, severity, status, title, opened_at, resolved_at, updated_at, classification, "
    "outage_seconds, parent_key, attributes, clearing_since, flaps"
)


# Evidence a transaction wrote, with the repeat count written: marked once it commits.
Written = list[tuple[Evidence, int]]


def write(db: sqlite3.Connection, incidents: Sequence[Incident]) -> Written:
    """Upsert by `id` (every field replaced) and write what is new in the timelines.

    A timeline is written incrementally: only entries not stored yet are inserted, and only
    entries counted again since (`repeats`) are updated; the rest is not touched. Evidence
    already stored is kept even if absent from `timeline`, and an entry equal on
    (at, message, resource) to a stored one is not added twice. Returns what was written, for
    `mark_written` once the transaction commits.
    """
    rows = [_row(i) for i in incidents]
    written: Written = []
    for incident, row in zip(incidents, rows, strict=True):
        db.execute(
            f"INSERT INTO incidents ({_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET key = excluded.key, type = excluded.type, "
            "severity = excluded.severity, status = excluded.status, "
            "title = excluded.title, opened_at = excluded.opened_at, "
            "resolved_at = excluded.resolved_at, updated_at = excluded.updated_at, "
            "classification = excluded.classification, "
            "outage_seconds = excluded.outage_seconds, parent_key = excluded.parent_key, "
            "attributes = excluded.attributes, clearing_since = excluded.clearing_since, "
            "flaps = excluded.flaps",
            row,
        )
        db.execute("DELETE FROM incident_resources WHERE incident_id = ?", (incident.id,))
        db.executemany(
            "INSERT INTO incident_resources (incident_id, position, resource, "
            "resource_folded) VALUES (?, ?, ?, ?)",
            [(incident.id, n, r, r.lower()) for n, r in enumerate(incident.resources)],
        )
        fresh = [e for e in incident.timeline if e.stored_repeats != e.repeats]
        db.executemany(
            "INSERT INTO evidence (incident_id, at, message, resource, source, repeats, last_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (incident_id, at, message, IFNULL(resource, '')) DO UPDATE SET "
            "repeats = MAX(repeats, excluded.repeats), "
            "last_at = COALESCE(excluded.last_at, last_at)",
            [
                (
                    incident.id,
                    ts(e.at, "evidence.at"),
                    e.message,
                    e.resource,
                    e.source,
                    e.repeats,
                    maybe_ts(e.last_at, "evidence.last_at"),
                )
                for e in fresh
            ],
        )
        written.extend((e, e.repeats) for e in fresh)
    return written


def mark_written(written: Written) -> None:
    """After the commit: the store now holds these entries with these counts."""
    for evidence, repeats in written:
        evidence.stored_repeats = repeats


def load_open(db: sqlite3.Connection) -> list[Incident]:
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM incidents WHERE status = ? ORDER BY opened_at, seq",
        (IncidentStatus.OPEN.value,),
    ).fetchall()
    return _hydrate(db, rows)


def load_resolved_since(db: sqlite3.Connection, since: datetime) -> list[Incident]:
    """Incidents resolved at or after `since`, oldest resolved first."""
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM incidents WHERE status = ? AND resolved_at >= ? "
        "ORDER BY resolved_at, seq",
        (IncidentStatus.RESOLVED.value, ts(since, "since")),
    ).fetchall()
    return _hydrate(db, rows)


def prune_resolved(db: sqlite3.Connection, before: datetime) -> list[str]:
    """Delete incidents resolved before `before`, with their resources and timelines; returns
    their ids. Open incidents are never pruned, whatever their age."""
    ids = [
        row[0]
        for row in db.execute(
            "SELECT id FROM incidents WHERE status = ? AND resolved_at < ?",
            (IncidentStatus.RESOLVED.value, ts(before, "before")),
        )
    ]
    for chunk in chunks(ids):
        marks = ",".join("?" * len(chunk))
        for table in ("evidence", "incident_resources"):
            db.execute(f"DELETE FROM {table} WHERE incident_id IN ({marks})", chunk)
        db.execute(f"DELETE FROM incidents WHERE id IN ({marks})", chunk)
    return ids


def get(db: sqlite3.Connection, incident_id: str) -> Incident | None:
    rows = db.execute(f"SELECT {_COLUMNS} FROM incidents WHERE id = ?", (incident_id,)).fetchall()
    found = _hydrate(db, rows)
    return found[0] if found else None


def children(db: sqlite3.Connection, incident: Incident) -> list[Incident]:
    """See `Store.children`."""
    params: list[Any] = [incident.key, incident.id, ts(incident.opened_at, "opened_at")]
    sql = (
        f"SELECT {_COLUMNS} FROM incidents WHERE parent_key = ? AND id != ? "
        "AND (resolved_at IS NULL OR resolved_at >= ?)"
    )
    if incident.resolved_at is not None:
        sql += " AND opened_at <= ?"
        params.append(ts(incident.resolved_at, "resolved_at"))
    rows = db.execute(sql + " ORDER BY opened_at, seq", params).fetchall()
    return _hydrate(db, rows)


def page(
    db: sqlite3.Connection,
    *,
    status: str | None,
    type: str | None,
    severity: str | None,
    resource: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Incident], int]:
    """See `Store.list_incidents`."""
    where: list[str] = []
    params: list[Any] = []
    for column, value in (("status", status), ("type", type), ("severity", severity)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(str(value))
    if resource is not None:
        where.append(
            "EXISTS (SELECT 1 FROM incident_resources r "
            "WHERE r.incident_id = incidents.id AND r.resource_folded = ?)"
        )
        params.append(resource.lower())
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    total = db.execute(f"SELECT COUNT(*) FROM incidents{clause}", params).fetchone()[0]
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM incidents{clause} "
        "ORDER BY opened_at DESC, seq DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    ).fetchall()
    return _hydrate(db, rows), total


# Version 6: an entry counts its repeats instead of being added again, and resolved incidents
# past retention are deleted with their timelines (the evidence of open ones stays untouchable).
MIGRATION_BOUNDED_TIMELINES: tuple[str, ...] = (
    "ALTER TABLE evidence ADD COLUMN repeats INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE evidence ADD COLUMN last_at TEXT",
    "DROP TRIGGER evidence_no_update",
    "DROP TRIGGER evidence_no_delete",
    """CREATE TRIGGER evidence_counts_only BEFORE UPDATE ON evidence
        WHEN NEW.incident_id IS NOT OLD.incident_id OR NEW.at IS NOT OLD.at
            OR NEW.message IS NOT OLD.message OR NEW.resource IS NOT OLD.resource
            OR NEW.source IS NOT OLD.source
        BEGIN SELECT RAISE(ABORT, 'evidence is append-only: only its repeat count changes'); END""",
    """CREATE TRIGGER evidence_kept_while_open BEFORE DELETE ON evidence
        WHEN EXISTS (SELECT 1 FROM incidents WHERE id = OLD.incident_id AND status = 'open')
        BEGIN SELECT RAISE(ABORT, 'the evidence of an open incident is kept'); END""",
    "CREATE INDEX incidents_resolved ON incidents (resolved_at) WHERE status = 'resolved'",
)


def _row(incident: Incident) -> tuple[Any, ...]:
    return (
        incident.id,
        incident.key,
        IncidentType(incident.type).value,
        Severity(incident.severity).value,
        IncidentStatus(incident.status).value,
        incident.title,
        ts(incident.opened_at, f"incident {incident.id} opened_at"),
        maybe_ts(incident.resolved_at, f"incident {incident.id} resolved_at"),
        maybe_ts(incident.updated_at, f"incident {incident.id} updated_at"),
        incident.classification,
        incident.outage_seconds,
        incident.parent_key,
        to_json(dict(incident.attributes), f"incident {incident.id} attributes"),
        maybe_ts(incident.clearing_since, f"incident {incident.id} clearing_since"),
        incident.flaps,
    )


def _hydrate(db: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> list[Incident]:
    """Incidents from their rows, with resources and timeline read in a few batched queries."""
    ids = [row[0] for row in rows]
    resources: dict[str, list[str]] = {i: [] for i in ids}
    timelines: dict[str, list[Evidence]] = {i: [] for i in ids}
    for chunk in chunks(ids):
        marks = ",".join("?" * len(chunk))
        for incident_id, resource in db.execute(
            f"SELECT incident_id, resource FROM incident_resources "
            f"WHERE incident_id IN ({marks}) ORDER BY incident_id, position",
            chunk,
        ):
            resources[incident_id].append(resource)
        for incident_id, at, message, resource, source, repeats, last_at in db.execute(
            f"SELECT incident_id, at, message, resource, source, repeats, last_at FROM evidence "
            f"WHERE incident_id IN ({marks}) ORDER BY seq",
            chunk,
        ):
            entry = Evidence(dt(at), message, resource, source, repeats, maybe_dt(last_at))
            entry.stored_repeats = repeats
            timelines[incident_id].append(entry)
    return [_incident(row, tuple(resources[row[0]]), timelines[row[0]]) for row in rows]


def _incident(
    row: tuple[Any, ...], resources: tuple[str, ...], timeline: list[Evidence]
) -> Incident:
    (
        id_, key, type_, severity, status, title, opened_at, resolved_at, updated_at,
        classification, outage_seconds, parent_key, attributes, clearing_since, flaps,
    ) = row  # fmt: skip
    try:
        kind, level, state = IncidentType(type_), Severity(severity), IncidentStatus(status)
    except ValueError as exc:
        raise StoreError(
            f"incident {id_} has a value this vpnwatch does not know ({exc}); "
            "was the store written by a newer version?"
        ) from exc
    return Incident(
        key=key,
        type=kind,
        severity=level,
        title=title,
        resources=resources,
        opened_at=dt(opened_at),
        id=id_,
        status=state,
        resolved_at=maybe_dt(resolved_at),
        classification=classification,
        outage_seconds=outage_seconds,
        parent_key=parent_key,
        attributes=json.loads(attributes),
        timeline=timeline,
        updated_at=maybe_dt(updated_at),
        clearing_since=maybe_dt(clearing_since),
        flaps=flaps,
    )
