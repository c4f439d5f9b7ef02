"""Point-to-site on the gateway's API record and page: the configuration from the gateway's GET,
the connected users from the newest `P2SConnectionCount` grain."""

from __future__ import annotations

from pathlib import Path

from service_helpers import open_fleet, run_until

from vpnwatch.emulator import load_scenario


async def test_p2s_configuration_and_users_on_the_api_and_the_gateway_page(tmp_path: Path):
    # single-connection-failover.yaml: vpngw-solo-weu has 60 P2S users, vpngw-maint-weu none
    async with open_fleet(load_scenario("single-connection-failover"), tmp_path) as fleet:
        await run_until(fleet, 60, step=30)
        async with fleet.client() as http:
            listed = (await http.get("/api/v1/gateways")).json()["items"]
            by_name = {g["name"]: g for g in listed}
            solo = by_name["vpngw-solo-weu"]["p2s"]
            assert solo["address_pools"] == ["172.16.201.0/24"]
            assert solo["tunnel_types"] == ["IkeV2", "OpenVPN"]
            assert solo["auth_types"] == ["Certificate"]
            assert solo["connected"] == 60  # the newest grain with data, before the failover
            assert solo["connected_at"] is not None
            assert by_name["vpngw-maint-weu"]["p2s"] is None

            page = await http.get(f"/resources{by_name['vpngw-solo-weu']['id']}")
            assert page.status_code == 200
            assert 'id="p2s"' in page.text and "172.16.201.0/24" in page.text
            assert "60 <span" in page.text  # the connected users, with the grain they come from
            other = await http.get(f"/resources{by_name['vpngw-maint-weu']['id']}")
            assert 'id="p2s"' not in other.text
