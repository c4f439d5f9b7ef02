"""The store: incidents with their timelines, the correlator's entity records, inbound alerts.

Everything durable sits behind this one module, so a PostgreSQL store for an HA pair can follow
with the same API. SQLite runs in WAL mode with `synchronous=FULL`: NORMAL already survives a
`kill -9` (the WAL is in the OS page cache), but FULL also survives a kernel crash or power loss,
and that matters because the webhook answers Azure Monitor 202 only after `record_alert`, which
tells Azure not to retry. At one commit per correlation cycle or alert, the extra fsync is cheap.

One connection, guarded by a lock. Every call is short, so asyncio code may call it directly or
through `asyncio.to_thread(store.apply, ...)`; both are safe.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from vpnwatch.incidents import Evidence, Incident, IncidentStatus, IncidentType, Severity

MEMORY = ":memory:"

# Each entry is one schema version: the SQL statements that take the previous version to it.
# Append new versions at the end; never edit a released one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # version 1
        """CREATE TABLE incidents (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            key TEXT NOT NULL,
            type TEXT NOT NULL,
            severity TEXT NOT NULL,
            status TEXT NOT NULL,
            title TEXT NOT NULL,
            opened_at TEXT NOT NULL,
            resolved_at TEXT,
            updated_at TEXT,
            classification TEXT,
            outage_seconds REAL,
            parent_key TEXT,
            attributes TEXT NOT NULL,
            clearing_since TEXT,
            flaps INTEGER NOT NULL
        )""",
        "CREATE INDEX incidents_opened ON incidents (opened_at)",
        "CREATE INDEX incidents_status ON incidents (status, opened_at)",
        "CREATE INDEX incidents_type ON incidents (type, opened_at)",
        "CREATE INDEX incidents_severity ON incidents (severity, opened_at)",
        "CREATE INDEX incidents_key ON incidents (key)",
        "CREATE INDEX incidents_parent ON incidents (parent_key, opened_at)",
        """CREATE TABLE incident_resources (
            incident_id TEXT NOT NULL REFERENCES incidents (id),
            position INTEGER NOT NULL,
            resource TEXT NOT NULL,
            resource_folded TEXT NOT NULL,
            PRIMARY KEY (incident_id, position)
        )""",
        "CREATE INDEX incident_resources_folded ON incident_resources (resource_folded)",
        """CREATE TABLE evidence (
            seq INTEGER PRIMARY KEY,
            incident_id TEXT NOT NULL REFERENCES incidents (id),
            at TEXT NOT NULL,
            message TEXT NOT NULL,
            resource TEXT,
            source TEXT
        )""",
        # None and "" both mean "no resource" for de-duplication.
        """CREATE UNIQUE INDEX evidence_unique
            ON evidence (incident_id, at, message, IFNULL(resource, ''))""",
        """CREATE TRIGGER evidence_no_update BEFORE UPDATE ON evidence
            BEGIN SELECT RAISE(ABORT, 'evidence is append-only'); END""",
        """CREATE TRIGGER evidence_no_delete BEFORE DELETE ON evidence
            BEGIN SELECT RAISE(ABORT, 'evidence is append-only'); END""",
        """CREATE TABLE entity_records (
            entity_id TEXT PRIMARY KEY,
            record TEXT NOT NULL
        )""",
        """CREATE TABLE alerts (
            alert_id TEXT PRIMARY KEY,
            received_at TEXT NOT NULL,
            payload TEXT NOT NULL,
            processed INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX alerts_unprocessed ON alerts (received_at) WHERE processed = 0",
        """CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )""",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)

_NO_RECORDS: Mapping[str, dict] = MappingProxyType({})
_CHUNK = 500  # ids per IN (...) query, well under SQLite's variable limit

_INCIDENT_COLUMNS = (
    "id, key, type, severity, status, title, opened_at, resolved_at, updated_at, classification, "
    "outage_seconds, parent_key, attributes, clearing_since, flaps"
)


class StoreError(Exception):
    """The store cannot be opened or used: the message says which file and what to do."""


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """An Azure Monitor alert as received on the webhook, kept until the correlator has seen it."""

    alert_id: str
    received_at: datetime
    payload: dict[str, Any]
    processed: bool = False


class Store:
    """SQLite-backed persistence. Open with `Store.open(path)`; close with `close()` or `with`."""

    def __init__(self, connection: sqlite3.Connection, path: str, schema_version: int) -> None:
        self._db: sqlite3.Connection | None = connection
        self._lock = threading.Lock()
        self.path = path
        self.schema_version = schema_version

    # --- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path) -> Store:
        """Open (creating if needed) the store at `path`, migrating it to the current schema.

        `":memory:"` gives a private in-memory store, for tests.
        """
        where = str(path)
        if where != MEMORY:
            target = Path(path)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the directory for the store {where}: {exc.strerror}"
                ) from exc
        try:
            db = sqlite3.connect(where, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store {where}: {exc}") from exc
        try:
            db.execute("PRAGMA busy_timeout = 5000")
            if where != MEMORY:
                mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError(f"{where}: SQLite refused WAL mode (got {mode!r})")
            db.execute("PRAGMA synchronous = FULL")
            db.execute("PRAGMA foreign_keys = ON")
            version = _migrate(db, where)
        except sqlite3.OperationalError as exc:
            db.close()
            if "locked" not in str(exc):
                raise StoreError(f"cannot open the store {where}: {exc}") from exc
            raise StoreError(
                f"{where} is locked by another process (is a second vpnwatch using it?)"
            ) from exc
        except sqlite3.DatabaseError as exc:
            db.close()
            raise StoreError(
                f"{where} is not a usable vpnwatch store ({exc}); "
                "point store.path at another file or restore a backup"
            ) from exc
        except BaseException:
            db.close()
            raise
        return cls(db, where, version)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- incidents and entity records --------------------------------------------------------

    def apply(
        self,
        *,
        incidents: Sequence[Incident] = (),
        entity_records: Mapping[str, dict] = _NO_RECORDS,
        removed_entities: Sequence[str] = (),
    ) -> None:
        """Write one correlation cycle atomically: all of it is committed, or none of it.

        Incidents are upserted by `id` (every field replaced) and their timelines appended to:
        evidence already stored is kept even if absent from `timeline`, and an entry equal on
        (at, message, resource) to a stored one is not added twice. Entity records are replaced
        whole; `removed_entities` are deleted last, so an id in both ends up removed.
        """
        incident_rows = [_incident_row(i) for i in incidents]
        record_rows = [(eid, _record_json(eid, rec)) for eid, rec in entity_records.items()]
        with self._transaction() as db:
            for incident, row in zip(incidents, incident_rows, strict=True):
                db.execute(
                    f"INSERT INTO incidents ({_INCIDENT_COLUMNS}) "
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
                db.executemany(
                    "INSERT INTO evidence (incident_id, at, message, resource, source) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    [
                        (incident.id, _ts(e.at, "evidence.at"), e.message, e.resource, e.source)
                        for e in incident.timeline
                    ],
                )
            db.executemany(
                "INSERT INTO entity_records (entity_id, record) VALUES (?, ?) "
                "ON CONFLICT (entity_id) DO UPDATE SET record = excluded.record",
                record_rows,
            )
            db.executemany(
                "DELETE FROM entity_records WHERE entity_id = ?", [(e,) for e in removed_entities]
            )

    def load_open_incidents(self) -> list[Incident]:
        """Every open incident with its full timeline, oldest first: what a restart resumes."""
        with self._reading() as db:
            rows = db.execute(
                f"SELECT {_INCIDENT_COLUMNS} FROM incidents WHERE status = ? "
                "ORDER BY opened_at, seq",
                (IncidentStatus.OPEN.value,),
            ).fetchall()
            return _hydrate(db, rows)

    def load_entity_records(self) -> dict[str, dict]:
        with self._reading() as db:
            rows = db.execute("SELECT entity_id, record FROM entity_records").fetchall()
        return {entity_id: json.loads(record) for entity_id, record in rows}

    def get_incident(self, incident_id: str) -> Incident | None:
        with self._reading() as db:
            rows = db.execute(
                f"SELECT {_INCIDENT_COLUMNS} FROM incidents WHERE id = ?", (incident_id,)
            ).fetchall()
            found = _hydrate(db, rows)
        return found[0] if found else None

    def children(self, incident: Incident) -> list[Incident]:
        """Incidents grouped under `incident` (their `parent_key` is its key), oldest first.

        A key is reused once an incident resolves, so only children whose lifetime overlaps the
        parent's count: opened before the parent resolved, and not resolved before it opened.
        That includes children opened during the parent's lifetime, and those (typical for a
        zone outage) that opened a little earlier and were still open when it was decided.
        """
        params: list[Any] = [incident.key, incident.id, _ts(incident.opened_at, "opened_at")]
        sql = (
            f"SELECT {_INCIDENT_COLUMNS} FROM incidents WHERE parent_key = ? AND id != ? "
            "AND (resolved_at IS NULL OR resolved_at >= ?)"
        )
        if incident.resolved_at is not None:
            sql += " AND opened_at <= ?"
            params.append(_ts(incident.resolved_at, "resolved_at"))
        with self._reading() as db:
            rows = db.execute(sql + " ORDER BY opened_at, seq", params).fetchall()
            return _hydrate(db, rows)

    def list_incidents(
        self,
        *,
        status: str | None = None,
        type: str | None = None,
        severity: str | None = None,
        resource: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Incident], int]:
        """One page of incidents, newest opened first, and how many match in all.

        `resource` matches any of an incident's resources, exactly but ignoring case (Azure
        resource ids are case-insensitive).
        """
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must not be negative")
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
        with self._reading() as db:
            total = db.execute(f"SELECT COUNT(*) FROM incidents{clause}", params).fetchone()[0]
            rows = db.execute(
                f"SELECT {_INCIDENT_COLUMNS} FROM incidents{clause} "
                "ORDER BY opened_at DESC, seq DESC LIMIT ? OFFSET ?",
                [*params, limit, offset],
            ).fetchall()
            return _hydrate(db, rows), total

    # --- inbound alerts ----------------------------------------------------------------------

    def record_alert(self, alert_id: str, received_at: datetime, payload: dict) -> bool:
        """Persist an inbound alert before the webhook answers; False if `alert_id` is known.

        Azure Monitor retries a webhook it thinks failed, so the same alert may arrive twice.
        """
        row = (alert_id, _ts(received_at, "received_at"), _json(payload, f"alert {alert_id}"))
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO alerts (alert_id, received_at, payload) VALUES (?, ?, ?) "
                "ON CONFLICT (alert_id) DO NOTHING",
                row,
            )
            return cursor.rowcount == 1

    def unprocessed_alerts(self) -> list[StoredAlert]:
        """Alerts the correlator has not taken yet, in the order they were received."""
        with self._reading() as db:
            rows = db.execute(
                "SELECT alert_id, received_at, payload, processed FROM alerts "
                "WHERE processed = 0 ORDER BY received_at, rowid"
            ).fetchall()
        return [_alert(row) for row in rows]

    def mark_alerts_processed(self, alert_ids: Sequence[str]) -> None:
        with self._transaction() as db:
            db.executemany(
                "UPDATE alerts SET processed = 1 WHERE alert_id = ?", [(a,) for a in alert_ids]
            )

    def get_alert(self, alert_id: str) -> StoredAlert | None:
        with self._reading() as db:
            row = db.execute(
                "SELECT alert_id, received_at, payload, processed FROM alerts WHERE alert_id = ?",
                (alert_id,),
            ).fetchone()
        return _alert(row) if row else None

    # --- metadata ----------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self._reading() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # --- plumbing ----------------------------------------------------------------------------

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._connection()
            except sqlite3.Error as exc:
                raise StoreError(f"reading the store {self.path} failed: {exc}") from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; on any failure nothing of it stays, and the error says why."""
        with self._lock:
            db = self._connection()
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
            except (sqlite3.Error, UnicodeEncodeError) as exc:
                raise StoreError(f"writing to the store {self.path} failed: {exc}") from exc

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError(f"the store {self.path} is closed")
        return self._db


# --- schema ----------------------------------------------------------------------------------


def _migrate(db: sqlite3.Connection, where: str) -> int:
    """Bring the schema to SCHEMA_VERSION in one transaction; refuse a newer schema."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            "version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        current = db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{where} has store schema version {current}, but this vpnwatch knows only up "
                f"to version {SCHEMA_VERSION}: run a newer vpnwatch, or point store.path at "
                "another file"
            )
        now = _ts(datetime.now(UTC), "applied_at")
        for version in range(current + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[version - 1]:
                db.execute(statement)
            db.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (version, now)
            )
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return SCHEMA_VERSION


# --- rows <-> objects ------------------------------------------------------------------------


def _ts(value: datetime, what: str) -> str:
    """ISO-8601 UTC with a fixed width, so text order is time order."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise StoreError(f"{what} is a naive datetime; the store keeps timezone-aware UTC only")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _maybe_ts(value: datetime | None, what: str) -> str | None:
    return None if value is None else _ts(value, what)


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _maybe_dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _json(value: Any, what: str) -> str:
    try:
        # ASCII-only JSON: a lone surrogate from a hostile payload survives as an escape
        return json.dumps(value, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{what} cannot be stored as JSON: {exc}") from exc


def _record_json(entity_id: str, record: dict) -> str:
    return _json(record, f"the record of entity {entity_id}")


def _incident_row(incident: Incident) -> tuple[Any, ...]:
    return (
        incident.id,
        incident.key,
        IncidentType(incident.type).value,
        Severity(incident.severity).value,
        IncidentStatus(incident.status).value,
        incident.title,
        _ts(incident.opened_at, f"incident {incident.id} opened_at"),
        _maybe_ts(incident.resolved_at, f"incident {incident.id} resolved_at"),
        _maybe_ts(incident.updated_at, f"incident {incident.id} updated_at"),
        incident.classification,
        incident.outage_seconds,
        incident.parent_key,
        _json(dict(incident.attributes), f"incident {incident.id} attributes"),
        _maybe_ts(incident.clearing_since, f"incident {incident.id} clearing_since"),
        incident.flaps,
    )


def _hydrate(db: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> list[Incident]:
    """Incidents from their rows, with resources and timeline read in a few batched queries."""
    ids = [row[0] for row in rows]
    resources: dict[str, list[str]] = {i: [] for i in ids}
    timelines: dict[str, list[Evidence]] = {i: [] for i in ids}
    for chunk in _chunks(ids):
        marks = ",".join("?" * len(chunk))
        for incident_id, resource in db.execute(
            f"SELECT incident_id, resource FROM incident_resources "
            f"WHERE incident_id IN ({marks}) ORDER BY incident_id, position",
            chunk,
        ):
            resources[incident_id].append(resource)
        for incident_id, at, message, resource, source in db.execute(
            f"SELECT incident_id, at, message, resource, source FROM evidence "
            f"WHERE incident_id IN ({marks}) ORDER BY seq",
            chunk,
        ):
            timelines[incident_id].append(Evidence(_dt(at), message, resource, source))
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
        opened_at=_dt(opened_at),
        id=id_,
        status=state,
        resolved_at=_maybe_dt(resolved_at),
        classification=classification,
        outage_seconds=outage_seconds,
        parent_key=parent_key,
        attributes=json.loads(attributes),
        timeline=timeline,
        updated_at=_maybe_dt(updated_at),
        clearing_since=_maybe_dt(clearing_since),
        flaps=flaps,
    )


def _alert(row: tuple[Any, ...]) -> StoredAlert:
    alert_id, received_at, payload, processed = row
    return StoredAlert(alert_id, _dt(received_at), json.loads(payload), bool(processed))


def _chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]
