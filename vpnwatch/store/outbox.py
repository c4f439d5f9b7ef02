"""The notification outbox: what must be sent to which receiver, written in the same transaction
as the incident change that caused it, and kept until delivered (then pruned to a bounded
history) or given up on (a dead letter).

Rows are sent in `seq` order per (receiver, incident): only the oldest pending row of an incident
is due, so a resolve never overtakes its trigger. Times the delivery stage schedules by are wall
clock (unix seconds, `REAL`); `created_at` is the agent's clock, for people.

`notification_state` remembers, per (incident, receiver), what was last decided (triggered,
silenced, resolved) and the fingerprint of what was sent, so a restart neither pages again nor
forgets to resolve.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

MIGRATION: tuple[str, ...] = (
    """CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY,
        receiver TEXT NOT NULL,
        incident_id TEXT NOT NULL,
        dedup_key TEXT NOT NULL,
        event TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at TEXT NOT NULL,
        enqueued_at REAL NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        last_attempt_at REAL,
        last_error TEXT,
        answer TEXT,
        finished_at REAL
    )""",
    "CREATE INDEX outbox_due ON outbox (receiver, next_attempt_at) WHERE status = 'pending'",
    """CREATE INDEX outbox_incident_order ON outbox (receiver, incident_id, seq)
        WHERE status = 'pending'""",
    "CREATE INDEX outbox_finished ON outbox (status, finished_at)",
    """CREATE TABLE notification_state (
        incident_id TEXT NOT NULL,
        receiver TEXT NOT NULL,
        phase TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        sent_at REAL NOT NULL,
        PRIMARY KEY (incident_id, receiver)
    )""",
)


# Walking the pending rows in `seq` order stops after `limit` due ones; through the
# (receiver, next_attempt_at) index SQLite sorted every pending row on every query instead.
MIGRATION_SEQ_ORDER: tuple[str, ...] = (
    "CREATE INDEX outbox_pending_seq ON outbox (receiver, seq) WHERE status = 'pending'",
)


class OutboxStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One notification for one receiver, as the planner writes it."""

    receiver: str
    incident_id: str
    dedup_key: str
    event: str
    payload: dict[str, Any]
    created_at: str
    enqueued_at: float
    coalesce: bool = False  # a periodic re-send: skipped if one is already waiting


@dataclass(frozen=True, slots=True)
class OutboxRow:
    seq: int
    receiver: str
    incident_id: str
    dedup_key: str
    event: str
    payload: dict[str, Any]
    created_at: str
    enqueued_at: float
    status: OutboxStatus
    attempts: int
    next_attempt_at: float
    last_attempt_at: float | None
    last_error: str | None
    answer: str | None
    finished_at: float | None


@dataclass(frozen=True, slots=True)
class NotificationState:
    incident_id: str
    receiver: str
    phase: str
    fingerprint: str
    sent_at: float


_COLUMNS = (
    "seq, receiver, incident_id, dedup_key, event, payload, created_at, enqueued_at, status, "
    "attempts, next_attempt_at, last_attempt_at, last_error, answer, finished_at"
)


def write(
    db: sqlite3.Connection,
    entries: Sequence[OutboxEntry],
    states: Sequence[NotificationState],
) -> None:
    for entry in entries:
        if (
            entry.coalesce
            and db.execute(
                "SELECT 1 FROM outbox WHERE status = 'pending' AND receiver = ? "
                "AND incident_id = ?",
                (entry.receiver, entry.incident_id),
            ).fetchone()
        ):
            continue
        db.execute(
            "INSERT INTO outbox (receiver, incident_id, dedup_key, event, payload, created_at, "
            "enqueued_at, status, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
            (
                entry.receiver,
                entry.incident_id,
                entry.dedup_key,
                entry.event,
                json.dumps(entry.payload, separators=(",", ":")),
                entry.created_at,
                entry.enqueued_at,
                entry.enqueued_at,
            ),
        )
    db.executemany(
        "INSERT INTO notification_state (incident_id, receiver, phase, fingerprint, sent_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (incident_id, receiver) DO UPDATE SET "
        "phase = excluded.phase, fingerprint = excluded.fingerprint, sent_at = excluded.sent_at",
        [(s.incident_id, s.receiver, s.phase, s.fingerprint, s.sent_at) for s in states],
    )


def load_states(db: sqlite3.Connection, incident_ids: Sequence[str]) -> list[NotificationState]:
    found: list[NotificationState] = []
    for start in range(0, len(incident_ids), 500):
        chunk = incident_ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        found.extend(
            NotificationState(*row)
            for row in db.execute(
                "SELECT incident_id, receiver, phase, fingerprint, sent_at "
                f"FROM notification_state WHERE incident_id IN ({marks})",
                chunk,
            )
        )
    return found


def due(db: sqlite3.Connection, receiver: str, now: float, limit: int) -> list[OutboxRow]:
    """The oldest pending row of each incident for `receiver`, if its time has come."""
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM outbox o WHERE o.status = 'pending' AND o.receiver = ? "
        "AND +o.next_attempt_at <= ? AND NOT EXISTS (SELECT 1 FROM outbox p "
        "WHERE p.status = 'pending' AND p.receiver = o.receiver "
        "AND p.incident_id = o.incident_id AND p.seq < o.seq) ORDER BY o.seq LIMIT ?",
        (receiver, now, limit),
    ).fetchall()
    return [_row(r) for r in rows]


def next_due(db: sqlite3.Connection, receiver: str) -> float | None:
    row = db.execute(
        "SELECT MIN(next_attempt_at) FROM outbox WHERE status = 'pending' AND receiver = ?",
        (receiver,),
    ).fetchone()
    return None if row is None else row[0]


def delivered(db: sqlite3.Connection, rows: Sequence[tuple[int, str, float]]) -> None:
    """(seq, answer, at) of each delivered notification."""
    db.executemany(
        "UPDATE outbox SET status = 'delivered', attempts = attempts + 1, last_attempt_at = ?, "
        "answer = ?, finished_at = ? WHERE seq = ?",
        [(at, answer, at, seq) for seq, answer, at in rows],
    )


def retry(db: sqlite3.Connection, rows: Sequence[tuple[int, str, float, float]]) -> None:
    """(seq, error, at, next attempt at) of each notification to try again."""
    db.executemany(
        "UPDATE outbox SET attempts = attempts + 1, last_attempt_at = ?, last_error = ?, "
        "next_attempt_at = ? WHERE seq = ?",
        [(at, error, next_at, seq) for seq, error, at, next_at in rows],
    )


def dead(db: sqlite3.Connection, seq: int, error: str, at: float) -> None:
    db.execute(
        "UPDATE outbox SET status = 'dead', attempts = attempts + 1, last_attempt_at = ?, "
        "last_error = ?, finished_at = ? WHERE seq = ?",
        (at, error, at, seq),
    )


def page(
    db: sqlite3.Connection,
    *,
    status: str | None,
    receiver: str | None,
    limit: int,
    offset: int,
) -> tuple[list[OutboxRow], int]:
    where, params = [], []
    for column, value in (("status", status), ("receiver", receiver)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    total = db.execute(f"SELECT COUNT(*) FROM outbox{clause}", params).fetchone()[0]
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM outbox{clause} ORDER BY seq DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    ).fetchall()
    return [_row(r) for r in rows], total


def of_incident(db: sqlite3.Connection, incident_id: str) -> list[OutboxRow]:
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM outbox WHERE incident_id = ? ORDER BY seq", (incident_id,)
    ).fetchall()
    return [_row(r) for r in rows]


def counts(db: sqlite3.Connection) -> dict[tuple[str, str], int]:
    """Rows per (receiver, status)."""
    return {
        (receiver, status): n
        for receiver, status, n in db.execute(
            "SELECT receiver, status, COUNT(*) FROM outbox GROUP BY receiver, status"
        )
    }


def prune(db: sqlite3.Connection, keep: int) -> int:
    """Drop delivered rows beyond the newest `keep`; dead letters stay until pruned by hand."""
    cursor = db.execute(
        "DELETE FROM outbox WHERE status = 'delivered' AND seq NOT IN "
        "(SELECT seq FROM outbox WHERE status = 'delivered' ORDER BY seq DESC LIMIT ?)",
        (keep,),
    )
    return cursor.rowcount


def forget_states(db: sqlite3.Connection, incident_ids: Sequence[str]) -> None:
    db.executemany(
        "DELETE FROM notification_state WHERE incident_id = ?", [(i,) for i in incident_ids]
    )


def _row(row: tuple[Any, ...]) -> OutboxRow:
    values = list(row)
    values[5] = json.loads(values[5])
    values[8] = OutboxStatus(values[8])
    return OutboxRow(*values)
