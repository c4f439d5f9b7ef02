"""/api/v1 against a real agent polling the emulator through a scenario with faults."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from service_helpers import TUNNEL_FAULT_AT, Fleet, run_until

from vpnwatch.service.schemas import (
    BgpPeerPage,
    CircuitPage,
    ConnectionPage,
    GatewayPage,
    IncidentDetail,
    IncidentPage,
    SitePage,
)


async def _get(client: httpx.AsyncClient, url: str, **params: Any) -> Any:
    response = await client.get(url, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_gateways_with_instances_zones_sku_and_mode(estate: Fleet):
    await estate.collect()
    async with estate.client() as client:
        page = GatewayPage.model_validate(await _get(client, "/api/v1/gateways"))
        weu = GatewayPage.model_validate(
            await _get(client, "/api/v1/gateways", region="WestEurope")
        )
    names = [g.name for g in page.items]
    assert names == sorted(names) and set(names) == {"ergw-neu-01", "vgw-neu-01", "vgw-weu-01"}
    assert page.total == 3 and page.next is None
    gw = next(g for g in page.items if g.name == "vgw-weu-01")
    assert gw.active_active and gw.bgp_enabled and gw.asn == 65515
    assert gw.sku == "VpnGw2AZ" and gw.region == "westeurope" and gw.gateway_type == "Vpn"
    assert gw.zones == ["1"] and not gw.zone_redundant
    assert len(gw.instances) == 2
    assert all(i.zones == ["1"] and i.health == "up" for i in gw.instances)
    assert gw.health == "up"
    redundant = next(g for g in page.items if g.name == "vgw-neu-01")
    assert redundant.zone_redundant and redundant.zones == ["1", "2", "3"]
    assert not redundant.active_active and len(redundant.instances) == 1
    assert [g.name for g in weu.items] == ["vgw-weu-01"]


async def test_connections_have_a_tunnel_per_instance_with_health(estate: Fleet):
    await run_until(estate, TUNNEL_FAULT_AT + 30)
    async with estate.client() as client:
        page = ConnectionPage.model_validate(await _get(client, "/api/v1/connections"))
        on_gateway = ConnectionPage.model_validate(
            await _get(client, "/api/v1/connections", gateway="vgw-weu-01")
        )
        down = ConnectionPage.model_validate(
            await _get(client, "/api/v1/connections", health="down")
        )
    by_name = {c.name: c for c in page.items}
    assert set(by_name) == {"cn-weu-amsterdam", "cn-weu-rotterdam", "cn-neu-dublin", "cn-neu-er"}
    healthy = by_name["cn-weu-amsterdam"]
    assert healthy.gateway_name == "vgw-weu-01" and healthy.connection_type == "IPsec"
    assert len(healthy.tunnels) == 2
    assert {t.health for t in healthy.tunnels} == {"up"}
    gw = estate.gateway("vgw-weu-01")
    assert {t.instance for t in healthy.tunnels} == {i.name for i in gw.instances}

    failed = by_name["cn-weu-rotterdam"]
    assert failed.health == "down"
    assert {t.health for t in failed.tunnels} == {"down"}
    assert {c.name for c in on_gateway.items} == {"cn-weu-amsterdam", "cn-weu-rotterdam"}
    assert [c.name for c in down.items] == ["cn-weu-rotterdam"]


async def test_bgp_peers_sites_and_circuits(estate: Fleet):
    await run_until(estate, 30)
    async with estate.client() as client:
        peers = BgpPeerPage.model_validate(
            await _get(client, "/api/v1/bgp-peers", gateway="vgw-weu-01")
        )
        sites = SitePage.model_validate(await _get(client, "/api/v1/sites"))
        circuits = CircuitPage.model_validate(await _get(client, "/api/v1/circuits"))
    amsterdam = [p for p in peers.items if p.neighbor == "172.16.10.254"]
    assert len(amsterdam) == 2  # one session per instance of the active/active gateway
    assert all(p.state == "Connected" and p.routes_received == 6 for p in amsterdam)
    assert all(p.health == "up" and p.gateway_name == "vgw-weu-01" for p in amsterdam)

    assert [s.name for s in sites.items] == ["site-amsterdam", "site-dublin", "site-rotterdam"]
    assert sites.items[0].bgp_peering_address == "172.16.10.254"
    assert sites.items[0].address_prefixes == ["172.16.10.0/24"]

    (circuit,) = circuits.items
    assert circuit.name == "erc-weu-equinix" and circuit.bandwidth_mbps == 1000
    assert circuit.service_provider == "Equinix"
    (peering,) = circuit.peerings
    assert peering.name == "AzurePrivatePeering"
    assert {(link.device_path, link.up, link.health) for link in peering.links} == {
        ("primary", True, "up"),
        ("secondary", True, "up"),
    }


async def test_incidents_filter_page_and_detail(estate: Fleet):
    await run_until(estate, TUNNEL_FAULT_AT + 60)
    connection = next(
        c
        for c in estate.agent.correlator.state.connections.values()
        if c.name == "cn-weu-rotterdam"
    )
    async with estate.client() as client:
        everything = IncidentPage.model_validate(await _get(client, "/api/v1/incidents"))
        assert everything.total >= 1
        tunnel = IncidentPage.model_validate(
            await _get(client, "/api/v1/incidents", type="tunnel_down", status="open")
        )
        about = IncidentPage.model_validate(
            await _get(client, "/api/v1/incidents", resource=connection.resource_id.upper())
        )
        none = IncidentPage.model_validate(
            await _get(client, "/api/v1/incidents", status="resolved", type="zone_outage")
        )
        first = IncidentPage.model_validate(await _get(client, "/api/v1/incidents", limit=1))
        detail_response = await client.get(f"/api/v1/incidents/{tunnel.items[0].id}")
        missing = await client.get("/api/v1/incidents/does-not-exist")

    assert tunnel.total >= 1
    assert all(i.type == "tunnel_down" and i.status == "open" for i in tunnel.items)
    assert any(connection.resource_id in i.resources for i in tunnel.items)
    assert about.total >= 1
    assert all(
        connection.resource_id.lower() in [r.lower() for r in i.resources] for i in about.items
    )
    assert none.total == 0 and none.items == [] and none.next is None

    assert len(first.items) == 1 and first.total == everything.total
    if everything.total > 1:
        assert first.next is not None and "offset=1" in first.next and "limit=1" in first.next

    assert detail_response.status_code == 200
    detail = IncidentDetail.model_validate(detail_response.json())
    assert detail.id == tunnel.items[0].id
    assert detail.timeline, "an incident has at least the evidence that opened it"
    assert [e.at for e in detail.timeline] == sorted(e.at for e in detail.timeline)

    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    assert "does-not-exist" in missing.json()["detail"]


async def test_next_links_walk_every_page(estate: Fleet):
    await estate.collect()
    seen: list[str] = []
    async with estate.client() as client:
        url: str | None = "/api/v1/connections?limit=1"
        while url is not None:
            page = ConnectionPage.model_validate((await client.get(url)).json())
            seen.extend(c.name for c in page.items)
            url = page.next
    assert len(seen) == 4 and seen == sorted(seen)


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/incidents?limit=0",
        "/api/v1/incidents?offset=-1",
        "/api/v1/incidents?status=sleeping",
        "/api/v1/gateways?health=purple",
        "/api/v1/connections?limit=99999",
    ],
)
async def test_bad_parameters_are_422(estate: Fleet, url: str):
    async with estate.client() as client:
        response = await client.get(url)
    assert response.status_code == 422


async def test_unknown_paths_are_json_404(estate: Fleet):
    async with estate.client() as client:
        response = await client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
