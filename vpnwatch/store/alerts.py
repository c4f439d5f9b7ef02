"""Inbound Azure Monitor alerts, kept from the webhook's answer until the correlator took them."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vpnwatch.store.codec import dt, to_json, ts


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """An Azure Monitor alert as received on the webhook, kept until the correlator has seen it."""

    alert_id: str
    received_at: datetime
    payload: dict[str, Any]
    processed: bool = False


_COLUMNS = "alert_id, received_at, payload, processed"


def record(db: sqlite3.Connection, alert_id: str, received_at: datetime, payload: dict) -> bool:
    """Insert the alert; False if `alert_id` is known."""
    row = (alert_id, ts(received_at, "received_at"), to_json(payload, f"alert {alert_id}"))
    cursor = db.execute(
        "INSERT INTO alerts (alert_id, received_at, payload) VALUES (?, ?, ?) "
        "ON CONFLICT (alert_id) DO NOTHING",
        row,
    )
    return cursor.rowcount == 1


def unprocessed(db: sqlite3.Connection) -> list[StoredAlert]:
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM alerts WHERE processed = 0 ORDER BY received_at, rowid"
    ).fetchall()
    return [_alert(row) for row in rows]


def mark_processed(db: sqlite3.Connection, alert_ids: Sequence[str]) -> None:
    db.executemany("UPDATE alerts SET processed = 1 WHERE alert_id = ?", [(a,) for a in alert_ids])


def get(db: sqlite3.Connection, alert_id: str) -> StoredAlert | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM alerts WHERE alert_id = ?", (alert_id,)).fetchone()
    return _alert(row) if row else None


def _alert(row: tuple[Any, ...]) -> StoredAlert:
    alert_id, received_at, payload, processed = row
    return StoredAlert(alert_id, dt(received_at), json.loads(payload), bool(processed))
