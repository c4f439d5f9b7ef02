"""The notify stage inside the agent and its service: a real emulator playing the zone-outage
scenario, real receivers on 127.0.0.1. One page per root incident (children never on their
own), the silences API behind the API's authentication, and no credential anywhere the service
shows or logs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from notify_helpers import Answer, CaptureServer, assert_valid

from vpnwatch.agent import Agent
from vpnwatch.clock import ManualClock
from vpnwatch.config import ApiAuthSettings
from vpnwatch.emulator import Emulator, load_scenario
from vpnwatch.notify.settings import NotifySettings
from vpnwatch.replay import REPLAY_EPOCH, emulator_settings
from vpnwatch.service.app import create_app
from vpnwatch.service.metrics import ServiceMetrics

ROUTING_KEY = "PDroutingKEY0123456789abcdefABCD"
SLACK_PATH = "/services/T000/B000/slackWEBHOOKsecretXYZ"
WEBHOOK_SECRET = "hmac-secret-never-shown"
API_TOKEN = "silence-api-token-never-shown"
SECRETS = (ROUTING_KEY, SLACK_PATH.rsplit("/", 1)[1], WEBHOOK_SECRET, API_TOKEN)


@dataclass
class Notified:
    agent: Agent
    app: object
    clock: ManualClock
    pager: CaptureServer
    chat: CaptureServer
    hook: CaptureServer

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://testserver"
        )

    async def play(self, until: float, step: float = 5.0) -> None:
        elapsed = 0.0
        while elapsed <= until:
            await self.agent.run_due()
            self.clock.advance(step)
            elapsed += step
        assert self.agent.notifications is not None
        assert await self.agent.notifications.drain(timeout=20)


@asynccontextmanager
async def notified(
    tmp_path: Path,
    scenario: str = "zone-outage",
    routes: list | None = None,
    *,
    api_token: str | None = API_TOKEN,
    auth: ApiAuthSettings | None = None,
) -> AsyncIterator[Notified]:
    loaded = load_scenario(scenario)
    clock = ManualClock(REPLAY_EPOCH)
    async with (
        CaptureServer() as pager,
        CaptureServer(lambda r, n: Answer(200, "ok")) as chat,
        CaptureServer() as hook,
        Emulator(loaded, clock=clock, port=0) as emu,
    ):
        settings = emulator_settings(
            emu.base_url, loaded, epoch=REPLAY_EPOCH, store_path=str(tmp_path / "v.sqlite3")
        )
        settings.notify = NotifySettings(
            receivers=[
                {
                    "name": "pd",
                    "kind": "pagerduty",
                    "url": f"{pager.url}/v2/enqueue",
                    "routing_key": ROUTING_KEY,
                },
                {"name": "chat", "kind": "slack", "url": f"{chat.url}{SLACK_PATH}"},
                {
                    "name": "hook",
                    "kind": "webhook",
                    "url": f"{hook.url}/in",
                    "secret": WEBHOOK_SECRET,
                },
            ],
            routes=routes,
            api_token=api_token,
            link_base_url="http://127.0.0.1:8080",
        )
        if auth is not None:
            settings.service.auth = auth
        metrics = ServiceMetrics(settings.service)
        agent = Agent(settings, clock=clock, observer=metrics)
        app = create_app(settings, agent=agent, metrics=metrics, manage_agent=False)
        await agent.open()
        assert agent.notifications is not None
        await agent.notifications.start()
        try:
            yield Notified(agent, app, clock, pager, chat, hook)
        finally:
            await agent.stop()
            metrics.shutdown()


async def test_a_zone_outage_pages_once_and_resolves_once(tmp_path: Path) -> None:
    async with notified(tmp_path) as n:
        await n.play(until=720)
    events = [(r.json()["event_action"], r.json()["dedup_key"]) for r in n.pager.requests]
    for request in n.pager.requests:
        assert_valid("pagerduty", request.json())
    pages = {key for action, key in events if action == "trigger"}
    assert len(pages) == 1, events  # the zone outage; its gateways and tunnels are listed in it
    (page,) = pages
    assert page.startswith("zone_outage:westeurope/1#")
    assert [a for a, k in events if k == page][-1] == "resolve"
    first = n.pager.requests[0].json()["payload"]
    assert "westeurope" in first["summary"] and "zone 1" in first["summary"]
    explained = [c["title"] for c in first["custom_details"]["explains"]]
    assert any("vpngw-app2-weu-z1" in t for t in explained)
    # the webhook gets everything routed to it: each root incident, never a child on its own
    hooks = [r.json() for r in n.hook.requests]
    assert {h["incident"]["type"] for h in hooks} >= {"zone_outage"}
    assert all(
        not h["incident"]["key"].startswith(("tunnel_down:", "redundancy_lost:")) for h in hooks
    )


async def test_secrets_never_show(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    everything = [{"receivers": ["pd", "chat", "hook"]}]
    async with notified(tmp_path, "site-down", routes=everything) as n:
        n.pager.script = lambda r, k: Answer(400, f'{{"message":"bad key {ROUTING_KEY}"}}')
        await n.play(until=300)
        async with n.client() as client:
            auth = {"Authorization": f"Bearer {API_TOKEN}"}
            shown = [
                await client.get("/api/v1/notifications?limit=1000"),
                await client.get("/api/v1/silences", headers=auth),
                await client.get("/api/v1/incidents?limit=1000"),
                await client.get("/metrics"),
                await client.get("/"),
                await client.get("/health"),
                await client.get("/openapi.json"),
            ]
            incidents = shown[2].json()["items"]
            for incident in incidents:
                shown.append(await client.get(f"/api/v1/incidents/{incident['id']}"))
                shown.append(await client.get(f"/api/v1/incidents/{incident['id']}/notifications"))
    assert n.pager.requests and n.chat.requests, "the scenario should have paged and chatted"
    assert "HTTP Request: POST" in caplog.text  # httpx logged the requests, with URLs hidden
    dead = shown[0].json()["items"]
    assert any(item["status"] == "dead" for item in dead)
    assert 'vpnwatch_notifications{receiver="pd",status="dead"}' in shown[3].text
    text = caplog.text + "".join(r.text for r in shown)
    for secret in SECRETS:
        assert secret not in text
    assert "<redacted>" in text  # the receiver echoed the key; vpnwatch hid it


SILENCE = {
    "matchers": [{"name": "type", "value": "site_down|tunnel_down", "isRegex": True}],
    "startsAt": "2025-12-31T00:00:00Z",
    "endsAt": "2026-01-01T00:04:00Z",
    "createdBy": "on-call",
    "comment": "carrier works",
}
READER_TOKEN = "api-reader-token"


async def test_silences_take_the_api_token_and_mute(tmp_path: Path) -> None:
    api_auth = ApiAuthSettings(bearer_token=READER_TOKEN)
    async with notified(tmp_path, "site-down", api_token=None, auth=api_auth) as n:
        auth = {"Authorization": f"Bearer {READER_TOKEN}"}
        silence = SILENCE
        async with n.client() as client:
            assert (await client.post("/api/v1/silences", json=silence)).status_code == 401
            bad = {"Authorization": "Bearer nope"}
            assert (await client.get("/api/v1/silences", headers=bad)).status_code == 401
            assert (await client.get("/api/v1/notifications")).status_code == 401
            created = await client.post("/api/v1/silences", json=silence, headers=auth)
            assert created.status_code == 200, created.text
            silence_id = created.json()["silenceID"]
            await n.play(until=200)
            sent_during = len(n.pager.requests) + len(n.chat.requests) + len(n.hook.requests)
            listed = (await client.get("/api/v1/silences", headers=auth)).json()
            assert [(s["id"], s["state"]) for s in listed] == [(silence_id, "active")]
            incidents = (await client.get("/api/v1/incidents?status=open", headers=auth)).json()
            assert incidents["items"]
            first = incidents["items"][0]["id"]
            path = f"/api/v1/incidents/{first}/notifications"
            assert (await client.get(path)).status_code == 401
            marks = (await client.get(path, headers=auth)).json()
            assert marks["silenced_by"] == [silence_id]
            assert {r["phase"] for r in marks["receivers"]} == {"silenced"}
            path = f"/api/v1/silences/{silence_id}"
            assert (await client.delete(path)).status_code == 401
            deleted = await client.delete(path, headers=auth)
            assert deleted.status_code == 200 and deleted.json()["state"] == "expired"
            await n.play(until=10)
        assert sent_during == 0
        assert n.hook.requests, "once the silence is gone, the open incident is sent"


async def test_with_api_auth_off_anyone_local_reads_and_no_one_writes(tmp_path: Path) -> None:
    async with notified(tmp_path, "site-down", api_token=None) as n, n.client() as client:
        assert (await client.get("/api/v1/silences")).status_code == 200
        refused = await client.post("/api/v1/silences", json=SILENCE)
        assert refused.status_code == 403
        assert "service.auth.bearer_token" in refused.json()["detail"]
        anyone = {"Authorization": "Bearer anything"}
        assert (
            await client.post("/api/v1/silences", json=SILENCE, headers=anyone)
        ).status_code == 403
        assert (await client.delete("/api/v1/silences/abc")).status_code == 403
        assert (await client.get("/api/v1/silences")).json() == []


async def test_a_proxy_user_may_write(tmp_path: Path) -> None:
    api_auth = ApiAuthSettings(user_header="X-Forwarded-User")
    opened = notified(tmp_path, "site-down", api_token=None, auth=api_auth)
    async with opened as n, n.client() as client:
        assert (await client.post("/api/v1/silences", json=SILENCE)).status_code == 401
        alice = {"X-Forwarded-User": "alice"}
        created = await client.post("/api/v1/silences", json=SILENCE, headers=alice)
        assert created.status_code == 200, created.text
        listed = (await client.get("/api/v1/silences", headers=alice)).json()
        assert [s["id"] for s in listed] == [created.json()["silenceID"]]


async def test_the_deprecated_notify_api_token_still_admits_writes(tmp_path: Path) -> None:
    """While service.auth is off, notify.api_token (deprecated) is what a write must carry."""
    async with notified(tmp_path, "site-down") as n, n.client() as client:
        assert (await client.get("/api/v1/silences")).status_code == 200  # reads: as the API
        assert (await client.post("/api/v1/silences", json=SILENCE)).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (
            await client.post("/api/v1/silences", json=SILENCE, headers=wrong)
        ).status_code == 401
        legacy = {"Authorization": f"Bearer {API_TOKEN}"}
        created = await client.post("/api/v1/silences", json=SILENCE, headers=legacy)
        assert created.status_code == 200, created.text
