from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy

from vpnwatch.clock import ManualClock
from vpnwatch.emulator import Emulator, load_scenario

TOKEN = "emulator-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
API = "api-version=2026-03-01"


class AllowHttp(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """Lets the SDK's bearer policy send over the emulator's plain http (see SDK-NOTES)."""

    def on_request(self, request: PipelineRequest) -> None:  # type: ignore[type-arg]
        request.context["enforce_https"] = False


class Arm:
    """Raw ARM calls against an emulator, for tests that look at the wire itself."""

    auth = AUTH

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    @staticmethod
    def url(emu: Emulator, rg: str, tail: str = "", subscription: str | None = None) -> str:
        sub = subscription or emu.scenario.subscription_ids[0]
        return (
            f"{emu.base_url}/subscriptions/{sub}/resourceGroups/{rg}"
            f"/providers/Microsoft.Network{tail}"
        )

    @staticmethod
    def _versioned(url: str) -> str:
        return f"{url}{'&' if '?' in url else '?'}{API}"

    async def raw(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = {**AUTH, **kwargs.pop("headers", {})}
        return await self.client.request(method, self._versioned(url), headers=headers, **kwargs)

    async def get(self, url: str) -> Any:
        response = await self.raw("GET", url)
        assert response.status_code == 200, (url, response.status_code, response.text)
        return response.json()

    async def lro(self, url: str) -> tuple[httpx.Response, Any]:
        """POST a long-running action and follow `Location` to the final 200 body."""
        accepted = await self.raw("POST", url)
        assert accepted.status_code == 202, (url, accepted.status_code, accepted.text)
        location = accepted.headers["Location"]
        for _ in range(5):
            polled = await self.client.get(location, headers=AUTH)
            if polled.status_code == 200:
                return accepted, polled.json()
            assert polled.status_code == 202, polled.text
        raise AssertionError(f"{url}: the operation never finished")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def arm() -> AsyncIterator[Arm]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield Arm(client)


@pytest.fixture
async def quiet(clock: ManualClock) -> AsyncIterator[Emulator]:
    async with Emulator(load_scenario("quiet"), clock=clock, page_size=2) as emu:
        yield emu


@pytest.fixture
def allow_http() -> AllowHttp:
    return AllowHttp()
