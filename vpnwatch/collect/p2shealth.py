"""Point-to-site sessions of one gateway, on demand: `getVpnclientConnectionHealth`.

A long-running POST charged as a write (plus its polls as reads), so it is never polled: it is
read when someone asks through the API, or when a gateway's `P2SConnectionCount` collapses
(`agent/p2s.py`), and at most once per `min_interval_seconds` per gateway. A request inside
that interval gets the last reading. It goes through the same lane and budget as every ARM
request; when the subscription's write budget has no token within `max_wait_seconds`, the read
is refused (`NotAffordable`) rather than queued behind the collectors.
"""

from __future__ import annotations

import asyncio
from typing import Any

from vpnwatch.clock import Clock
from vpnwatch.collect.base import (
    ArmCollector,
    CallFailed,
    name_of,
    resource_group_of,
    subscription_of,
)
from vpnwatch.collect.budget import WRITES
from vpnwatch.collect.clients import AzureClients
from vpnwatch.collect.parse import azure_time
from vpnwatch.observations import P2SSession, P2SSessionsObserved, ResourceUnknown


class NotAffordable(Exception):
    """The subscription's write budget cannot pay for the POST soon enough."""

    def __init__(self, wait_seconds: float) -> None:
        super().__init__(f"the write budget has no token for {wait_seconds:.0f} s")
        self.wait_seconds = wait_seconds


class VpnClientHealthReader(ArmCollector):
    name = "arm.p2s"
    kind = "p2s_sessions"

    def __init__(
        self,
        clients: AzureClients,
        clock: Clock,
        min_interval_seconds: float,
        max_wait_seconds: float = 5.0,
    ) -> None:
        super().__init__(clients, clock, min_interval_seconds)
        self.max_wait_seconds = max_wait_seconds
        self._last: dict[str, P2SSessionsObserved] = {}
        self._reading: dict[str, asyncio.Task[P2SSessionsObserved | ResourceUnknown]] = {}

    def last(self, gateway_id: str) -> P2SSessionsObserved | None:
        return self._last.get(gateway_id.lower())

    def fresh(self, gateway_id: str) -> P2SSessionsObserved | None:
        """The last reading when it is younger than the minimum interval."""
        held = self.last(gateway_id)
        if held is None:
            return None
        age = (self.clock.now() - held.observed_at).total_seconds()
        return held if age < self.interval_seconds else None

    async def read(self, gateway_id: str, trigger: str) -> P2SSessionsObserved | ResourceUnknown:
        """One reading (or the fresh one held); concurrent asks share one POST."""
        held = self.fresh(gateway_id)
        if held is not None:
            return held
        key = gateway_id.lower()
        task = self._reading.get(key)
        if task is None:
            wait = self.clients.budget.wait_seconds(subscription_of(gateway_id), WRITES)
            if wait > self.max_wait_seconds:
                raise NotAffordable(wait)
            task = asyncio.ensure_future(self._read(gateway_id, trigger))
            self._reading[key] = task
            task.add_done_callback(lambda _: self._reading.pop(key, None))
        return await task

    async def _read(self, gateway_id: str, trigger: str) -> P2SSessionsObserved | ResourceUnknown:
        network = self.clients.network(subscription_of(gateway_id))
        group, name = resource_group_of(gateway_id), name_of(gateway_id)
        try:
            result = await self.lro(
                f"getVpnclientConnectionHealth on gateway {gateway_id}",
                lambda: network.virtual_network_gateways.begin_get_vpnclient_connection_health(
                    group, name
                ),
            )
        except CallFailed as failed:
            return self.unknown(gateway_id, failed.failure)
        rows = (result.value if result is not None else None) or ()
        observed = P2SSessionsObserved(
            observed_at=self.clock.now(),
            source=self.name,
            gateway_id=gateway_id,
            trigger=trigger,
            sessions=tuple(_session(row) for row in rows),
        )
        self._last[gateway_id.lower()] = observed
        return observed


def _session(row: Any) -> P2SSession:
    connection_id = row.vpn_connection_id or ""
    protocol, _, _ = connection_id.partition("_")
    return P2SSession(
        connection_id=connection_id,
        protocol=protocol,
        user=row.vpn_user_name or "",
        public_address=row.public_ip_address or "",
        private_address=row.private_ip_address or "",
        connected_at=azure_time(row.vpn_connection_time),
        duration_seconds=int(row.vpn_connection_duration or 0),
        ingress_bytes=int(row.ingress_bytes_transferred or 0),
        egress_bytes=int(row.egress_bytes_transferred or 0),
    )
