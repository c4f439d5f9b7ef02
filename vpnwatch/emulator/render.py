"""JSON bodies in the Network RP's wire shape, built from the topology and its state at time t.

Each body keeps every key of the matching verbatim Azure example in tests/emulator/azure_wire (the
contract tests check that), filled with values from the scenario instead of placeholders.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from vpnwatch.emulator.topology import (
    AZURE_ASN,
    TENANT_ID,
    Circuit,
    Connection,
    Gateway,
    Peering,
    PublicIp,
    ResourceGroup,
    Site,
    Subscription,
    Vnet,
    stable_uuid,
)
from vpnwatch.emulator.world import (
    BgpPeerRow,
    GatewayRouteRow,
    World,
    format_timespan,
    format_up_down,
)

Body = dict[str, Any]


def tags_of(tags: dict[str, str]) -> Body:
    """A resource's `tags`, beside `location` as every ARM resource has them (the network REST
    spec's common `Resource` definition: `tags`, a map of strings). A resource without tags is
    sent without the key, as the REST spec's examples for these resources show."""
    return {"tags": dict(tags)} if tags else {}


class Renderer:
    """Renders resources as of a request; `started_at` anchors scenario seconds to UTC."""

    def __init__(self, world: World, started_at: datetime) -> None:
        self.world = world
        self.started_at = started_at
        self.seed = world.seed
        self._ids: dict[tuple[str, str], str] = {}

    def _stable(self, purpose: str, resource_id: str) -> str:
        key = (purpose, resource_id)
        value = self._ids.get(key)
        if value is None:
            value = stable_uuid(self.seed, purpose, resource_id.lower())
            self._ids[key] = value
        return value

    def _etag(self, resource_id: str) -> str:
        return f'W/"{self._stable("etag", resource_id)}"'

    def _guid(self, resource_id: str) -> str:
        return self._stable("guid", resource_id)

    def _utc(self, scenario_seconds: float) -> datetime:
        return self.started_at + timedelta(seconds=scenario_seconds)

    # --- Resource Manager ----------------------------------------------------------------

    def subscription(self, sub: Subscription) -> Body:
        return {
            "id": sub.resource_id,
            "authorizationSource": "RoleBased",
            "managedByTenants": [],
            "subscriptionId": sub.id,
            "tenantId": TENANT_ID,
            "displayName": sub.name,
            "state": "Enabled",
            "subscriptionPolicies": {
                "locationPlacementId": "Public_2014-09-01",
                "quotaId": "EnterpriseAgreement_2014-09-01",
                "spendingLimit": "Off",
            },
        }

    def resource_group(self, rg: ResourceGroup) -> Body:
        return {
            "id": rg.resource_id,
            "name": rg.name,
            "type": "Microsoft.Resources/resourceGroups",
            "location": rg.location,
            "properties": {"provisioningState": "Succeeded"},
        }

    # --- gateways ------------------------------------------------------------------------

    def gateway(self, gw: Gateway) -> Body:
        ip_configurations = [
            {
                "name": ipc.name,
                "id": ipc.resource_id,
                "etag": self._etag(gw.resource_id),
                "properties": {
                    "provisioningState": "Succeeded",
                    "privateIPAllocationMethod": "Dynamic",
                    "publicIPAddress": {"id": ipc.public_ip.resource_id},
                    "subnet": {"id": gw.vnet.gateway_subnet_id},
                },
            }
            for ipc in gw.ip_configurations
        ]
        generation = "None"
        if gw.is_vpn:
            first_generation = gw.sku in ("Basic", "VpnGw1", "VpnGw1AZ")
            generation = "Generation1" if first_generation else "Generation2"
        return {
            "name": gw.name,
            "id": gw.resource_id,
            "etag": self._etag(gw.resource_id),
            "type": "Microsoft.Network/virtualNetworkGateways",
            "location": gw.location,
            **tags_of(gw.tags),
            "identity": {"type": "None", "userAssignedIdentities": {}},
            "properties": {
                "provisioningState": "Succeeded",
                "resourceGuid": self._guid(gw.resource_id),
                "virtualNetworkGatewayMigrationStatus": {
                    "state": "",
                    "phase": "",
                    "errorMessage": "",
                },
                "ipConfigurations": ip_configurations,
                "natRules": [],
                "enableBgpRouteTranslationForNat": False,
                "sku": {"name": gw.sku, "tier": gw.sku, "capacity": 2},
                "gatewayType": gw.gateway_type,
                "vpnType": "RouteBased",
                "vpnGatewayGeneration": generation,
                "enableBgp": gw.bgp_enabled,
                "enablePrivateIpAddress": False,
                "activeActive": gw.active_active,
                "enableHighBandwidthVpnGateway": False,
                "disableIPSecReplayProtection": False,
                "vpnClientConfiguration": self._vpn_client_configuration(gw),
                "bgpSettings": {
                    "asn": gw.asn,
                    "bgpPeeringAddress": gw.bgp_peering_address,
                    "peerWeight": 0,
                    "bgpPeeringAddresses": [
                        {
                            "ipconfigurationId": ipc.resource_id,
                            "defaultBgpIpAddresses": [ipc.bgp_address],
                            "customBgpIpAddresses": [],
                            "tunnelIpAddresses": [ipc.public_ip.address],
                        }
                        for ipc in gw.ip_configurations
                    ],
                },
                "customRoutes": {"addressPrefixes": []},
                "allowVirtualWanTraffic": False,
                "allowRemoteVnetTraffic": False,
            },
        }

    @staticmethod
    def _vpn_client_configuration(gw: Gateway) -> Body:
        """`vpnClientConfiguration` as VirtualNetworkGatewayGet.json (2026-01-01) has it; a
        gateway without point-to-site still carries the object, with empty lists."""
        body: Body = {
            "vpnClientProtocols": [],
            "vpnClientRootCertificates": [],
            "vpnClientRevokedCertificates": [],
            "radiusServers": [],
        }
        if gw.p2s is not None:
            body = {
                "vpnClientAddressPool": {"addressPrefixes": list(gw.p2s.address_pool)},
                "vpnClientProtocols": list(gw.p2s.tunnel_types),
                "vpnAuthenticationTypes": list(gw.p2s.auth_types),
                **{k: v for k, v in body.items() if k != "vpnClientProtocols"},
            }
        return body

    def public_ip(self, pip: PublicIp) -> Body:
        rg = pip.rg
        body: Body = {
            "name": pip.name,
            "id": pip.resource_id,
            "etag": self._etag(pip.resource_id),
            "location": rg.location,
        }
        if pip.zones:
            body["zones"] = list(pip.zones)
        body["properties"] = {
            "provisioningState": "Succeeded",
            "resourceGuid": self._guid(pip.resource_id),
            "ipAddress": pip.address,
            "publicIPAddressVersion": "IPv4",
            "publicIPAllocationMethod": "Static",
            "idleTimeoutInMinutes": 4,
            "ipConfiguration": {"id": pip.ip_configuration_id},
            "ddosSettings": {
                "protectionMode": "Enabled",
                "ddosProtectionPlan": {
                    "id": rg.child_id("ddosProtectionPlans", f"ddos-plan-{rg.location}")
                },
            },
            "ipTags": [],
        }
        body["sku"] = {"name": "Standard", "tier": "Regional"}
        body["type"] = "Microsoft.Network/publicIPAddresses"
        return body

    def vnet(self, vnet: Vnet) -> Body:
        return {
            "name": vnet.name,
            "id": vnet.resource_id,
            "etag": self._etag(vnet.resource_id),
            "type": "Microsoft.Network/virtualNetworks",
            "location": vnet.rg.location,
            "properties": {
                "provisioningState": "Succeeded",
                "resourceGuid": self._guid(vnet.resource_id),
                "addressSpace": {"addressPrefixes": [str(vnet.address_space)]},
                "subnets": [
                    {
                        "name": "GatewaySubnet",
                        "id": vnet.gateway_subnet_id,
                        "etag": self._etag(vnet.resource_id),
                        "properties": {
                            "provisioningState": "Succeeded",
                            "addressPrefix": str(vnet.gateway_subnet),
                        },
                        "type": "Microsoft.Network/virtualNetworks/subnets",
                    }
                ],
                "virtualNetworkPeerings": [],
                "enableDdosProtection": False,
            },
        }

    # --- sites and connections -----------------------------------------------------------

    def site(self, site: Site) -> Body:
        properties: Body = {
            "provisioningState": "Succeeded",
            "resourceGuid": self._guid(site.resource_id),
            "localNetworkAddressSpace": {"addressPrefixes": list(site.prefixes)},
            "gatewayIpAddress": site.gateway_ip,
        }
        if site.asn is not None and site.bgp_peering_address:
            properties["bgpSettings"] = {
                "asn": site.asn,
                "bgpPeeringAddress": site.bgp_peering_address,
                "peerWeight": 0,
            }
        return {
            "name": site.name,
            "id": site.resource_id,
            "etag": self._etag(site.resource_id),
            "type": "Microsoft.Network/localNetworkGateways",
            "location": site.rg.location,
            **tags_of(site.tags),
            "properties": properties,
        }

    def connection(self, conn: Connection, t: float, *, listed: bool = False) -> Body:
        """A connection as GET by name returns it. `listed`: as a list returns it, without
        `connectionStatus` and `tunnelConnectionStatus` and with zero byte counters, like
        Azure's own list example (VirtualNetworkGatewayConnectionsList.json) and what users
        of Azure's tools report (Azure/azure-powershell#2581, Azure/azure-cli#2061): only a
        GET by name carries a connection's status. docs/read-budget.md has the details."""
        state = None if listed else self.world.connection_state(conn, t)
        properties: Body = {
            "provisioningState": "Succeeded",
            "resourceGuid": self._guid(conn.resource_id),
            "virtualNetworkGateway1": {"id": conn.gateway.resource_id, "properties": {}},
        }
        if conn.site is not None:
            properties["localNetworkGateway2"] = {"id": conn.site.resource_id, "properties": {}}
        if conn.peer_gateway is not None:
            # Vnet2Vnet: the far end is another gateway, in the same reference shape as
            # virtualNetworkGateway1 (MicrosoftDocs/azure-docs,
            # articles/vpn-gateway/vpn-gateway-vnet-vnet-rm-ps.md, "Verify a connection").
            properties["virtualNetworkGateway2"] = {
                "id": conn.peer_gateway.resource_id,
                "properties": {},
            }
        if conn.circuit is not None:
            properties["peer"] = {"id": conn.circuit.resource_id}
        properties.update(
            {
                "ingressNatRules": [],
                "egressNatRules": [],
                "connectionType": conn.connection_type,
                "routingWeight": 0,
                "enableBgp": conn.bgp_enabled,
                "gatewayCustomBgpIpAddresses": [],
                "useLocalAzureIpAddress": False,
                "usePolicyBasedTrafficSelectors": False,
                "ipsecPolicies": [],
                "trafficSelectorPolicies": [],
                "ingressBytesTransferred": state.ingress_bytes if state else 0,
                "egressBytesTransferred": state.egress_bytes if state else 0,
                "connectionMode": "Default",
            }
        )
        if state is not None:
            properties["connectionStatus"] = state.status
        if conn.circuit is None:
            properties.update(
                {
                    "connectionProtocol": conn.protocol,
                    "dpdTimeoutSeconds": 45,
                    "authenticationType": "PSK",
                    "certificateAuthentication": {
                        "outboundAuthCertificate": "",
                        "inboundAuthCertificateChain": [],
                        "inboundAuthCertificateSubjectName": "",
                    },
                    "tunnelProperties": [],
                }
            )
            if state is not None:
                properties["tunnelConnectionStatus"] = [
                    {
                        "tunnel": tunnel.name,
                        "connectionStatus": "Connected" if tunnel.connected else "NotConnected",
                        "ingressBytesTransferred": tunnel.ingress_bytes,
                        "egressBytesTransferred": tunnel.egress_bytes,
                        "lastConnectionEstablishedUtcTime": self._utc(
                            tunnel.established_at
                        ).strftime("%m/%d/%Y %H:%M:%S"),
                    }
                    for tunnel in state.tunnels
                ]
        else:
            properties["expressRouteGatewayBypass"] = False
            properties["enablePrivateLinkFastPath"] = False
        return {
            "name": conn.name,
            "id": conn.resource_id,
            "etag": self._etag(conn.resource_id),
            "type": "Microsoft.Network/connections",
            "location": conn.location,
            **tags_of(conn.tags),
            "properties": properties,
        }

    # --- BGP -----------------------------------------------------------------------------

    @staticmethod
    def bgp_peer_status(rows: list[BgpPeerRow]) -> Body:
        return {
            "value": [
                {
                    "localAddress": row.local_address,
                    "neighbor": row.neighbor,
                    "asn": row.asn,
                    "state": row.state,
                    "connectedDuration": format_timespan(row.connected_seconds)
                    if row.connected_seconds is not None
                    else "",
                    "routesReceived": row.routes_received,
                    "messagesSent": row.messages_sent,
                    "messagesReceived": row.messages_received,
                }
                for row in rows
            ]
        }

    @staticmethod
    def gateway_routes(rows: list[GatewayRouteRow]) -> Body:
        return {
            "value": [
                {
                    "localAddress": row.local_address,
                    "network": row.network,
                    "nextHop": row.next_hop,
                    "sourcePeer": row.source_peer,
                    "origin": row.origin,
                    "asPath": row.as_path,
                    "weight": row.weight,
                }
                for row in rows
            ]
        }

    # --- ExpressRoute --------------------------------------------------------------------

    def circuit(self, circuit: Circuit) -> Body:
        spec = circuit.spec
        return {
            "name": circuit.name,
            "id": circuit.resource_id,
            "etag": self._etag(circuit.resource_id),
            "type": "Microsoft.Network/expressRouteCircuits",
            "location": circuit.location,
            **tags_of(spec.tags),
            "properties": {
                "provisioningState": "Succeeded",
                "peerings": [self.peering(p) for p in circuit.peerings],
                "authorizations": [],
                "serviceProviderProperties": {
                    "serviceProviderName": spec.provider,
                    "peeringLocation": spec.peering_location,
                    "bandwidthInMbps": spec.bandwidth_mbps,
                },
                "circuitProvisioningState": "Enabled",
                "allowClassicOperations": False,
                "gatewayManagerEtag": "",
                "serviceKey": stable_uuid(self.seed, "serviceKey", circuit.resource_id.lower()),
                "serviceProviderProvisioningState": "Provisioned",
            },
            "sku": {
                "name": f"{spec.tier}_{spec.family}",
                "tier": spec.tier,
                "family": spec.family,
            },
        }

    def peering(self, peering: Peering) -> Body:
        spec = peering.spec
        circuit = peering.circuit
        ports = circuit.spec.peering_location.upper().replace(" ", "")[:6]
        properties: Body = {
            "provisioningState": "Succeeded",
            "peeringType": peering.name,
            "azureASN": AZURE_ASN,
            "peerASN": spec.peer_asn,
            "primaryPeerAddressPrefix": spec.primary_prefix,
            "secondaryPeerAddressPrefix": spec.secondary_prefix,
            "primaryAzurePort": f"{ports}-06GMR-CIS-1-PRI-A",
            "secondaryAzurePort": f"{ports}-06GMR-CIS-2-SEC-A",
            "state": "Enabled",
            "vlanId": spec.vlan_id,
            "gatewayManagerEtag": "",
            "lastModifiedBy": "Customer",
        }
        ipv6 = {
            "primaryPeerAddressPrefix": f"2001:db8:{spec.vlan_id:x}::/126",
            "secondaryPeerAddressPrefix": f"2001:db8:{spec.vlan_id:x}::4/126",
            "state": "Enabled",
        }
        if peering.is_private:
            properties["ipv6PeeringConfig"] = ipv6
            properties["expressRouteConnection"] = (
                {"id": circuit.connections[0].resource_id} if circuit.connections else ""
            )
        else:
            config = {
                "advertisedPublicPrefixes": list(spec.advertised_public_prefixes),
                "advertisedCommunities": [],
                "advertisedPublicPrefixesState": "Configured",
                "customerASN": spec.peer_asn,
                "legacyMode": 0,
                "routingRegistryName": "ARIN",
            }
            properties["microsoftPeeringConfig"] = config
            properties["ipv6PeeringConfig"] = {
                **ipv6,
                "microsoftPeeringConfig": {**config, "advertisedPublicPrefixes": []},
            }
            properties["routeFilter"] = {
                "id": circuit.rg.child_id("routeFilters", f"{circuit.name}-filter")
            }
            properties["expressRouteConnection"] = ""
        return {
            "name": peering.name,
            "id": peering.resource_id,
            "etag": self._etag(peering.resource_id),
            "properties": properties,
            "type": "Microsoft.Network/expressRouteCircuits/peerings",
        }

    def circuit_stats(self, circuit: Circuit, t: float, peering: Peering | None = None) -> Body:
        return dict(self.world.circuit_stats(circuit, t, peering))

    def route_table_summary(self, peering: Peering, device_path: str, t: float) -> Body:
        link = next(lk for lk in peering.links if lk.device_path == device_path)
        state = self.world.link_state(peering.circuit, link, t)
        return {
            "value": [
                {
                    "neighbor": link.customer_address,
                    "v": 4,
                    "as": peering.spec.peer_asn,
                    "upDown": format_up_down(t - state.since),
                    "statePfxRcd": str(len(peering.routes)) if state.up else state.state,
                }
            ]
        }

    def route_table(self, peering: Peering, device_path: str, t: float) -> Body:
        link = next(lk for lk in peering.links if lk.device_path == device_path)
        state = self.world.link_state(peering.circuit, link, t)
        rows: list[Body] = []
        if state.up:
            rows.extend(
                {
                    "network": prefix,
                    "nextHop": link.customer_address,
                    "locPrf": "",
                    "weight": 0,
                    "path": str(peering.spec.peer_asn),
                }
                for prefix in peering.routes
            )
        if peering.is_private:
            rows.extend(
                {"network": prefix, "nextHop": next_hop, "locPrf": "", "weight": 0, "path": "65515"}
                for prefix, next_hop in self.world.connected_vnets(peering.circuit)
            )
        return {"value": rows}

    def arp_table(self, peering: Peering, device_path: str, t: float) -> Body:
        link = next(lk for lk in peering.links if lk.device_path == device_path)
        state = self.world.link_state(peering.circuit, link, t)
        key = f"{peering.resource_id}#{device_path}"
        rows: list[Body] = [
            {
                "age": 0,
                "interface": "Microsoft",
                "ipAddress": link.microsoft_address,
                "macAddress": _mac(self.seed, key + "#msee"),
            }
        ]
        if state.up:
            rows.append(
                {
                    "age": int(min(t - state.since, 14400) // 60),
                    "interface": "On-Prem",
                    "ipAddress": link.customer_address,
                    "macAddress": _mac(self.seed, key + "#ce"),
                }
            )
        return {"value": rows}


def _mac(seed: int, key: str) -> str:
    raw = stable_uuid(seed, "mac", key).replace("-", "")[:12]
    return ".".join(raw[i : i + 4] for i in range(0, 12, 4))
