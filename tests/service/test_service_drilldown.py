"""Drilling down from the status page, in headless Chromium, during the shipped zone-outage
scenario: from `/` to the zone outage's incident page and to a gateway's page, following the
links the pages carry; every resource that is down is named where a person looks for it."""

from __future__ import annotations

import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import httpx
from browser import chromium, needs_chromium
from service_helpers import Fleet, open_fleet, run_until

from vpnwatch.correlate.entities import Health
from vpnwatch.emulator import load_scenario
from vpnwatch.service.app import running
from vpnwatch.service.links import entity_label

ZONE_LOST_AT = 120  # zone-outage.yaml: westeurope zone 1 fails at 120 s for 300 s


class _Links(HTMLParser):
    """Every link on a page, as (href, text), and the text of elements marked down."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self.text: list[str] = []
        self._href: str | None = None
        self._anchor: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._href = dict(attrs).get("href")
            self._anchor = []

    def handle_endtag(self, tag):
        if tag == "a" and self._href is not None:
            self.links.append((self._href, " ".join("".join(self._anchor).split())))
            self._href = None

    def handle_data(self, data):
        self.text.append(data)
        if self._href is not None:
            self._anchor.append(data)

    def page_text(self) -> str:
        return " ".join(" ".join(self.text).split())

    def href(self, pattern: str) -> str:
        found = [h for h, text in self.links if re.search(pattern, text)]
        assert found, f"no link whose text matches {pattern!r}; links: {self.links[:40]}"
        return found[0]


def _parse(dom: bytes) -> _Links:
    page = _Links()
    page.feed(dom.decode())
    return page


def _down(fleet: Fleet) -> list[str]:
    """Entity ids the correlator holds down now."""
    state = fleet.agent.correlator.state
    now = fleet.clock.now()
    return [e for e in state.entities if state.health_of(e, now) is Health.DOWN]


@needs_chromium
async def test_status_page_drills_down_to_the_incident_and_the_gateway(tmp_path: Path):
    async with open_fleet(load_scenario("zone-outage"), tmp_path) as fleet:
        await run_until(fleet, ZONE_LOST_AT + 90)
        down = _down(fleet)
        assert down, "zone 1 is lost: something must be down"
        outage = next(
            i for i in fleet.agent.correlator.open_incidents() if i.type.value == "zone_outage"
        )
        profile = tmp_path / "profile"
        async with running(fleet.app) as base_url:
            code, dom = await chromium(profile, "--dump-dom", base_url + "/")
            assert code == 0
            status = _parse(dom)

            # the resources that are down are named on the status page, each a link
            names = {text for _, text in status.links}
            for entity in down:
                assert entity_label(entity) in names, f"{entity_label(entity)} not listed"

            # follow the zone outage's link to its incident page
            incident_href = status.href(re.escape(outage.title))
            assert incident_href == f"/incidents/{outage.id}"
            _, dom = await chromium(profile, "--dump-dom", base_url + incident_href)
            incident = _parse(dom)
            text = incident.page_text()
            assert outage.title in text
            assert "Who was down when" in text and "Related incidents" in text
            for child in fleet.agent.correlator.open_incidents():
                if child.parent_key == outage.key:
                    assert child.title in text, f"child {child.title!r} not on the page"
            # the zone's gateways are named among its resources, as links
            assert {"vpngw-app1-weu-z1", "vpngw-app2-weu-z1", "vpngw-app3-weu-z1"} <= {
                t for _, t in incident.links
            }

            # follow a gateway link from the status page to the gateway's own page
            gateway_href = status.href(r"^vpngw-app2-weu-z1$")
            assert gateway_href.startswith("/resources/subscriptions/")
            _, dom = await chromium(profile, "--dump-dom", base_url + gateway_href)
            gateway = _parse(dom)
            text = gateway.page_text()
            assert "Gateway vpngw-app2-weu-z1" in text
            for entity in down:
                if "vpngw-app2-weu-z1" in entity and "/instances/" in entity:
                    assert entity.rsplit("/", 1)[-1] in text
            # its connections, tunnels and the incident about it, linked back
            assert "cn-app2-weu-paris" in text and "cn-app2-weu-madrid" in text
            assert 'data-health="down"' in dom.decode()
            assert any(h.startswith("/incidents/") for h, _ in gateway.links)

            # a tunnel's link leads to its gateway's page, at its row
            tunnel = next(e for e in down if "/tunnels/" in e and "cn-app1-weu-paris" in e)
            href = status.href(re.escape(entity_label(tunnel)))
            async with httpx.AsyncClient(base_url=base_url) as client:
                page = await client.get(href.split("#")[0])
            assert page.status_code == 200 and "Gateway vpngw-app1-weu-z1" in page.text
            assert f'id="{href.split("#")[1]}"' in page.text

            shots = os.environ.get("VPNWATCH_SCREENSHOT_DIR")
            if shots:  # pictures for a person (and the README) to look at
                for name, path, size in (
                    ("topology-zone-outage.png", "/topology.svg", "1100,760"),
                    ("status-zone-outage.png", "/", "1280,2200"),
                    ("incident-zone-outage.png", incident_href, "1280,1400"),
                ):
                    shot = tmp_path / name
                    await chromium(
                        profile, f"--window-size={size}", f"--screenshot={shot}",
                        base_url + path,
                    )  # fmt: skip
                    shutil.copyfile(shot, Path(shots) / name)


async def test_unknown_incident_and_resource_pages_are_404(fleet: Fleet):
    await fleet.collect()
    async with fleet.client() as client:
        incident = await client.get("/incidents/0123456789abcdef")
        resource = await client.get("/resources/subscriptions/x/resourceGroups/y/providers/z/w")
    assert incident.status_code == 404 and "No incident" in incident.text
    assert resource.status_code == 404 and "text/html" in resource.headers["content-type"]
