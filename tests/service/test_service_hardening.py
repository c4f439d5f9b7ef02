"""What a hostile or careless client meets: content types, odd values, idle sockets, auth."""

from __future__ import annotations

import asyncio
import copy
import time

import httpx
import pytest
from pydantic import SecretStr
from service_helpers import WEBHOOK, Fleet, alert_payload, auth

from vpnwatch.service.app import running

ALERT = "/subscriptions/s/providers/Microsoft.AlertsManagement/alerts/hardening"


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", None]
)
async def test_the_webhook_refuses_bodies_that_are_not_declared_json(
    fleet: Fleet, content_type: str | None
):
    body = httpx.Request("POST", "/", json=alert_payload("resourcehealth", alert_id=ALERT)).content
    headers = {**auth(), **({"Content-Type": content_type} if content_type else {})}
    async with fleet.client() as client:
        response = await client.post(WEBHOOK, content=body, headers=headers)
    assert response.status_code == 415, response.text
    assert response.json()["error"] == "unsupported_media_type"
    assert "application/json" in response.json()["detail"]
    assert fleet.agent.store.get_alert(ALERT) is None


async def test_the_webhook_accepts_json_with_a_charset(fleet: Fleet):
    body = httpx.Request("POST", "/", json=alert_payload("resourcehealth", alert_id=ALERT)).content
    headers = {**auth(), "Content-Type": "application/json; charset=utf-8"}
    async with fleet.client() as client:
        response = await client.post(WEBHOOK, content=body, headers=headers)
    assert response.status_code == 202, response.text


@pytest.mark.parametrize("field", ["firedDateTime", "resolvedDateTime"])
async def test_integers_are_not_dates(fleet: Fleet, field: str):
    payload = alert_payload("resourcehealth", alert_id=ALERT)
    payload["data"]["essentials"][field] = 1767225600
    async with fleet.client() as client:
        response = await client.post(WEBHOOK, json=payload, headers=auth())
    assert response.status_code == 422
    assert field in response.json()["detail"]
    assert fleet.agent.store.get_alert(ALERT) is None


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("alertId", ALERT + "\x00x"),
        ("alertRule", "rule\x00"),
        ("alertTargetIDs", ["/subscriptions/s/resourceGroups/rg\x00"]),
        ("alertId", ALERT + "\x1b[31m"),
    ],
)
async def test_control_characters_in_ids_are_refused(fleet: Fleet, where: str, value: object):
    payload = alert_payload("resourcehealth", alert_id=ALERT)
    payload["data"]["essentials"][where] = copy.deepcopy(value)
    async with fleet.client() as client:
        response = await client.post(WEBHOOK, json=payload, headers=auth())
    assert response.status_code == 422, response.text
    assert where in response.json()["detail"]


async def test_an_idle_connection_is_closed_after_the_read_timeout(fleet: Fleet):
    fleet.settings.service.read_timeout_seconds = 0.5
    async with running(fleet.app) as base_url:
        host, port = base_url.removeprefix("http://").split(":")
        idle = await asyncio.open_connection(host, int(port))
        slow = await asyncio.open_connection(host, int(port))
        started = time.monotonic()
        slow[1].write(b"GET /livez HTTP/1.1\r\nHost: x\r\n")  # never finishes its headers
        await slow[1].drain()
        for reader, writer in (idle, slow):
            async with asyncio.timeout(5):
                assert await reader.read() == b""  # the server closed it
            writer.close()
        assert time.monotonic() - started < 3


async def test_a_prompt_request_is_not_cut_by_the_read_timeout(fleet: Fleet):
    fleet.settings.service.read_timeout_seconds = 0.5
    async with running(fleet.app) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        for _ in range(3):
            assert (await client.get("/livez")).status_code == 200
            await asyncio.sleep(0.3)


READ_PATHS = ["/api/v1/incidents", "/api/v1/gateways", "/", "/metrics", "/health"]


async def test_read_endpoints_are_open_by_default(fleet: Fleet):
    async with fleet.client() as client:
        for path in READ_PATHS:
            assert (await client.get(path)).status_code in (200, 503), path


async def test_a_bearer_token_guards_the_api_and_status_page(fleet: Fleet):
    fleet.settings.service.auth.bearer_token = SecretStr("reader-token")
    async with fleet.client() as client:
        for path in READ_PATHS:
            anonymous = await client.get(path)
            assert anonymous.status_code == 401, path
            assert anonymous.headers["www-authenticate"] == "Bearer"
            wrong = await client.get(path, headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401, path
            right = await client.get(path, headers={"Authorization": "Bearer reader-token"})
            assert right.status_code in (200, 503), path
        # probes and the webhook (which has its own secret) stay reachable
        assert (await client.get("/livez")).status_code == 200
        assert (await client.get("/readyz")).status_code in (200, 503)
        payload = alert_payload("resourcehealth", alert_id=ALERT)
        assert (await client.post(WEBHOOK, json=payload, headers=auth())).status_code == 202


async def test_a_trusted_user_header_from_an_authenticating_proxy(fleet: Fleet):
    fleet.settings.service.auth.user_header = "X-Forwarded-User"
    async with fleet.client() as client:
        assert (await client.get("/api/v1/incidents")).status_code == 401
        empty = await client.get("/api/v1/incidents", headers={"X-Forwarded-User": ""})
        assert empty.status_code == 401
        named = await client.get("/api/v1/incidents", headers={"X-Forwarded-User": "alice"})
        assert named.status_code == 200


async def test_a_body_that_is_not_even_text_is_422_like_any_other_non_json(fleet: Fleet):
    async with fleet.client() as client:
        response = await client.post(
            "/api/v1/silences",
            content=b"\xff\x0e",
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["type"] == "json_invalid"
