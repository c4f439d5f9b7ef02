"""Tolerant readers for the loosely typed values Azure puts on the wire.

Azure documents several of these fields only as "string" (tunnel timestamps, BGP durations,
ExpressRoute prefix counts) and their exact format varies between API versions and tools. A value
that cannot be read becomes None or `Unknown`, never an exception that would hide the rest of
the resource.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from vpnwatch.observations import BgpPeerState, ConnectionStatus


def text(value: Any) -> str:
    """The wire string of a value that the SDK may hand back as a str-enum or a plain str."""
    if value is None:
        return ""
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def as_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def connection_status(value: Any) -> ConnectionStatus:
    wanted = text(value).strip().lower()
    for status in ConnectionStatus:
        if status.value.lower() == wanted:
            return status
    return ConnectionStatus.UNKNOWN


def bgp_peer_state(value: Any) -> BgpPeerState:
    wanted = text(value).strip().lower()
    for state in BgpPeerState:
        if state.value.lower() == wanted:
            return state
    return BgpPeerState.UNKNOWN


_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?$")


def timespan_seconds(value: Any) -> float | None:
    """A .NET TimeSpan ("d.hh:mm:ss.fffffff" or "hh:mm:ss[.fffffff]") in seconds."""
    match = _TIMESPAN.match(text(value).strip())
    if match is None:
        return None
    days, hours, minutes, seconds, fraction = match.groups()
    total = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    return total + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


_FRACTION = re.compile(r"(\.\d{6})\d+")
_LOCAL_FORMATS = (
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %H:%M",
    "%Y-%m-%d %H:%M:%S",
)


def utc_timestamp(value: Any) -> datetime | None:
    """A timestamp as Azure prints it: ISO 8601 (up to 7 fraction digits, with or without a
    zone) or the US-style "11/04/2017 17:03:30". Zone-less values are UTC, as the field names
    (`...UtcTime`) say. .NET's `DateTime.MinValue` (never connected) reads as None."""
    if isinstance(value, datetime):
        parsed = value
    else:
        raw = text(value).strip()
        if not raw:
            return None
        parsed = _parse(raw)
        if parsed is None:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    parsed = parsed.astimezone(UTC)
    return None if parsed.year <= 1 else parsed


def _parse(raw: str) -> datetime | None:
    iso = _FRACTION.sub(r"\1", raw)
    if iso.endswith(("Z", "z")):
        iso = iso[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        pass
    for fmt in _LOCAL_FORMATS:
        try:
            return datetime.strptime(raw, fmt)
        except ValueError:
            continue
    return None


def tags(value: Any) -> tuple[tuple[str, str], ...]:
    """A resource's `tags` (a dict, or None when Azure leaves the key out) as sorted pairs."""
    if not isinstance(value, dict):
        return ()
    return tuple(sorted((str(k), "" if v is None else str(v)) for k, v in value.items()))


def azure_time(value: Any) -> datetime | None:
    """A time Azure sends as text ("2025-01-01T00:00:00Z", or "2019-05-02T22:26:22" without a
    zone, which is UTC) or the SDK already parsed; None when absent or unreadable."""
    if value is None or value == "":
        return None
    if not isinstance(value, datetime):
        try:
            value = datetime.fromisoformat(str(value).strip())
        except ValueError:
            return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
