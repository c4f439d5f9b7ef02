"""How far the diagnostic-log collector has read each workspace, so a restart neither skips nor
repeats a row.

Resource logs reach a workspace minutes after they happen, out of order, so "the newest
TimeGenerated read" alone would skip a row that lands late with an older time. The collector
therefore rereads an overlap behind that high-water mark and keeps the keys of the rows it has
already taken inside the overlap; both are stored here, in one row per source.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime

from vpnwatch.store.codec import dt, maybe_dt, maybe_ts, to_json, ts
from vpnwatch.store.errors import StoreError

MIGRATION: tuple[str, ...] = (
    """CREATE TABLE log_watermarks (
        source TEXT PRIMARY KEY,
        high TEXT,
        seen TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
)


@dataclass
class LogWatermark:
    """`high`: the newest TimeGenerated taken; `seen`: row keys taken inside the overlap, with
    their TimeGenerated (pruned as the overlap moves on)."""

    source: str
    high: datetime | None = None
    seen: dict[str, datetime] = field(default_factory=dict)


def load(db: sqlite3.Connection, source: str) -> LogWatermark | None:
    row = db.execute("SELECT high, seen FROM log_watermarks WHERE source = ?", (source,)).fetchone()
    if row is None:
        return None
    try:
        seen = {key: dt(at) for key, at in json.loads(row[1]).items()}
    except (ValueError, TypeError, AttributeError) as exc:
        raise StoreError(f"log watermark of {source} is unreadable: {exc}") from exc
    return LogWatermark(source, maybe_dt(row[0]), seen)


def save(db: sqlite3.Connection, watermark: LogWatermark, now: datetime) -> None:
    seen = {key: ts(at, "log row time") for key, at in watermark.seen.items()}
    db.execute(
        "INSERT INTO log_watermarks (source, high, seen, updated_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (source) DO UPDATE SET high = excluded.high, seen = excluded.seen, "
        "updated_at = excluded.updated_at",
        (
            watermark.source,
            maybe_ts(watermark.high, "log watermark"),
            to_json(seen, "log watermark keys"),
            ts(now, "updated_at"),
        ),
    )
