"""BGP peer status of every BGP-enabled VPN gateway.

`getBgpPeerStatus` is a long-running POST (202, then polls), and it is the only place Azure
shows per-instance BGP sessions. The gateway list it needs is one cheap call per resource group,
so this collector lists gateways itself instead of depending on the inventory collector's timing.
"""

from __future__ import annotations

from typing import Any

from vpnwatch.collect.base import ArmCollector, GroupResult, RunMemo, Scope, name_of
from vpnwatch.collect.parse import as_int, bgp_peer_state, text, timespan_seconds
from vpnwatch.observations import BgpPeerObserved, BgpStatusObserved


class BgpCollector(ArmCollector):
    name = "arm.bgp"
    kind = "bgp"

    async def collect_group(self, scope: Scope, resource_group: str, memo: RunMemo) -> GroupResult:
        network = self.clients.network(scope.subscription_id)
        gateways = await self.list_all(
            f"list virtual network gateways in resource group {resource_group}",
            lambda: network.virtual_network_gateways.list(resource_group),
        )
        speakers = [gw for gw in gateways if _speaks_bgp(gw)]
        observed = await self.observe_each(
            speakers,
            "BGP peer status of gateway",
            lambda gw: self._status(network, resource_group, gw),
        )
        return GroupResult(observations=observed, resource_ids=[gw.id for gw in speakers])

    async def _status(self, network: Any, resource_group: str, gateway: Any) -> BgpStatusObserved:
        name = gateway.name or name_of(gateway.id)
        result = await self.lro(
            f"getBgpPeerStatus on gateway {gateway.id}",
            lambda: network.virtual_network_gateways.begin_get_bgp_peer_status(
                resource_group, name
            ),
        )
        rows = (result.value if result is not None else None) or ()
        return BgpStatusObserved(
            observed_at=self.clock.now(),
            source=self.name,
            gateway_id=gateway.id,
            peers=tuple(_peer(row) for row in rows),
        )


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
