"""Schema versions and the migration that takes a store file to the current one.

Each entry of MIGRATIONS is one schema version: the SQL statements that take the previous
version to it. Append new versions at the end; never edit a released one. A module that owns new
tables (the outbox, log watermarks) adds its own version here.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from vpnwatch.store import incidents, outbox, silences, watermarks
from vpnwatch.store.codec import ts
from vpnwatch.store.errors import StoreError

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
    (  # version 2: Azure Monitor reuses an alert's id when it resolves; key on both
        """CREATE TABLE alerts_by_condition (
            alert_id TEXT NOT NULL,
            condition TEXT NOT NULL,
            received_at TEXT NOT NULL,
            payload TEXT NOT NULL,
            processed INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (alert_id, condition)
        )""",
        """INSERT INTO alerts_by_condition
            SELECT alert_id,
                COALESCE(json_extract(payload, '$.data.essentials.monitorCondition'), 'Fired'),
                received_at, payload, processed
            FROM alerts ORDER BY rowid""",
        "DROP TABLE alerts",
        "ALTER TABLE alerts_by_condition RENAME TO alerts",
        "CREATE INDEX alerts_unprocessed ON alerts (received_at) WHERE processed = 0",
        "CREATE INDEX alerts_received ON alerts (received_at)",
    ),
    (*outbox.MIGRATION, *silences.MIGRATION),  # version 3: notification outbox, silences
    watermarks.MIGRATION,  # version 4: how far the diagnostic-log collector has read
    outbox.MIGRATION_SEQ_ORDER,  # version 5: due notifications in order, without a sort
    incidents.MIGRATION_BOUNDED_TIMELINES,  # version 6: evidence counts repeats; retention
)

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(db: sqlite3.Connection, where: str) -> int:
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
        now = ts(datetime.now(UTC), "applied_at")
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
