"""The status page and topology picture draw a VNet-to-VNet link as one line between gateways."""

from __future__ import annotations

import re
from pathlib import Path

from service_helpers import open_fleet, run_until

from vpnwatch.emulator import load_scenario
from vpnwatch.service.fleet import FleetView
from vpnwatch.service.links import Links
from vpnwatch.service.topology import build_topology


async def test_one_line_per_link_between_the_two_gateways(tmp_path: Path) -> None:
    scenario = load_scenario("vnet2vnet-across-subscriptions")
    async with open_fleet(scenario, tmp_path) as fleet:
        await run_until(fleet, 60)
        state = fleet.agent.correlator.state
        topo = build_topology(FleetView(state, fleet.clock.now()), Links(state))
        (link,) = [ln for ln in topo.lines if ln.kind == "vnet2vnet"]
        assert link.dashed and link.health == "up"
        assert "vpngw-hub-weu ↔ vpngw-spoke-use" in link.title
        assert "cn-hub-weu-to-spoke-use, cn-spoke-use-to-hub-weu" in link.title
        boxes = {b.label: b for b in topo.boxes if b.kind == "gateway"}
        hub, spoke = boxes["vpngw-hub-weu"], boxes["vpngw-spoke-use"]
        assert {link.y1, link.y2} == {hub.y + 10, spoke.y + 10}
        assert not [b for b in topo.boxes if b.kind == "site" and "vpngw" in b.label]

        await run_until(fleet, 90)  # the hub's active instance failed at 120 s
        async with fleet.client() as client:
            svg = (await client.get("/topology.svg")).text
            page = (await client.get("/")).text
        drawn = re.findall(r'<path class="h-(\w+)"[^>]*><title>VNet-to-VNet ([^<]*)</title>', svg)
        assert [health for health, _ in drawn] == ["down"], drawn
        assert "VNet-to-VNet vpngw-hub-weu ↔ vpngw-spoke-use" in page
