"""Fixtures for the tests of what ships beside the package (Dockerfile, alerts, dashboards).

`exported` is what a real vpnwatch serves on /metrics: an agent on a `ManualClock` polls the
emulator over loopback HTTP through the Azure SDKs until every metric has samples (tunnels down,
a failover resolved), then the app's /metrics is scraped once for the whole session.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import httpx
import pytest
from shipped_helpers import SCENARIO, Exported

from vpnwatch.agent import Agent
from vpnwatch.clock import ManualClock
from vpnwatch.emulator import Emulator, load_scenario
from vpnwatch.notify.settings import NotifySettings
from vpnwatch.replay import REPLAY_EPOCH, emulator_settings
from vpnwatch.service.app import create_app
from vpnwatch.service.metrics import ServiceMetrics

RUN_SECONDS = 400  # past the failover's restoration (150 s) and its clear hold
STEP_SECONDS = 15


async def scrape_estate(store_dir: Path) -> str:
    """/metrics of an agent that watched the estate scenario for RUN_SECONDS."""
    scenario = load_scenario(str(SCENARIO))
    clock = ManualClock(REPLAY_EPOCH)
    async with Emulator(scenario, clock=clock, port=0) as emulator:
        settings = emulator_settings(
            emulator.base_url,
            scenario,
            epoch=REPLAY_EPOCH,
            store_path=str(store_dir / "vpnwatch.sqlite3"),
        )
        # a receiver, so that the notification metrics have series; its delivery is not
        # started (the agent is only opened), so nothing is sent
        settings.notify = NotifySettings(
            receivers=[{"name": "hook", "kind": "webhook", "url": "http://127.0.0.1:9/",
                        "secret": "estate"}]
        )  # fmt: skip
        metrics = ServiceMetrics(settings.service)
        agent = Agent(settings, clock=clock, observer=metrics)
        app = create_app(settings, agent=agent, metrics=metrics, manage_agent=False)
        await agent.open()
        try:
            await agent.run_due()
            for _ in range(RUN_SECONDS // STEP_SECONDS):
                clock.advance(STEP_SECONDS)
                await agent.run_due()
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://vpnwatch") as c:
                response = await c.get("/metrics")
            response.raise_for_status()
            return response.text
        finally:
            await agent.stop()
            metrics.shutdown()


@pytest.fixture(scope="session")
def metrics_text() -> str:
    with tempfile.TemporaryDirectory(prefix="vpnwatch-shipped-") as store_dir:
        return asyncio.run(scrape_estate(Path(store_dir)))


@pytest.fixture(scope="session")
def exported(metrics_text: str) -> Exported:
    return Exported.from_text(metrics_text)
