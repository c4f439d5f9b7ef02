"""When to read a gateway's point-to-site sessions: on demand from the API, and once when its
connected users collapse (a `p2s_sessions_lost` incident opens). The reading goes through the
correlator like any observation, so the gateway's page and the incident show it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from vpnwatch.collect.p2shealth import NotAffordable, VpnClientHealthReader
from vpnwatch.correlate import CorrelationResult
from vpnwatch.incidents import IncidentType
from vpnwatch.observations import Observation, P2SSessionsObserved, ResourceUnknown
from vpnwatch.tasks import cancel_and_wait

log = logging.getLogger("vpnwatch.agent")

Submit = Callable[[Sequence[Observation]], Awaitable[object]]


class P2SSessionReads:
    def __init__(self, reader: VpnClientHealthReader, submit: Submit, *, on_collapse: bool) -> None:
        self.reader = reader
        self._submit = submit
        self._on_collapse = on_collapse
        self._tasks: set[asyncio.Task[None]] = set()

    async def read(self, gateway_id: str, trigger: str) -> P2SSessionsObserved | ResourceUnknown:
        """Read (or reuse a fresh reading) and hand it to the correlator."""
        held = self.reader.fresh(gateway_id)
        if held is not None:
            return held
        observed = await self.reader.read(gateway_id, trigger)
        if isinstance(observed, P2SSessionsObserved):  # a failed read is the caller's answer,
            await self._submit([observed])  # never the gateway's health
        return observed

    def on_step(self, result: CorrelationResult) -> None:
        """A listener: a newly opened `p2s_sessions_lost` asks for one reading."""
        if not self._on_collapse:
            return
        for incident in result.opened:
            if incident.type is IncidentType.P2S_SESSIONS_LOST and incident.resources:
                task = asyncio.create_task(self._collapse(incident.resources[0]))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _collapse(self, gateway_id: str) -> None:
        try:
            await self.read(gateway_id, "collapse")
        except NotAffordable as exc:
            log.info("P2S sessions of %s not read after the collapse: %s", gateway_id, exc)
        except Exception:
            log.exception("reading the P2S sessions of %s failed", gateway_id)

    async def settle(self) -> None:
        """Wait for the readings in flight (the stepped replay and tests)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
