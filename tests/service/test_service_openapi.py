"""The OpenAPI document: complete, and true to what the service answers (schemathesis)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from service_helpers import (
    SERVICE_SCENARIO,
    TUNNEL_FAULT_AT,
    WEBHOOK,
    Fleet,
    auth,
    open_fleet,
    run_until,
)

from vpnwatch.emulator import load_scenario
from vpnwatch.service.app import running


async def test_every_operation_declares_its_responses(fleet: Fleet):
    async with fleet.client() as client:
        document = (await client.get("/openapi.json")).json()
    operations = {
        (method.upper(), path): op
        for path, item in document["paths"].items()
        for method, op in item.items()
    }
    expected = {
        ("GET", "/livez"): {"200"},
        ("GET", "/readyz"): {"200", "503"},
        ("GET", "/health"): {"200", "503"},
        ("GET", "/metrics"): {"200"},
        ("GET", "/"): {"200"},
        ("GET", "/api/v1/gateways"): {"200", "422"},
        ("GET", "/api/v1/connections"): {"200", "422"},
        ("GET", "/api/v1/bgp-peers"): {"200", "422"},
        ("GET", "/api/v1/sites"): {"200", "422"},
        ("GET", "/api/v1/circuits"): {"200", "422"},
        ("POST", "/api/v1/gateways/{gateway_id}/p2s-sessions"): {
            "200", "404", "409", "422", "429", "502"
        },
        ("GET", "/api/v1/incidents"): {"200", "422"},
        ("GET", "/api/v1/incidents/{incident_id}"): {"200", "404", "422"},
        ("POST", WEBHOOK): {"202", "401", "413", "422", "503"},
        ("GET", "/api/v1/silences"): {"200", "409"},
        ("POST", "/api/v1/silences"): {"200", "401", "403", "409", "422"},
        ("DELETE", "/api/v1/silences/{silence_id}"): {"200", "401", "403", "404", "409", "422"},
        ("GET", "/api/v1/notifications"): {"200", "409", "422"},
        ("GET", "/api/v1/incidents/{incident_id}/notifications"): {"200", "404", "409", "422"},
    }
    assert set(operations) == set(expected)
    for key, codes in expected.items():
        declared = set(operations[key]["responses"])
        assert codes <= declared, (key, declared)
        for code, response in operations[key]["responses"].items():
            assert response.get("content"), f"{key} {code} has no content declared"
    webhook = operations[("POST", WEBHOOK)]
    assert webhook["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CommonAlertPayload"
    }
    assert {"WebhookTokenHeader", "WebhookTokenQuery"} <= set(
        document["components"]["securitySchemes"]
    )
    essentials = document["components"]["schemas"]["AlertEssentials"]
    assert {"alertId", "alertRule", "severity", "monitorCondition"} <= set(essentials["required"])


class _LiveService(threading.Thread):
    """The service on a real socket, in its own thread and event loop, so schemathesis's
    blocking client can talk to it. The fleet is collected up to the tunnel fault first."""

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(name="live-service", daemon=True)
        self.tmp_path = tmp_path
        self.url: str | None = None
        self.error: BaseException | None = None
        self._up = threading.Event()
        self._service_loop: asyncio.AbstractEventLoop | None = None
        self._halt: asyncio.Event | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the test through `error`
            self.error = exc
        finally:
            self._up.set()

    async def _main(self) -> None:
        async with open_fleet(load_scenario(str(SERVICE_SCENARIO)), self.tmp_path) as estate:
            await run_until(estate, TUNNEL_FAULT_AT + 60)
            async with running(estate.app) as url:
                self._service_loop = asyncio.get_running_loop()
                self._halt = asyncio.Event()
                self.url = url
                self._up.set()
                await self._halt.wait()

    def wait_started(self) -> str:
        self._up.wait(60)
        if self.url is None:
            raise RuntimeError(f"the live service did not start: {self.error!r}")
        return self.url

    def shutdown(self) -> None:
        if self._service_loop is not None and self._halt is not None:
            self._service_loop.call_soon_threadsafe(self._halt.set)
        self.join(30)


@pytest.fixture(scope="module")
def live_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    service = _LiveService(tmp_path_factory.mktemp("live"))
    service.start()
    try:
        yield service.wait_started()
    finally:
        service.shutdown()


@pytest.mark.parametrize(
    ("mode", "examples"), [(GenerationMode.POSITIVE, 300), (GenerationMode.NEGATIVE, 200)]
)
def test_api_conforms_to_its_openapi_document(
    live_service: str, mode: GenerationMode, examples: int
) -> None:
    """Generated requests to every operation: no 5xx, and every status, content type and body is
    one the document declares. Negative cases (data the schema forbids) must be refused."""
    schema = schemathesis.openapi.from_url(f"{live_service}/openapi.json")
    operations = {
        f"{o.method.upper()} {o.path}" for o in (r.ok() for r in schema.get_all_operations())
    }
    assert len(operations) == 19, operations
    statuses: dict[str, set[int]] = {}

    @given(case=schema.as_strategy(mode))
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def check(case: schemathesis.Case) -> None:
        headers = auth() if case.path == WEBHOOK else None
        response = case.call_and_validate(headers=headers, timeout=30)
        statuses.setdefault(f"{case.method.upper()} {case.path}", set()).add(response.status_code)

    check()
    if mode is GenerationMode.POSITIVE:
        assert set(statuses) == operations, "every operation is exercised"
        assert 202 in statuses[f"POST {WEBHOOK}"], "generated alerts are accepted"
    else:  # operations without parameters or body have no negative cases
        assert len(statuses) >= 8, sorted(statuses)
        assert 422 in statuses[f"POST {WEBHOOK}"], "invalid alerts are refused"
