"""The messages between the front and the agent process, and how they travel.

Each message is a length-prefixed pickle on the socketpair the front created before starting
the child. Both ends are the same program and nobody else holds the socket, so pickle is safe
here and carries `Settings` and a clock as they are.
"""

from __future__ import annotations

import asyncio
import pickle
import socket
import struct
from dataclasses import dataclass
from typing import Any

from vpnwatch.config import Settings
from vpnwatch.service.published import Published

_LENGTH = struct.Struct("!I")
READ_LIMIT = 16 * 1024 * 1024  # the /metrics body of a large fleet is a few MiB


# --- front -> child -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Boot:
    """The first message: what the child runs with."""

    settings: Settings
    clock: Any | None  # a `Clock` shared with the front's caller (the benchmark's scaled clock)


@dataclass(frozen=True, slots=True)
class Scraped:
    """The front served `/metrics` from a publication: keep taking fleet snapshots."""


# --- child -> front -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Started:
    """The agent started and its app listens on the Unix socket."""


@dataclass(frozen=True, slots=True)
class StartFailed:
    """The agent could not start; `reason` is one line."""

    reason: str


@dataclass(frozen=True, slots=True)
class Publication:
    """What the probes answer from, rendered in the child, and how `/metrics` may be answered.

    `metrics_events` (the few event series, rendered) is set while the child's fleet body is
    fresh enough to serve (`ServiceMetrics.MAX_AGE_SECONDS`); the body itself travels in a
    `FleetMetrics` only when a new snapshot replaced it (`fleet_version`)."""

    answers: Published  # `/health` and `/readyz`, as the child's own app answers them
    metrics_events: bytes | None
    fleet_version: int


@dataclass(frozen=True, slots=True)
class FleetMetrics:
    """A new rendering of the fleet's series for `/metrics`."""

    version: int
    body: bytes


class Channel:
    """One end of the socketpair, on an event loop."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, sock: socket.socket) -> Channel:
        reader, writer = await asyncio.open_unix_connection(sock=sock, limit=READ_LIMIT)
        return cls(reader, writer)

    async def send(self, message: object) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        self._writer.write(_LENGTH.pack(len(data)))
        self._writer.write(data)
        await self._writer.drain()

    async def receive(self) -> object:
        """The next message; raises `EOFError` once the other end has closed."""
        try:
            header = await self._reader.readexactly(_LENGTH.size)
            data = await self._reader.readexactly(_LENGTH.unpack(header)[0])
        except asyncio.IncompleteReadError as exc:
            raise EOFError("the other process closed the channel") from exc
        return pickle.loads(data)

    def close(self) -> None:
        self._writer.close()
