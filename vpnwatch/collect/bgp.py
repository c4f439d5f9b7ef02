"""BGP peer status of every BGP-enabled VPN gateway.

`getBgpPeerStatus` is a long-running POST (202, then polls), and it is the only place Azure
shows per-instance BGP sessions. The gateway list it needs is one cheap call per resource group,
so this collector lists gateways itself instead of depending on the inventory collector's timing.

The POST is charged as a write and each poll as a read, so BGP status is the most expensive
signal and comes last: the read planner picks the gateways each pass may afford, those whose
connections just changed first (the connection collector heats them), the rest in a slow
rotation. Waits between polls hold no slot (`lanes.py`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from azure.core.polling.base_polling import LocationPolling
from azure.mgmt.core.polling.async_arm_polling import AsyncARMPolling

from vpnwatch.collect.base import ArmCollector, GroupResult, RunMemo, Scope, name_of
from vpnwatch.collect.parse import as_int, bgp_peer_state, text, timespan_seconds
from vpnwatch.collect.planner import Candidate, Cost
from vpnwatch.observations import BgpPeerObserved, BgpStatusObserved, Observation

LRO_READS = 2.0  # what one getBgpPeerStatus costs in reads: a poll while it runs, the result


class BgpCollector(ArmCollector):
    name = "arm.bgp"
    kind = "bgp"

    async def collect_group(self, scope: Scope, resource_group: str, memo: RunMemo) -> GroupResult:
        network = self.clients.network(scope.subscription_id)
        gateways = await self.list_kept(
            scope,
            resource_group,
            memo,
            f"list virtual network gateways in resource group {resource_group}",
            lambda: network.virtual_network_gateways.list(resource_group),
        )
        speakers = [gw for gw in gateways if _speaks_bgp(gw)]
        memo.later.extend((resource_group, gw) for gw in speakers)
        return GroupResult(resource_ids=[gw.id for gw in speakers])

    async def finish(self, scope: Scope, memo: RunMemo, groups: int) -> list[Observation]:
        """POST getBgpPeerStatus on the gateways the planner picks for this pass."""
        listed = {gw.id.lower(): (group, gw) for group, gw in memo.later}
        # the POST's result comes after its polls: each read starts that much sooner
        lead = LRO_READS * self.clients.settings.collectors.lro_poll_interval_seconds
        plan = self.clients.planner.plan(
            self.name,
            scope.subscription_id,
            [Candidate(gw.id, gw.id) for _, gw in memo.later],
            self.interval_seconds,
            Cost(
                reads=LRO_READS,
                writes=1.0,
                fixed_reads=self.list_cost(scope, memo, groups),
                lead=lead,
            ),
            pass_seconds=self.pass_seconds,
        )
        network = self.clients.network(scope.subscription_id)
        chosen = [listed[rid.lower()] for rid in plan.read]

        def reading(group: str, gw: Any) -> Callable[[], Awaitable[Observation]]:
            return lambda: self.guarded(
                gw.id, f"read BGP peer status of gateway {gw.id}", self._status(network, group, gw)
            )

        reads = [reading(group, gw) for group, gw in chosen]
        return await self.as_read(self.paced(reads, plan, lead))

    def promise(self, scope: Scope) -> float | None:
        return self.clients.planner.promise(self.name, scope.subscription_id)

    async def _status(self, network: Any, resource_group: str, gateway: Any) -> BgpStatusObserved:
        name = gateway.name or name_of(gateway.id)
        try:
            result = await self.lro(
                f"getBgpPeerStatus on gateway {gateway.id}",
                lambda: network.virtual_network_gateways.begin_get_bgp_peer_status(
                    resource_group, name, polling=self._location_polling()
                ),
            )
        except Exception:
            self.clients.planner.missed(self.name, gateway.id)
            raise
        rows = (result.value if result is not None else None) or ()
        observed = BgpStatusObserved(
            observed_at=self.clock.now(),
            source=self.name,
            gateway_id=gateway.id,
            peers=tuple(_peer(row) for row in rows),
        )
        signature = tuple(sorted((p.local_address, p.neighbor, p.state) for p in observed.peers))
        if self.clients.planner.record(self.name, gateway.id, signature, group=gateway.id):
            self.changed(gateway.id)
        return observed

    def _location_polling(self) -> AsyncARMPolling:
        """Poll the operation's `Location`, not its `Azure-AsyncOperation` status monitor.

        ARM answers 202 on the Location URL while the operation runs and 200 with the result
        once it is done (Azure Resource Manager RPC, "Asynchronous operations": 202 Accepted
        and Location headers). The status monitor says only "Succeeded", and the result then
        costs one GET more: three reads per BGP status instead of two, on the most expensive
        signal there is."""
        interval = self.clients.settings.collectors.lro_poll_interval_seconds
        return AsyncARMPolling(interval, lro_algorithms=[LocationPolling()])


def _speaks_bgp(gateway: Any) -> bool:
    props = gateway.properties
    return (
        props is not None and bool(props.enable_bgp) and text(props.gateway_type).lower() == "vpn"
    )


def _peer(row: Any) -> BgpPeerObserved:
    return BgpPeerObserved(
        local_address=text(row.local_address),
        neighbor=text(row.neighbor),
        asn=as_int(row.asn),
        state=bgp_peer_state(row.state),
        routes_received=as_int(row.routes_received) or 0,
        connected_seconds=timespan_seconds(row.connected_duration),
    )
