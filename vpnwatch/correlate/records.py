"""Observations as JSON-able dicts and back, for the entity records the store keeps.

The fleet state must survive a restart exactly: the last observation of every resource goes into
its record, so the correlator resumes with the gateway inventory it had (the gateway collector
polls only every few minutes) instead of waiting blind for the next pass.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from datetime import datetime
from enum import Enum
from typing import Any

from vpnwatch import observations as obs_module


class RecordError(ValueError):
    """A stored record cannot be read back; the message names the record and the field."""


_OBSERVATION_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        obs_module.GatewayObserved,
        obs_module.LocalNetworkGatewayObserved,
        obs_module.ConnectionObserved,
        obs_module.BgpStatusObserved,
        obs_module.CircuitObserved,
        obs_module.AzureAlertObserved,
        obs_module.ResourceUnknown,
        obs_module.CollectionRun,
    )
}


_SCALARS = frozenset({str, int, float, bool, type(None)})


@functools.cache
def _field_names(cls: type) -> tuple[str, ...] | None:
    if not dataclasses.is_dataclass(cls):
        return None
    return tuple(f.name for f in dataclasses.fields(cls))


def encode(value: Any) -> Any:
    """A JSON-able form of an observation (or any value inside one)."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is datetime:
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    names = _field_names(kind)
    if names is not None:
        return {name: encode(getattr(value, name)) for name in names}
    if isinstance(value, tuple | list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    return value


def encode_observation(observation: obs_module.Observation) -> dict[str, Any]:
    data = encode(observation)
    data["type"] = type(observation).__name__
    return data


def decode_observation(data: dict[str, Any]) -> Any:
    type_name = data.get("type")
    cls = _OBSERVATION_TYPES.get(str(type_name))
    if cls is None:
        raise RecordError(f"unknown observation type {type_name!r} in entity record")
    return _decode_dataclass(cls, {k: v for k, v in data.items() if k != "type"})


def decode_datetime(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(obs_module))


def _decode_dataclass(cls: type, data: dict[str, Any]) -> Any:
    hints = _hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            try:
                kwargs[f.name] = _decode(hints[f.name], data[f.name])
            except (TypeError, ValueError) as exc:
                raise RecordError(f"{cls.__name__}.{f.name}: {exc}") from exc
    return cls(**kwargs)


def _decode(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin is types.UnionType or origin is typing.Union:
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _decode(options[0], value)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        return tuple(_decode(item, v) for v in value)
    if origin is dict:
        _, item = typing.get_args(hint)
        return {k: _decode(item, v) for k, v in value.items()}
    if hint is datetime:
        return datetime.fromisoformat(value)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _decode_dataclass(hint, value)
    if hint is float:
        return float(value)
    return value
