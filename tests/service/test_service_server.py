"""The service over a real uvicorn socket on 127.0.0.1, and the status page in headless Chromium."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from html.parser import HTMLParser
from pathlib import Path

import httpx
from browser import chromium, needs_chromium
from service_helpers import (
    TUNNEL_FAULT_AT,
    WEBHOOK,
    Fleet,
    alert_payload,
    auth,
    open_fleet,
    run_until,
    service_settings,
)

from vpnwatch.clock import SystemClock
from vpnwatch.emulator import Emulator, load_scenario
from vpnwatch.service.app import create_app, running


async def test_create_app_starts_the_agent_and_becomes_ready_over_a_socket(tmp_path: Path):
    """The production path: `create_app(settings)` builds its own agent; the lifespan starts the
    collectors against the emulator; /readyz turns 200 once every collector has run."""
    scenario = load_scenario("quiet")
    async with Emulator(scenario, clock=SystemClock(), port=0) as emulator:
        settings = service_settings(emulator.base_url, scenario, tmp_path / "store.sqlite3")
        app = create_app(settings)
        async with running(app) as base_url, httpx.AsyncClient(base_url=base_url) as client:
            assert base_url.startswith("http://127.0.0.1:")
            assert (await client.get("/livez")).status_code == 200
            for _ in range(200):
                ready = await client.get("/readyz")
                if ready.status_code == 200:
                    break
                assert ready.status_code == 503
                await asyncio.sleep(0.05)
            assert ready.status_code == 200, ready.text
            health = await client.get("/health")
            assert health.status_code == 200
            assert health.json()["status"] == "healthy"
            metrics = await client.get("/metrics")
            assert "vpnwatch_azure_requests_total{" in metrics.text
            assert 'code="200"' in metrics.text


async def test_webhook_limits_over_a_real_socket(fleet: Fleet):
    await fleet.collect()
    fleet.settings.service.webhook.max_body_bytes = 2048
    payload = alert_payload("resourcehealth", alert_id="/alerts/socket")
    big = alert_payload("resourcehealth", alert_id="/alerts/socket-big")
    big["data"]["alertContext"]["padding"] = "x" * 4096
    body = json.dumps(big).encode()

    async def chunks():
        for start in range(0, len(body), 512):
            yield body[start : start + 512]

    async with running(fleet.app) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        accepted = await client.post(WEBHOOK, json=payload, headers=auth())
        as_json = {**auth(), "Content-Type": "application/json"}
        declared = await client.post(WEBHOOK, content=body, headers=as_json)
        streamed = await client.post(WEBHOOK, content=chunks(), headers=as_json)
        anonymous = await client.post(WEBHOOK, json=payload)
    assert accepted.status_code == 202
    assert declared.status_code == 413 and streamed.status_code == 413
    assert anonymous.status_code == 401
    assert fleet.agent.store.get_alert("/alerts/socket") is not None
    assert fleet.agent.store.get_alert("/alerts/socket-big") is None


class _Page(HTMLParser):
    """What a person reads: headings and table cells in document order, and the status badge."""

    def __init__(self) -> None:
        super().__init__()
        self.items: list[tuple[str, str]] = []
        self._tag: str | None = None
        self._text: list[str] = []
        self.overall: str | None = None
        self._in_overall = False

    def handle_starttag(self, tag, attrs):
        if tag in {"h2", "h3", "h4", "td", "div"}:
            self._flush()
            self._tag = tag
        if dict(attrs).get("id") == "overall-status":
            self._in_overall = True

    def handle_endtag(self, tag):
        if tag == self._tag:
            self._flush()
        if tag == "span":
            self._in_overall = False

    def handle_data(self, data):
        if self._in_overall:
            self.overall = (self.overall or "") + data.strip()
        if self._tag is not None:
            self._text.append(data)

    def _flush(self):
        if self._tag is not None:
            text = " ".join("".join(self._text).split())
            if text:
                self.items.append((self._tag, text))
        self._tag, self._text = None, []

    def section_of(self, text: str) -> tuple[str | None, str | None]:
        """The region (h3) and zone (h4) heading a table cell with `text` sits under."""
        region = zone = None
        in_gateways = False
        for tag, value in self.items:
            if tag == "h2":
                in_gateways = value.startswith("Gateways by region")
            if not in_gateways:
                continue
            if tag == "h3":
                region, zone = value, None
            elif tag == "h4":
                zone = value
            elif tag == "td" and value == text:
                return region, zone
        return None, None


@needs_chromium
async def test_status_page_in_headless_chromium(tmp_path: Path):
    async with open_fleet(
        load_scenario(str(Path(__file__).parent / "scenarios" / "service.yaml")), tmp_path
    ) as estate:
        await run_until(estate, TUNNEL_FAULT_AT + 60)
        incidents = list(estate.agent.correlator.open_incidents())
        assert incidents, "the tunnel fault should have opened an incident"
        title = incidents[0].title
        async with running(estate.app) as base_url:
            profile = tmp_path / "chromium-profile"
            code, dom = await chromium(profile, "--dump-dom", base_url + "/")
            shot = tmp_path / "status.png"
            size = "--window-size=1280,1600"
            await chromium(profile, size, f"--screenshot={shot}", base_url + "/")
    assert code == 0
    page = _Page()
    page.feed(dom.decode())
    texts = [text for _, text in page.items]
    assert any(title in t for t in texts), f"incident title {title!r} not on the page"
    assert page.overall in {"degraded", "down"}
    region, zone = page.section_of("vgw-weu-01")
    assert region is not None and region.startswith("westeurope")
    assert zone == "Zone 1"
    region, zone = page.section_of("vgw-neu-01")
    assert region is not None and region.startswith("northeurope")
    assert zone == "Zone-redundant"
    assert any(t == "Data freshness" for t in texts)
    assert shot.exists() and shot.stat().st_size > 10_000
    keep = os.environ.get("VPNWATCH_KEEP_SCREENSHOT")
    if keep:  # a path to copy the screenshot to, for a person to look at
        shutil.copyfile(shot, keep)
