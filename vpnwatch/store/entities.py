"""The correlator's entity records: one JSON document per entity, replaced whole."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence

from vpnwatch.store.codec import to_json


def write_records(
    db: sqlite3.Connection, records: Mapping[str, dict], removed: Sequence[str]
) -> None:
    """Replace `records` whole, then delete `removed`, so an id in both ends up removed."""
    rows = [(eid, to_json(rec, f"the record of entity {eid}")) for eid, rec in records.items()]
    db.executemany(
        "INSERT INTO entity_records (entity_id, record) VALUES (?, ?) "
        "ON CONFLICT (entity_id) DO UPDATE SET record = excluded.record",
        rows,
    )
    db.executemany("DELETE FROM entity_records WHERE entity_id = ?", [(e,) for e in removed])


def load_records(db: sqlite3.Connection) -> dict[str, dict]:
    rows = db.execute("SELECT entity_id, record FROM entity_records").fetchall()
    return {entity_id: json.loads(record) for entity_id, record in rows}
