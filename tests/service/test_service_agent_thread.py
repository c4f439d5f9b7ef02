"""The agent on its own thread and event loop (`vpnwatch run`): the probes and /metrics answer
while the agent's loop is held, every other route runs on the agent's thread, and /livez fails
while the agent's loop is stuck."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from service_helpers import WEBHOOK, alert_payload, auth, service_settings

from vpnwatch.agent import Agent
from vpnwatch.agent.thread import AgentThread
from vpnwatch.clock import SystemClock
from vpnwatch.emulator import Emulator, load_scenario
from vpnwatch.service import metrics as metrics_module
from vpnwatch.service.app import create_app, running
from vpnwatch.service.metrics import ServiceMetrics


@asynccontextmanager
async def _served(tmp_path: Path) -> AsyncIterator[tuple[AgentThread, httpx.AsyncClient, object]]:
    scenario = load_scenario("quiet")
    async with Emulator(scenario, clock=SystemClock(), port=0) as emulator:
        settings = service_settings(emulator.base_url, scenario, tmp_path / "store.sqlite3")
        metrics = ServiceMetrics(settings.service)
        agent = Agent(settings, observer=metrics)
        runner = AgentThread(agent)
        await runner.start()
        try:
            app = create_app(
                settings, agent=agent, metrics=metrics, manage_agent=False, runner=runner
            )
            async with running(app) as base_url, httpx.AsyncClient(base_url=base_url) as client:
                for _ in range(400):
                    if (await client.get("/readyz")).status_code == 200:
                        break
                    await asyncio.sleep(0.05)
                assert (await client.get("/readyz")).status_code == 200
                yield runner, client, app
        finally:
            await runner.stop()
    assert not runner._thread or not runner._thread.is_alive()


def _hold_agent_loop(runner: AgentThread, seconds: float) -> threading.Event:
    """Block the agent's loop for `seconds` (as a long step would); the event is set once it
    is held."""
    held = threading.Event()

    def hold() -> None:
        held.set()
        time.sleep(seconds)

    assert runner.loop is not None
    runner.loop.call_soon_threadsafe(hold)
    return held


async def _timed(client: httpx.AsyncClient, path: str) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await client.get(path)
    return response, time.perf_counter() - started


async def test_probes_and_metrics_answer_while_the_agent_loop_is_held(tmp_path: Path):
    async with _served(tmp_path) as (runner, client, _):
        await client.get("/metrics")  # the first scrape waits for a snapshot; later ones do not
        held = _hold_agent_loop(runner, 2.0)
        assert await asyncio.to_thread(held.wait, 5)
        for path in ("/livez", "/readyz", "/health", "/metrics"):
            response, seconds = await _timed(client, path)
            assert response.status_code == 200, (path, response.text)
            assert seconds < 0.5, (path, seconds)
        assert (await client.get("/health")).json()["ready"] is True
        assert "vpnwatch_gateway_instance_up{" in (await client.get("/metrics")).text
        # a route that reads agent state waits for the agent's loop
        response, seconds = await _timed(client, "/api/v1/gateways")
        assert response.status_code == 200 and response.json()["items"]
        assert seconds > 0.5


async def test_routes_run_on_the_agent_thread_and_read_the_body_across(tmp_path: Path):
    async with _served(tmp_path) as (runner, client, app):
        seen: list[str] = []

        @app.get("/_thread")
        async def which_thread() -> dict[str, str]:
            seen.append(threading.current_thread().name)
            return {}

        assert (await client.get("/_thread")).status_code == 200
        assert seen == ["vpnwatch-agent"]
        accepted = await client.post(
            WEBHOOK, json=alert_payload("resourcehealth", alert_id="/alerts/thread"), headers=auth()
        )
        assert accepted.status_code == 202, accepted.text
        store = runner.agent.store
        assert store is not None
        assert await asyncio.to_thread(store.get_alert, "/alerts/thread") is not None


async def test_livez_fails_while_the_agent_loop_is_stuck(tmp_path: Path):
    async with _served(tmp_path) as (runner, client, app):
        app.state.read_models.stuck_seconds = 0.5
        assert (await client.get("/livez")).status_code == 200
        held = _hold_agent_loop(runner, 2.0)
        assert await asyncio.to_thread(held.wait, 5)
        await asyncio.sleep(1.0)
        stuck = await client.get("/livez")
        assert stuck.status_code == 503
        assert "stuck" in stuck.json()["status"]
        for _ in range(100):  # the loop runs again: alive again
            if (await client.get("/livez")).status_code == 200:
                break
            await asyncio.sleep(0.05)
        assert (await client.get("/livez")).status_code == 200


async def test_the_metrics_snapshot_is_built_on_the_agent_thread(tmp_path: Path, monkeypatch):
    """No worker thread competes with the service's for the interpreter while it is built."""
    built_in: list[str] = []
    take = metrics_module._take_snapshot

    def spy(agent, view):
        built_in.append(threading.current_thread().name)
        return take(agent, view)

    monkeypatch.setattr(metrics_module, "_take_snapshot", spy)
    async with _served(tmp_path) as (_, client, _app):
        response = await client.get("/metrics")
        assert response.status_code == 200
        assert "vpnwatch_ready 1.0" in response.text
    assert built_in and set(built_in) == {"vpnwatch-agent"}
