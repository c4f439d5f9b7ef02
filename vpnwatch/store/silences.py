"""Silences created through the API (those in the config file live in the settings)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

MIGRATION: tuple[str, ...] = (
    """CREATE TABLE silences (
        id TEXT PRIMARY KEY,
        matchers TEXT NOT NULL,
        starts_at TEXT NOT NULL,
        ends_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        comment TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expired_at TEXT
    )""",
)


@dataclass(frozen=True, slots=True)
class StoredSilence:
    id: str
    matchers: list[dict[str, Any]]
    starts_at: str
    ends_at: str
    created_by: str
    comment: str
    created_at: str
    expired_at: str | None = None


_COLUMNS = "id, matchers, starts_at, ends_at, created_by, comment, created_at, expired_at"


def add(db: sqlite3.Connection, silence: StoredSilence) -> None:
    db.execute(
        f"INSERT INTO silences ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            silence.id,
            json.dumps(silence.matchers, separators=(",", ":")),
            silence.starts_at,
            silence.ends_at,
            silence.created_by,
            silence.comment,
            silence.created_at,
            silence.expired_at,
        ),
    )


def expire(db: sqlite3.Connection, silence_id: str, at: str) -> bool:
    cursor = db.execute(
        "UPDATE silences SET expired_at = ? WHERE id = ? AND expired_at IS NULL", (at, silence_id)
    )
    return cursor.rowcount == 1


def all_(db: sqlite3.Connection) -> list[StoredSilence]:
    rows = db.execute(f"SELECT {_COLUMNS} FROM silences ORDER BY created_at, id").fetchall()
    return [_silence(r) for r in rows]


def _silence(row: tuple[Any, ...]) -> StoredSilence:
    values = list(row)
    values[1] = json.loads(values[1])
    return StoredSilence(*values)
