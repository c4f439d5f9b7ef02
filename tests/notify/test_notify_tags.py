"""Routing by Azure tags, through the real pipeline: the emulator serves gateways, connections
and sites with `tags`, the collectors read them through the SDK, the correlator carries them on
the incidents as `tag:<name>`, and routes with `tag:` label matchers send each incident where its
tags say."""

from __future__ import annotations

from pathlib import Path

import httpx
from notify_helpers import CaptureServer, assert_valid

from vpnwatch.agent import Agent
from vpnwatch.clock import ManualClock
from vpnwatch.emulator import Emulator, load_scenario
from vpnwatch.notify.settings import NotifySettings
from vpnwatch.replay import REPLAY_EPOCH, emulator_settings
from vpnwatch.service.app import create_app

SCENARIO = Path(__file__).parent / "scenarios" / "tagged.yaml"


async def test_routes_match_the_resources_azure_tags(tmp_path: Path) -> None:
    scenario = load_scenario(str(SCENARIO))
    clock = ManualClock(REPLAY_EPOCH)
    async with (
        CaptureServer() as pager,
        CaptureServer() as hook,
        Emulator(scenario, clock=clock, port=0) as emu,
    ):
        settings = emulator_settings(
            emu.base_url, scenario, epoch=REPLAY_EPOCH, store_path=str(tmp_path / "v.sqlite3")
        )
        receivers = [
            {"name": "prod-pager", "kind": "pagerduty", "url": f"{pager.url}/v2/enqueue",
             "routing_key": "R" * 32},
            {"name": "dev-hook", "kind": "webhook", "url": f"{hook.url}/dev",
             "secret": "hook-secret"},
        ]  # fmt: skip
        settings.notify = NotifySettings(
            receivers=receivers,
            routes=[
                {"match": {"labels": {"tag:env": "prod"}}, "receivers": ["prod-pager"]},
                {"match": {"labels": {"tag:env": "DEV"}}, "receivers": ["dev-hook"]},
            ],
            group_wait_seconds=0,
        )
        agent = Agent(settings, clock=clock)
        app = create_app(settings, agent=agent, manage_agent=False)
        await agent.open()
        assert agent.notifications is not None
        await agent.notifications.start()
        try:
            for _ in range(30):  # to 150 s: both tunnels down since 60 s
                await agent.run_due()
                clock.advance(5)
            assert await agent.notifications.drain(timeout=20)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                listed = (await client.get("/api/v1/incidents?status=open")).json()["items"]
        finally:
            await agent.stop()

    opened = {i["attributes"]["connection"]: i for i in listed if i["type"] == "tunnel_down"}
    prod, dev = opened["cn-prod-a"], opened["cn-dev-b"]
    # the connection's own tags, then those every other resource of it agrees on
    assert {k: v for k, v in prod["attributes"].items() if k.startswith("tag:")} == {
        "tag:env": "prod", "tag:owner": "alice", "tag:team": "network",
    }  # fmt: skip
    # an untagged connection takes its gateway's env (its site has no tags)
    assert {k: v for k, v in dev["attributes"].items() if k.startswith("tag:")} == {
        "tag:env": "dev"
    }

    pages = [r.json() for r in pager.requests]
    hooks = [r.json() for r in hook.requests]
    for body in pages:
        assert_valid("pagerduty", body)
    triggered = [p for p in pages if p["event_action"] == "trigger"]
    assert triggered and all(p["dedup_key"].startswith(prod["key"] + "#") for p in triggered)
    assert {h["incident"]["title"] for h in hooks} == {dev["title"]}
    assert hooks[0]["incident"]["labels"]["tag:env"] == "dev"
