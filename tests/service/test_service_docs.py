"""/docs and /redoc render in headless Chromium with no network but loopback: their scripts and
styles come from the package, not from a CDN."""

from __future__ import annotations

from pathlib import Path

import httpx
from browser import chromium, needs_chromium
from service_helpers import Fleet

from vpnwatch.service.app import running


async def test_docs_pages_reference_only_their_own_server(fleet: Fleet):
    async with fleet.client() as client:
        for page in ("/docs", "/redoc"):
            html = (await client.get(page)).text
            assert "http://" not in html and "https://" not in html, f"{page} names a host"
        swagger = await client.get("/static-offline-docs/swagger-ui-bundle.js")
        redoc = await client.get("/static-offline-docs/redoc.standalone.js")
    assert swagger.status_code == 200 and len(swagger.content) > 100_000
    assert redoc.status_code == 200 and len(redoc.content) > 100_000


@needs_chromium
async def test_docs_render_offline_in_headless_chromium(fleet: Fleet, tmp_path: Path):
    await fleet.collect()
    async with running(fleet.app) as base_url:
        assert (await httpx.AsyncClient().get(base_url + "/docs")).status_code == 200
        code, swagger = await chromium(
            tmp_path / "profile", "--dump-dom", base_url + "/docs", wait_ms=15_000
        )
        _, redoc = await chromium(
            tmp_path / "profile", "--dump-dom", base_url + "/redoc", wait_ms=15_000
        )
    assert code == 0
    swagger_dom = swagger.decode()
    # Swagger UI built the operation list from /openapi.json: it ran, offline.
    assert 'class="swagger-ui' in swagger_dom
    assert "opblock" in swagger_dom and "/api/v1/gateways" in swagger_dom
    redoc_dom = redoc.decode()
    assert "Virtual network gateways" in redoc_dom  # an operation summary, rendered by ReDoc
