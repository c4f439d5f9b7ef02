"""Helpers for the service tests: a real agent polling a real emulator over loopback HTTP, and
Azure Monitor alert payloads built from the documented examples.

`open_fleet` opens an agent on a `ManualClock` without starting its loops, so a test decides when
a collection pass happens (`await fleet.collect()`) and time only moves when it says so.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import SecretStr

from vpnwatch.agent import Agent
from vpnwatch.clock import ManualClock
from vpnwatch.config import Settings
from vpnwatch.emulator import Emulator, Scenario
from vpnwatch.notify.settings import NotifySettings
from vpnwatch.replay import REPLAY_EPOCH, emulator_settings
from vpnwatch.service.app import create_app
from vpnwatch.service.metrics import ServiceMetrics

ALERTS = Path(__file__).parent / "alerts"
WEBHOOK_SECRET = "s3cret-webhook-token"
WEBHOOK = "/webhooks/azure-monitor"


def service_settings(
    base_url: str, scenario: Scenario, store_path: Path, **service: Any
) -> Settings:
    settings = emulator_settings(base_url, scenario, epoch=REPLAY_EPOCH, store_path=str(store_path))
    settings.service.webhook.secret = SecretStr(WEBHOOK_SECRET)
    for key, value in service.items():
        setattr(settings.service, key, value)
    return settings


@dataclass
class Fleet:
    scenario: Scenario
    emulator: Emulator
    clock: ManualClock
    settings: Settings
    agent: Agent
    metrics: ServiceMetrics
    app: FastAPI  # serving `agent`; the test drives the agent (manage_agent=False)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://testserver"
        )

    async def collect(self, seconds: float = 0.0) -> None:
        """Move the clock, then run every collector that is due (all of them, the first time)."""
        if seconds:
            self.clock.advance(seconds)
        await self.agent.run_due()

    def gateway(self, name: str) -> Any:
        state = self.agent.correlator.state
        return next(g for g in state.gateways.values() if g.name == name)


SERVICE_SCENARIO = Path(__file__).parent / "scenarios" / "service.yaml"


@asynccontextmanager
async def open_fleet(
    scenario: Scenario, tmp_path: Path, notify: NotifySettings | None = None
) -> AsyncIterator[Fleet]:
    """An emulator serving `scenario` and an opened (not started) agent watching it; with
    `notify`, its notification pipeline sends for real."""
    clock = ManualClock(REPLAY_EPOCH)
    async with Emulator(scenario, clock=clock, port=0) as emulator:
        settings = service_settings(emulator.base_url, scenario, tmp_path / "vpnwatch.sqlite3")
        if notify is not None:
            settings.notify = notify
        metrics = ServiceMetrics(settings.service)
        agent = Agent(settings, clock=clock, observer=metrics)
        app = create_app(settings, agent=agent, metrics=metrics, manage_agent=False)
        await agent.open()
        if agent.notifications is not None:
            await agent.notifications.start()
        try:
            yield Fleet(scenario, emulator, clock, settings, agent, metrics, app)
        finally:
            await agent.stop()
            metrics.shutdown()


# --- Azure Monitor alert payloads ------------------------------------------------------------

# Which essentials go with each documented alertContext fragment.
FRAGMENTS = {
    "metric-static-threshold": ("Metric", "Platform"),
    "metric-dynamic-threshold": ("Metric", "Platform"),
    "resourcehealth": ("Activity Log", "Resource Health"),
    "activitylog-administrative": ("Activity Log", "Activity Log - Administrative"),
}


def sample_payload() -> dict[str, Any]:
    return json.loads((ALERTS / "alerts-common-schema.sample-alert-payload.json").read_text())


def alert_payload(kind: str, *, alert_id: str, targets: list[str] | None = None) -> dict[str, Any]:
    """The documented `alertContext` for `kind`, wrapped with the sample payload's essentials."""
    payload = copy.deepcopy(sample_payload())
    fragment = json.loads((ALERTS / f"alerts-common-schema.{kind}.alertContext.json").read_text())
    signal_type, service = FRAGMENTS[kind]
    essentials = payload["data"]["essentials"]
    essentials.update(
        alertId=alert_id,
        signalType=signal_type,
        monitoringService=service,
        monitorCondition="Fired",
    )
    essentials.pop("resolvedDateTime", None)
    if targets is not None:
        essentials["alertTargetIDs"] = targets
    payload["data"]["alertContext"] = fragment["alertContext"]
    return payload


def auth() -> dict[str, str]:
    return {"X-Vpnwatch-Token": WEBHOOK_SECRET}


TUNNEL_FAULT_AT = 60  # service.yaml: cn-weu-rotterdam's tunnels go down


async def run_until(fleet: Fleet, seconds: float, step: float = 5.0) -> None:
    """Collect at t=0, then let the collectors run on their intervals up to `seconds`."""
    await fleet.collect()
    elapsed = 0.0
    while elapsed < seconds:
        await fleet.collect(step)
        elapsed += step
