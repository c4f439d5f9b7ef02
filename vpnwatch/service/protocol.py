"""uvicorn's HTTP/1.1 protocol with a read timeout, and the settings every vpnwatch server uses.

uvicorn closes a keep-alive connection idle *between* requests (`timeout_keep_alive`), but not
one that never sends a request, nor one that sends its headers a byte at a time: each would hold
a socket and a slot for ever. Here every request must arrive whole within `read_timeout`
seconds of the connection opening or of its first byte; otherwise the connection is closed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from vpnwatch.config import Settings


def protocol_with_read_timeout(read_timeout: float) -> type[H11Protocol]:
    class ReadTimeoutProtocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            waiting = self.conn.their_state in (h11.IDLE, h11.SEND_BODY)
            if waiting and not self.transport.is_closing():
                self._arm()  # a request is under way (or none yet): it must finish in time
            else:
                self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._disarm()  # idle again: uvicorn's keep-alive timeout applies

        def _arm(self) -> None:
            if self._deadline is None:
                self._deadline = self.loop.call_later(read_timeout, self._timed_out)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _timed_out(self) -> None:
            self._deadline = None
            answering = self.cycle is not None and not self.cycle.response_complete
            if answering and self.conn.their_state is not h11.SEND_BODY:
                return  # the whole request is in and the app is answering it
            if not self.transport.is_closing():
                self.transport.close()

    return ReadTimeoutProtocol


def uvicorn_config(
    app: ASGIApp,
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    uds: str | None = None,
    lifespan: str = "on",
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        uds=uds,
        lifespan=lifespan,
        log_config=None,
        log_level=settings.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=5,
        http=protocol_with_read_timeout(settings.service.read_timeout_seconds),
    )
