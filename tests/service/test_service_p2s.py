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


def _health_posts(fleet) -> list:
    return [
        r
        for r in fleet.emulator.requests
        if r.method == "POST" and r.path.lower().endswith("/getvpnclientconnectionhealth")
    ]


async def test_p2s_sessions_are_read_on_demand_at_most_once_per_interval(tmp_path: Path):
    async with open_fleet(load_scenario("single-connection-failover"), tmp_path) as fleet:
        await run_until(fleet, 60, step=30)
        assert not _health_posts(fleet)  # never polled
        solo = fleet.gateway("vpngw-solo-weu").resource_id
        maint = fleet.gateway("vpngw-maint-weu").resource_id
        async with fleet.client() as http:
            first = await http.post(f"/api/v1/gateways{solo}/p2s-sessions")
            assert first.status_code == 200, first.text
            body = first.json()
            assert body["fresh"] is True and body["trigger"] == "api"
            assert body["count"] == 60 == len(body["sessions"])  # as P2SConnectionCount says
            session = body["sessions"][0]
            assert session["connection_id"].split("_")[0] in ("IKEv2", "OpenVPN")
            assert session["private_address"].startswith("172.16.201.")
            assert ":" in session["public_address"] and session["duration_seconds"] > 0

            again = await http.post(f"/api/v1/gateways{solo}/p2s-sessions")
            assert again.status_code == 200 and again.json()["fresh"] is False
            assert len(_health_posts(fleet)) == 1  # the second ask cost nothing

            listed = {g["name"]: g for g in (await http.get("/api/v1/gateways")).json()["items"]}
            assert listed["vpngw-solo-weu"]["p2s"]["sessions_count"] == 60
            page = (await http.get(f"/resources{solo}")).text
            assert page.count('class="p2s-session"') == 50 and "and 10 more" in page

            no_p2s = await http.post(f"/api/v1/gateways{maint}/p2s-sessions")
            assert no_p2s.status_code == 409 and no_p2s.json()["error"] == "no_p2s"
            missing = await http.post("/api/v1/gateways/subscriptions/x/nothing/p2s-sessions")
            assert missing.status_code == 404
        assert len(_health_posts(fleet)) == 1


async def test_a_p2s_collapse_reads_the_sessions_once(tmp_path: Path):
    # the failover at 120 s disconnects every P2S user; the count says so minutes later
    async with open_fleet(load_scenario("single-connection-failover"), tmp_path) as fleet:
        await run_until(fleet, 360, step=30)  # the P2S metric lands minutes late
        lost = [
            i
            for i in fleet.agent.correlator.open_incidents()
            if i.type.value == "p2s_sessions_lost"
        ]
        assert lost, "the collapse must open p2s_sessions_lost"
        posts = _health_posts(fleet)
        assert len(posts) == 1 and posts[0].status == 202
        reading = fleet.agent.correlator.state.p2s_sessions[lost[0].resources[0].lower()]
        assert reading.trigger == "collapse"
        assert len(reading.sessions) < 60  # read while the users were still coming back
        await fleet.collect(30)  # the next step puts the reading on the incident
        incident = next(
            i for i in fleet.agent.correlator.open_incidents() if i.key == lost[0].key
        )
        assert any("getVpnclientConnectionHealth" in e.message for e in incident.timeline)
        assert len(_health_posts(fleet)) == 1
