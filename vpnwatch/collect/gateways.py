"""Gateway inventory: virtual network gateways with their instances and zones, and local
network gateways (the on-premises sites).

A gateway's zones and instance addresses live on its public IPs, not on the gateway. The public
IPs of the resource group are listed once per pass (one paged read instead of a GET per
instance: 1,500 GETs for a 1,000-gateway fleet); one that lives elsewhere is read by GET, once.
Without them the correlator could not tell a zonal gateway from a zone-redundant one, so a
gateway whose public IP cannot be read is reported unknown rather than half-described.
"""

from __future__ import annotations

from typing import Any

from vpnwatch.collect.base import (
    ArmCollector,
    GroupResult,
    RunMemo,
    Scope,
    all_of,
    name_of,
    resource_group_of,
    subscription_of,
)
from vpnwatch.collect.parse import as_int, tags, text
from vpnwatch.observations import (
    GatewayInstance,
    GatewayObserved,
    LocalNetworkGatewayObserved,
    P2SConfiguration,
)

_GATEWAY_SUBNET = "/subnets/gatewaysubnet"


class GatewayCollector(ArmCollector):
    name = "arm.gateways"
    kind = "gateway"
    whole = True  # three lists per resource group: rationed by passes

    async def collect_group(self, scope: Scope, resource_group: str, memo: RunMemo) -> GroupResult:
        network = self.clients.network(scope.subscription_id)
        gateways, local_gateways, public_ips = await all_of(
            self.list_all(
                f"list virtual network gateways in resource group {resource_group}",
                lambda: network.virtual_network_gateways.list(resource_group),
            ),
            self.list_all(
                f"list local network gateways in resource group {resource_group}",
                lambda: network.local_network_gateways.list(resource_group),
            ),
            self.list_all(
                f"list public IP addresses in resource group {resource_group}",
                lambda: network.public_ip_addresses.list(resource_group),
            ),
        )
        for pip in public_ips:
            memo.known(pip.id, pip)
        result = GroupResult()
        observed = await self.observe_each(gateways, "gateway", lambda gw: self._gateway(gw, memo))
        result.observations.extend(observed)
        result.resource_ids.extend(gw.id for gw in gateways)
        for local in local_gateways:
            result.observations.append(
                await self.guarded(local.id, f"read local gateway {local.id}", self._local(local))
            )
            result.resource_ids.append(local.id)
        return result

    async def _gateway(self, gateway: Any, memo: RunMemo) -> GatewayObserved:
        props = gateway.properties
        if props is None:
            raise ValueError(f"gateway {gateway.id} has no properties")
        bgp = props.bgp_settings
        bgp_by_config = {
            text(entry.ipconfiguration_id).lower(): tuple(entry.default_bgp_ip_addresses or ())
            for entry in (bgp.bgp_peering_addresses or () if bgp else ())
        }
        configs = list(props.ip_configurations or ())
        instances = await all_of(
            *(self._instance(config, bgp_by_config, memo) for config in configs)
        )
        vnet_id = _vnet_of(configs)
        return GatewayObserved(
            observed_at=self.clock.now(),
            source=self.name,
            resource_id=gateway.id,
            name=gateway.name or name_of(gateway.id),
            subscription_id=subscription_of(gateway.id),
            resource_group=resource_group_of(gateway.id),
            region=gateway.location or "",
            vnet_id=vnet_id,
            gateway_type=text(props.gateway_type),
            sku=text(props.sku.name) if props.sku else "",
            active_active=bool(props.active_active),
            bgp_enabled=bool(props.enable_bgp),
            asn=as_int(bgp.asn) if bgp else None,
            provisioning_state=text(props.provisioning_state),
            instances=tuple(instances),
            p2s=p2s_configuration(props.vpn_client_configuration),
            tags=tags(gateway.tags),
        )

    async def _instance(
        self, config: Any, bgp_by_config: dict[str, tuple[str, ...]], memo: RunMemo
    ) -> GatewayInstance:
        props = config.properties
        pip_ref = props.public_ip_address if props else None
        pip_id = pip_ref.id if pip_ref else None
        address: str | None = None
        zones: tuple[str, ...] = ()
        if pip_id:
            pip = await memo.once(pip_id, lambda: self._public_ip(pip_id))
            address = pip.properties.ip_address if pip.properties else None
            zones = tuple(sorted(str(z) for z in (pip.zones or ())))
        return GatewayInstance(
            name=config.name or name_of(text(config.id)),
            public_ip_id=pip_id,
            public_ip_address=address,
            zones=zones,
            bgp_addresses=bgp_by_config.get(text(config.id).lower(), ()),
        )

    async def _public_ip(self, pip_id: str) -> Any:
        network = self.clients.network(subscription_of(pip_id))
        return await self.call(
            f"read public IP {pip_id}",
            lambda: network.public_ip_addresses.get(resource_group_of(pip_id), name_of(pip_id)),
        )

    async def _local(self, local: Any) -> LocalNetworkGatewayObserved:
        props = local.properties
        if props is None:
            raise ValueError(f"local network gateway {local.id} has no properties")
        bgp = props.bgp_settings
        space = props.local_network_address_space
        return LocalNetworkGatewayObserved(
            observed_at=self.clock.now(),
            source=self.name,
            resource_id=local.id,
            name=local.name or name_of(local.id),
            subscription_id=subscription_of(local.id),
            resource_group=resource_group_of(local.id),
            region=local.location or "",
            gateway_ip_address=props.gateway_ip_address,
            address_prefixes=tuple(space.address_prefixes or ()) if space else (),
            bgp_peering_address=bgp.bgp_peering_address if bgp else None,
            asn=as_int(bgp.asn) if bgp else None,
            tags=tags(local.tags),
        )


def _vnet_of(configs: list[Any]) -> str | None:
    """The VNet id: a gateway IP configuration's subnet id minus `/subnets/GatewaySubnet`."""
    for config in configs:
        subnet = config.properties.subnet if config.properties else None
        subnet_id = text(subnet.id) if subnet else ""
        if subnet_id.lower().endswith(_GATEWAY_SUBNET):
            return subnet_id[: -len(_GATEWAY_SUBNET)]
        if "/subnets/" in subnet_id.lower():
            return subnet_id[: subnet_id.lower().rindex("/subnets/")]
    return None


def p2s_configuration(config: Any) -> P2SConfiguration | None:
    """The gateway's point-to-site settings; None when it has no address pool and no tunnel type
    (Azure returns an empty `vpnClientConfiguration` on gateways without point-to-site)."""
    if config is None:
        return None
    pool = config.vpn_client_address_pool
    pools = tuple(pool.address_prefixes or ()) if pool else ()
    tunnel_types = tuple(text(p) for p in config.vpn_client_protocols or ())
    if not pools and not tunnel_types:
        return None
    radius = len(config.radius_servers or ()) or (1 if config.radius_server_address else 0)
    return P2SConfiguration(
        address_pools=pools,
        tunnel_types=tunnel_types,
        auth_types=tuple(text(a) for a in config.vpn_authentication_types or ()),
        radius_servers=radius,
    )
