"""GatewayCollector against the emulator: instances, zones and BGP addresses per the topology."""

from __future__ import annotations

from collect_helpers import HUB, SPOKE, of_type, run_of

from vpnwatch.clock import ManualClock
from vpnwatch.collect.base import Scope
from vpnwatch.collect.clients import AzureClients
from vpnwatch.collect.gateways import GatewayCollector
from vpnwatch.emulator import Emulator
from vpnwatch.observations import GatewayObserved, LocalNetworkGatewayObserved


async def test_gateways_with_instances_zones_and_bgp_addresses(
    emulator: Emulator, clients: AzureClients, clock: ManualClock
) -> None:
    observations = await GatewayCollector(clients, clock, 300).collect(Scope(HUB, ("rg-hub-weu",)))

    gateways = of_type(observations, GatewayObserved)
    assert set(gateways) == {"vpngw-hub-aa", "vpngw-zonal", "ergw-hub-weu"}  # 3 > page size 2

    aa = gateways["vpngw-hub-aa"]
    assert aa.observed_at == clock.now()
    assert aa.source == "arm.gateways"
    assert (aa.subscription_id, aa.resource_group, aa.region) == (HUB, "rg-hub-weu", "westeurope")
    assert aa.vnet_id == (
        f"/subscriptions/{HUB}/resourceGroups/rg-hub-weu/providers/Microsoft.Network"
        "/virtualNetworks/vnet-hub-weu"
    )
    assert (aa.gateway_type, aa.sku, aa.active_active) == ("Vpn", "VpnGw2AZ", True)
    assert (aa.bgp_enabled, aa.asn, aa.provisioning_state) == (True, 65515, "Succeeded")
    assert [i.name for i in aa.instances] == ["default", "activeActive"]
    assert all(i.zones == ("1", "2", "3") for i in aa.instances)
    assert aa.zones == ("1", "2", "3") and aa.zonal_zone is None
    # Active/active: each instance has its own public IP and peers from its own address in the
    # last /27 of 10.10.0.0/16 (the GatewaySubnet), .228 and .229.
    addresses = [i.public_ip_address for i in aa.instances]
    assert len(set(addresses)) == 2 and all(a and a.startswith("198.1") for a in addresses)
    assert [i.bgp_addresses for i in aa.instances] == [("10.10.255.228",), ("10.10.255.229",)]
    for n, instance in enumerate(aa.instances):
        assert instance.public_ip_id and instance.public_ip_id.endswith(f"vpngw-hub-aa-pip{n}")

    # Point-to-site settings from the gateway's own GET (`vpnClientConfiguration`).
    assert aa.p2s is not None
    assert aa.p2s.address_pools == ("172.16.201.0/24", "172.16.202.0/24")
    assert (aa.p2s.tunnel_types, aa.p2s.auth_types) == (("OpenVPN",), ("AAD", "Certificate"))

    zonal = gateways["vpngw-zonal"]
    assert zonal.p2s is None  # the empty configuration of a gateway without point-to-site
    assert (zonal.active_active, zonal.bgp_enabled, zonal.sku) == (False, False, "VpnGw1AZ")
    assert len(zonal.instances) == 1 and zonal.instances[0].zones == ("3",)
    assert zonal.zonal_zone == "3"

    assert gateways["ergw-hub-weu"].gateway_type == "ExpressRoute"

    sites = of_type(observations, LocalNetworkGatewayObserved)
    assert set(sites) == {"lgw-amsterdam", "lgw-frankfurt", "lgw-utrecht"}
    amsterdam = sites["lgw-amsterdam"]
    assert amsterdam.gateway_ip_address == "203.0.113.10"
    assert amsterdam.address_prefixes == ("192.168.10.0/24",)
    assert (amsterdam.bgp_peering_address, amsterdam.asn) == ("192.168.10.254", 65010)
    utrecht = sites["lgw-utrecht"]
    assert utrecht.address_prefixes == ("192.168.30.0/24", "192.168.31.0/24")
    assert (utrecht.bgp_peering_address, utrecht.asn) == (None, None)

    run = run_of(observations)
    assert run.ok and run.cause is None and run.collector == "arm.gateways"
    assert run.scope == f"/subscriptions/{HUB}"
    assert set(run.resource_ids) == {g.resource_id for g in gateways.values()} | {
        s.resource_id for s in sites.values()
    }
    assert run.requests == len(emulator.requests)
    assert run.remaining_reads is not None and run.remaining_reads > 0


async def test_lists_follow_next_link_and_list_public_ips_instead_of_a_get_each(
    emulator: Emulator, clients: AzureClients, clock: ManualClock
) -> None:
    observations = await GatewayCollector(clients, clock, 300).collect(
        Scope(HUB, ("rg-hub-weu",))
    )

    gets = [r.path for r in emulator.requests if r.method == "GET"]
    gateway_list = (
        f"/subscriptions/{HUB}/resourceGroups/rg-hub-weu/providers/Microsoft.Network"
        "/virtualNetworkGateways"
    )
    assert gets.count(gateway_list) == 2  # two pages of two
    assert not [p for p in gets if "/publicIPAddresses/" in p]  # no GET per public IP
    assert any(p.endswith("/publicIPAddresses") for p in gets)
    instances = [i for gw in of_type(observations, GatewayObserved).values() for i in gw.instances]
    assert len(instances) == 4  # 2 (active/active) + 1 + 1 IP configurations
    assert all(i.public_ip_address for i in instances)


async def test_spoke_gateway_pinned_to_one_zone_and_empty_group(
    emulator: Emulator, clients: AzureClients, clock: ManualClock
) -> None:
    observations = await GatewayCollector(clients, clock, 300).collect(
        Scope(SPOKE, ("rg-spoke-neu", "rg-spoke-empty"))
    )

    gateways = of_type(observations, GatewayObserved)
    assert set(gateways) == {"vpngw-spoke"}
    spoke = gateways["vpngw-spoke"]
    assert (spoke.region, spoke.zonal_zone, spoke.active_active) == ("northeurope", "2", False)
    assert run_of(observations).ok
