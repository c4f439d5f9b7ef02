"""Values <-> the text columns the store keeps them in."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from vpnwatch.store.errors import StoreError

_CHUNK = 500  # ids per IN (...) query, well under SQLite's variable limit


def ts(value: datetime, what: str) -> str:
    """ISO-8601 UTC with a fixed width, so text order is time order."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise StoreError(f"{what} is a naive datetime; the store keeps timezone-aware UTC only")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def maybe_ts(value: datetime | None, what: str) -> str | None:
    return None if value is None else ts(value, what)


def dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


def maybe_dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def to_json(value: Any, what: str) -> str:
    try:
        # ASCII-only JSON: a lone surrogate from a hostile payload survives as an escape
        return json.dumps(value, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{what} cannot be stored as JSON: {exc}") from exc


def chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]
