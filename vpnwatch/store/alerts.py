"""Inbound Azure Monitor alerts, kept from the webhook's answer until the correlator took them.

An alert is known by its `alertId` and its monitor condition: Azure Monitor sends the Resolved
notification of an alert with the id of the Fired one
(https://learn.microsoft.com/azure/azure-monitor/alerts/alerts-common-schema), so the id alone
would drop every Resolved.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vpnwatch.store.codec import dt, to_json, ts

FIRED = "Fired"
AlertKey = tuple[str, str]  # (alertId, monitorCondition)


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """An Azure Monitor alert as received on the webhook, kept until the correlator has seen it."""

    alert_id: str
    received_at: datetime
    payload: dict[str, Any]
    processed: bool = False
    condition: str = FIRED

    @property
    def key(self) -> AlertKey:
        return (self.alert_id, self.condition)


_COLUMNS = "alert_id, condition, received_at, payload, processed"


def record(
    db: sqlite3.Connection, alert_id: str, condition: str, received_at: datetime, payload: dict
) -> bool:
    """Insert the alert; False if it is known with this condition."""
    row = (
        alert_id,
        condition,
        ts(received_at, "received_at"),
        to_json(payload, f"alert {alert_id}"),
    )
    cursor = db.execute(
        "INSERT INTO alerts (alert_id, condition, received_at, payload) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (alert_id, condition) DO NOTHING",
        row,
    )
    return cursor.rowcount == 1


def unprocessed(db: sqlite3.Connection) -> list[StoredAlert]:
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM alerts WHERE processed = 0 ORDER BY received_at, rowid"
    ).fetchall()
    return [_alert(row) for row in rows]


def mark_processed(db: sqlite3.Connection, keys: Sequence[AlertKey]) -> None:
    db.executemany(
        "UPDATE alerts SET processed = 1 WHERE alert_id = ? AND condition = ?",
        [tuple(k) for k in keys],
    )


def get(db: sqlite3.Connection, alert_id: str, condition: str) -> StoredAlert | None:
    row = db.execute(
        f"SELECT {_COLUMNS} FROM alerts WHERE alert_id = ? AND condition = ?",
        (alert_id, condition),
    ).fetchone()
    return _alert(row) if row else None


def _alert(row: tuple[Any, ...]) -> StoredAlert:
    alert_id, condition, received_at, payload, processed = row
    return StoredAlert(alert_id, dt(received_at), json.loads(payload), bool(processed), condition)


def prune(db: sqlite3.Connection, before: datetime) -> int:
    """Delete alerts the correlator has taken that were received before `before`."""
    cursor = db.execute(
        "DELETE FROM alerts WHERE processed = 1 AND received_at < ?", (ts(before, "before"),)
    )
    return cursor.rowcount
