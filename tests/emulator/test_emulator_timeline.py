"""Faults on the timeline change exactly the rows they should, and recover, over the wire."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from vpnwatch.clock import ManualClock
from vpnwatch.emulator import Emulator, load_scenario
from vpnwatch.emulator.scenario import SCENARIO_DIR


@pytest.fixture
async def emulator(clock: ManualClock, request: pytest.FixtureRequest) -> AsyncIterator[Emulator]:
    async with Emulator(load_scenario(request.param), clock=clock) as emu:
        yield emu


def at(clock: ManualClock, emu: Emulator, seconds: float) -> None:
    assert emu.started_at is not None
    clock.set(emu.started_at + timedelta(seconds=seconds))


async def connection(arm: Any, emu: Emulator, rg: str, name: str) -> dict[str, Any]:
    body = await arm.get(arm.url(emu, rg, f"/connections/{name}"))
    props: dict[str, Any] = body["properties"]
    return props


async def statuses(arm: Any, emu: Emulator, rg: str) -> dict[str, str]:
    """Each listed connection's status, read by name: a list carries none."""
    listed = await arm.get(arm.url(emu, rg, "/connections"))
    names = [c["name"] for c in listed["value"]]
    return {n: (await connection(arm, emu, rg, n))["connectionStatus"] for n in names}


def tunnels(props: dict[str, Any]) -> list[str]:
    return [t["connectionStatus"] for t in props.get("tunnelConnectionStatus", [])]


async def bgp(arm: Any, emu: Emulator, rg: str, gateway: str) -> list[dict[str, Any]]:
    _, body = await arm.lro(arm.url(emu, rg, f"/virtualNetworkGateways/{gateway}/getBgpPeerStatus"))
    rows: list[dict[str, Any]] = body["value"]
    return rows


@pytest.mark.parametrize("emulator", ["unplanned-failover"], indirect=True)
async def test_active_standby_failover_and_recovery(
    emulator: Emulator, clock: ManualClock, arm: Any
) -> None:
    rg = "rg-core-weu"
    at(clock, emulator, 119)
    before = await connection(arm, emulator, rg, "cn-core-weu-paris")
    assert before["connectionStatus"] == "Connected"
    assert [r["state"] for r in await bgp(arm, emulator, rg, "vpngw-core-weu")] == [
        "Connected",
        "Connected",
    ]

    at(clock, emulator, 150)
    during = await connection(arm, emulator, rg, "cn-core-weu-paris")
    assert during["connectionStatus"] == "NotConnected"
    assert tunnels(during) == ["NotConnected"]
    # while down, the tunnel still names the connection it lost; it moves on reconnection
    last = "lastConnectionEstablishedUtcTime"
    assert during["tunnelConnectionStatus"][0][last] == before["tunnelConnectionStatus"][0][last]
    rows = await bgp(arm, emulator, rg, "vpngw-core-weu")
    assert [(r["state"], r["connectedDuration"], r["routesReceived"]) for r in rows] == [
        ("Unknown", "", 0),
        ("Unknown", "", 0),
    ]
    edge = await connection(arm, emulator, rg, "cn-edge-weu-brussels")
    assert edge["connectionStatus"] == "Connected"  # another gateway: untouched

    at(clock, emulator, 170)
    after = await connection(arm, emulator, rg, "cn-core-weu-paris")
    assert after["connectionStatus"] == "Connected"
    established = after["tunnelConnectionStatus"][0]["lastConnectionEstablishedUtcTime"]
    assert emulator.started_at is not None
    assert established == (emulator.started_at + timedelta(seconds=165)).strftime(
        "%m/%d/%Y %H:%M:%S"
    )
    assert established != before["tunnelConnectionStatus"][0]["lastConnectionEstablishedUtcTime"]
    # Counters never run backwards, and stood still while the tunnel was down.
    assert before["ingressBytesTransferred"] <= during["ingressBytesTransferred"]
    assert during["ingressBytesTransferred"] < after["ingressBytesTransferred"]
    rows = await bgp(arm, emulator, rg, "vpngw-core-weu")
    assert {r["state"] for r in rows} == {"Connected"}
    assert all(r["connectedDuration"].startswith("00:00:0") for r in rows)

    # The second failover (of the other instance) takes 150 s: down from 420 s to 570 s.
    at(clock, emulator, 569)
    assert (await connection(arm, emulator, rg, "cn-core-weu-brussels"))[
        "connectionStatus"
    ] == "NotConnected"
    at(clock, emulator, 570)
    assert (await connection(arm, emulator, rg, "cn-core-weu-brussels"))[
        "connectionStatus"
    ] == "Connected"


@pytest.mark.parametrize("emulator", ["active-active-instance-loss"], indirect=True)
async def test_active_active_loses_only_one_tunnel(
    emulator: Emulator, clock: ManualClock, arm: Any
) -> None:
    rg = "rg-hub-weu"
    at(clock, emulator, 200)
    for name in ("cn-hub-weu-amsterdam", "cn-hub-weu-frankfurt"):
        props = await connection(arm, emulator, rg, name)
        assert props["connectionStatus"] == "Connected"
        assert tunnels(props) == ["Connected", "NotConnected"]
    rows = await bgp(arm, emulator, rg, "vpngw-hub-weu")
    states = {(r["localAddress"], r["neighbor"]): r["state"] for r in rows}
    assert states == {
        ("10.50.255.228", "192.168.61.254"): "Connected",
        ("10.50.255.228", "192.168.62.254"): "Connected",
        ("10.50.255.229", "192.168.61.254"): "Unknown",
        ("10.50.255.229", "192.168.62.254"): "Unknown",
    }
    at(clock, emulator, 361)
    props = await connection(arm, emulator, rg, "cn-hub-weu-amsterdam")
    assert tunnels(props) == ["Connected", "Connected"]
    assert {r["state"] for r in await bgp(arm, emulator, rg, "vpngw-hub-weu")} == {"Connected"}


@pytest.mark.parametrize("emulator", ["zone-outage"], indirect=True)
async def test_zone_outage_hits_only_instances_in_that_zone(
    emulator: Emulator, clock: ManualClock, arm: Any
) -> None:
    weu, neu = "rg-zones-weu", "rg-zones-neu"
    at(clock, emulator, 150)
    status = {}
    for name in (
        "cn-app1-weu-paris",
        "cn-app2-weu-paris",
        "cn-app3-weu-madrid",
        "cn-app4-weu-paris",
        "cn-app5-weu-madrid",
        "cn-hub-weu-paris",
    ):
        status[name] = (await connection(arm, emulator, weu, name))["connectionStatus"]
    status["cn-app1-neu-dublin"] = (await connection(arm, emulator, neu, "cn-app1-neu-dublin"))[
        "connectionStatus"
    ]
    assert status == {
        "cn-app1-weu-paris": "NotConnected",  # zonal, zone 1
        "cn-app2-weu-paris": "NotConnected",  # zonal active/active, both instances in zone 1
        "cn-app3-weu-madrid": "NotConnected",
        "cn-app4-weu-paris": "Connected",  # zone 2
        "cn-app5-weu-madrid": "Connected",
        "cn-hub-weu-paris": "NotConnected",  # zone-redundant: failing over from zone 1
        "cn-app1-neu-dublin": "Connected",  # zone 1 of another region
    }
    at(clock, emulator, 170)
    assert (await connection(arm, emulator, weu, "cn-hub-weu-paris"))[
        "connectionStatus"
    ] == "Connected"
    assert (await connection(arm, emulator, weu, "cn-app1-weu-paris"))[
        "connectionStatus"
    ] == "NotConnected"
    at(clock, emulator, 421)
    assert (await connection(arm, emulator, weu, "cn-app2-weu-paris"))[
        "connectionStatus"
    ] == "Connected"


@pytest.mark.parametrize("emulator", ["site-down"], indirect=True)
async def test_site_down_takes_every_connection_to_that_site(
    emulator: Emulator, clock: ManualClock, arm: Any
) -> None:
    rg = "rg-vpn-weu"
    at(clock, emulator, 200)
    status = await statuses(arm, emulator, rg)
    assert status == {
        "cn-hub-weu-paris": "NotConnected",
        "cn-hub-weu-brussels": "Connected",
        "cn-sap-weu-paris": "NotConnected",
        "cn-web-weu-paris": "NotConnected",
        "cn-web-weu-brussels": "Connected",
    }
    rows = await bgp(arm, emulator, rg, "vpngw-web-weu")
    assert {r["neighbor"]: r["state"] for r in rows} == {
        "192.168.101.254": "Connecting",
        "192.168.102.254": "Connected",
    }
    at(clock, emulator, 361)
    assert set((await statuses(arm, emulator, rg)).values()) == {"Connected"}


@pytest.mark.parametrize("emulator", ["tunnel-flap"], indirect=True)
async def test_a_flapping_tunnel_goes_down_ten_times(
    emulator: Emulator, clock: ManualClock, arm: Any
) -> None:
    seen: list[str] = []
    for second in range(100, 460, 5):
        at(clock, emulator, second)
        props = await connection(arm, emulator, "rg-branch-weu", "cn-branch-weu-lille")
        seen.append(props["connectionStatus"])
    downs = sum(1 for a, b in itertools.pairwise(seen) if a == "Connected" and b == "NotConnected")
    assert downs == 10
    assert seen[-1] == "Connected"


@pytest.mark.parametrize("emulator", ["expressroute-failover-to-vpn"], indirect=True)
async def test_circuit_down_keeps_the_vpn_up(
    emulator: Emulator, clock: ManualClock, arm: Any
) -> None:
    rg = "rg-hub-weu"
    er = "/expressRouteCircuits/er-weu-amsterdam/peerings/AzurePrivatePeering"
    at(clock, emulator, 100)
    _, summary = await arm.lro(arm.url(emulator, rg, f"{er}/routeTablesSummary/primary"))
    assert summary["value"][0]["statePfxRcd"] == "25"
    stats_before = await arm.get(
        arm.url(emulator, rg, "/expressRouteCircuits/er-weu-amsterdam/stats")
    )
    at(clock, emulator, 200)
    _, summary = await arm.lro(arm.url(emulator, rg, f"{er}/routeTablesSummary/primary"))
    assert summary["value"][0]["statePfxRcd"] == "Idle"
    _, routes = await arm.lro(arm.url(emulator, rg, f"{er}/routeTables/secondary"))
    assert [r["network"] for r in routes["value"]] == ["10.60.0.0/16"]  # only the VNet's own
    assert (await connection(arm, emulator, rg, "cn-hub-weu-amsterdam-er"))[
        "connectionStatus"
    ] == "NotConnected"
    assert (await connection(arm, emulator, rg, "cn-hub-weu-amsterdam-vpn"))[
        "connectionStatus"
    ] == "Connected"
    stats_during = await arm.get(
        arm.url(emulator, rg, "/expressRouteCircuits/er-weu-amsterdam/stats")
    )
    at(clock, emulator, 300)
    stats_later = await arm.get(
        arm.url(emulator, rg, "/expressRouteCircuits/er-weu-amsterdam/stats")
    )
    assert stats_before["primarybytesIn"] < stats_during["primarybytesIn"]
    assert stats_during == stats_later  # both links down: nothing moves
    at(clock, emulator, 570)
    assert (await connection(arm, emulator, rg, "cn-hub-weu-amsterdam-vpn"))[
        "connectionStatus"
    ] == "NotConnected"
    at(clock, emulator, 601)
    assert (await connection(arm, emulator, rg, "cn-hub-weu-amsterdam-er"))[
        "connectionStatus"
    ] == "Connected"


def _custom(tmp_path: Path, timeline: list[dict[str, Any]], **noise: Any) -> Path:
    doc = yaml.safe_load((SCENARIO_DIR / "quiet.yaml").read_text())
    doc["timeline"] = timeline
    doc["noise"] = noise
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


async def test_bgp_faults_routes_withdrawn_and_link_down(
    tmp_path: Path, clock: ManualClock, arm: Any
) -> None:
    path = _custom(
        tmp_path,
        [
            {
                "at": 60,
                "kind": "bgp_peer_down",
                "gateway": "vpngw-hub-weu",
                "neighbor": "lgw-frankfurt-dc",
                "instance": 0,
                "duration": 60,
            },
            {
                "at": 60,
                "kind": "routes_withdrawn",
                "gateway": "vpngw-hub-weu",
                "neighbor": "192.168.10.254",
                "routes": 2,
                "id": "withdrawal",
            },
            {"at": 300, "kind": "recover", "fault": "withdrawal"},
            {
                "at": 60,
                "kind": "circuit_link_down",
                "circuit": "er-weu-amsterdam",
                "link": "secondary",
                "duration": 60,
            },
        ],
    )
    async with Emulator(load_scenario(path), clock=clock) as emu:
        at(clock, emu, 90)
        rows = await bgp(arm, emu, "rg-hub-weu", "vpngw-hub-weu")
        view = {
            (r["localAddress"][-3:], r["neighbor"]): (r["state"], r["routesReceived"]) for r in rows
        }
        assert view == {
            ("228", "192.168.10.254"): ("Connected", 2),
            ("228", "192.168.20.254"): ("Idle", 0),
            ("229", "192.168.10.254"): ("Connected", 2),
            ("229", "192.168.20.254"): ("Connected", 8),
        }
        er = "/expressRouteCircuits/er-weu-amsterdam/peerings/AzurePrivatePeering"
        summary = arm.url(emu, "rg-hub-weu", f"{er}/routeTablesSummary")
        _, secondary = await arm.lro(f"{summary}/secondary")
        _, primary = await arm.lro(f"{summary}/primary")
        assert secondary["value"][0]["statePfxRcd"] == "Idle"
        assert primary["value"][0]["statePfxRcd"] == "25"
        assert (await connection(arm, emu, "rg-hub-weu", "cn-er-hub-weu"))[
            "connectionStatus"
        ] == "Connected"  # one link is enough
        at(clock, emu, 301)
        rows = await bgp(arm, emu, "rg-hub-weu", "vpngw-hub-weu")
        assert {(r["state"], r["routesReceived"]) for r in rows} == {
            ("Connected", 12),
            ("Connected", 8),
        }


async def test_api_faults_and_missed_polls(tmp_path: Path, clock: ManualClock, arm: Any) -> None:
    path = _custom(
        tmp_path,
        [
            {"at": 100, "kind": "api_unavailable", "duration": 10},
            {"at": 200, "kind": "auth_failure", "duration": 10},
        ],
        missed_polls=[{"at": 50, "match": "/connections", "count": 2}],
    )
    async with Emulator(load_scenario(path), clock=clock) as emu:
        connections = arm.url(emu, "rg-hub-weu", "/connections")
        gateways = arm.url(emu, "rg-hub-weu", "/virtualNetworkGateways")
        assert (await arm.raw("GET", connections)).status_code == 200  # before `at`
        at(clock, emu, 60)
        assert (await arm.raw("GET", gateways)).status_code == 200  # does not match
        missed = [await arm.raw("GET", connections) for _ in range(3)]
        assert [r.status_code for r in missed] == [503, 503, 200]
        assert missed[0].headers["retry-after-ms"] == "1"
        at(clock, emu, 105)
        down = await arm.raw(
            "POST",
            arm.url(emu, "rg-hub-weu", "/virtualNetworkGateways/vpngw-hub-weu/getBgpPeerStatus"),
        )
        assert down.status_code == 503
        assert down.json()["error"]["code"] == "ServiceUnavailable"
        at(clock, emu, 205)
        denied = await arm.raw("GET", gateways)
        assert denied.status_code == 401
        assert "WWW-Authenticate" not in denied.headers
        at(clock, emu, 211)
        assert (await arm.raw("GET", gateways)).status_code == 200


async def test_wire_basics(quiet: Emulator, arm: Any) -> None:
    url = arm.url(quiet, "rg-hub-weu", "/virtualNetworkGateways")
    first = await arm.raw("GET", url)
    second = await arm.raw("GET", url)
    assert first.headers["content-type"] == "application/json; charset=utf-8"
    assert first.headers["x-ms-request-id"] != second.headers["x-ms-request-id"]
    remaining = [
        int(r.headers["x-ms-ratelimit-remaining-subscription-reads"]) for r in (first, second)
    ]
    assert remaining[1] == remaining[0] - 1
    assert first.json()["nextLink"].startswith(f"{quiet.base_url}/subscriptions/")
    assert "api-version=2026-03-01" in first.json()["nextLink"]
    assert "$skipToken=2" in first.json()["nextLink"]
    # ARM paths are case-insensitive.
    lower = url.replace("resourceGroups", "resourcegroups").replace(
        "virtualNetworkGateways", "virtualnetworkgateways"
    )
    assert (await arm.raw("GET", lower)).json()["value"] == first.json()["value"]
    no_version = await arm.client.get(url, headers=arm.auth)
    assert no_version.status_code == 400
    assert no_version.json()["error"]["code"] == "MissingApiVersionParameter"
    anonymous = await arm.client.get(f"{url}?api-version=2026-03-01")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "AuthenticationFailed"
    write = await arm.raw("PUT", arm.url(quiet, "rg-hub-weu", "/virtualNetworkGateways/x"))
    assert write.status_code == 403
    missing = await arm.raw("GET", arm.url(quiet, "rg-hub-weu", "/connections/nope"))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "ResourceNotFound"


async def test_the_same_moment_gives_the_same_answer(arm: Any) -> None:
    bodies = []
    for _ in range(2):
        clock = ManualClock()
        async with Emulator(load_scenario("unplanned-failover"), clock=clock) as emu:
            at(clock, emu, 333)
            bodies.append(await arm.get(arm.url(emu, "rg-core-weu", "/connections")))
    assert bodies[0] == bodies[1]


async def test_jittered_counters_never_run_backwards(
    quiet: Emulator, clock: ManualClock, arm: Any
) -> None:
    samples = []
    for _ in range(30):
        clock.advance(7)
        props = await connection(arm, quiet, "rg-hub-weu", "cn-hub-weu-frankfurt")
        samples.append((props["ingressBytesTransferred"], props["egressBytesTransferred"]))
    deltas = [b[0] - a[0] for a, b in itertools.pairwise(samples)]
    assert all(d > 0 for d in deltas)
    assert len(set(deltas)) > 1  # jitter: the rate is not constant
