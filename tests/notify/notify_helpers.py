"""Real HTTP receivers on 127.0.0.1 for the notifier tests, and the receivers' published contracts.

`CaptureServer` is an aiohttp server that records every request (method, path, query, headers,
raw body) and answers from a script, so a test can make a receiver fail for a while (5xx, 429
with `Retry-After`, a hang past the client's timeout) and then recover.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml
from aiohttp import web

CONTRACTS = Path(__file__).resolve().parent / "contracts"


@dataclass(frozen=True, slots=True)
class Captured:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(slots=True)
class Answer:
    status: int = 202
    body: str = '{"status":"success"}'
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (past the client timeout: a timeout)


Script = Callable[[Captured, int], Answer]  # (request, how many came before) -> answer


def always(status: int = 202, body: str = '{"status":"success"}') -> Script:
    return lambda request, n: Answer(status, body)


class CaptureServer:
    def __init__(self, script: Script | None = None) -> None:
        self.script = script or always()
        self.requests: list[Captured] = []
        self.answered: list[tuple[Captured, int, float]] = []  # request, status, answered at
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> CaptureServer:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        loop = asyncio.get_running_loop()
        captured = Captured(
            request.method,
            request.path,
            dict(request.query),
            {k.lower(): v for k, v in request.headers.items()},
            await request.read(),
            loop.time(),
        )
        before = len(self.requests)
        self.requests.append(captured)
        answer = self.script(captured, before)
        if answer.delay:
            await asyncio.sleep(answer.delay)
        self.answered.append((captured, answer.status, loop.time()))
        return web.Response(
            status=answer.status,
            text=answer.body,
            headers=answer.headers,
            content_type="application/json",
        )

    def delivered(self) -> list[Captured]:
        return [r for r, status, _ in self.answered if 200 <= status < 300]


# --- the receivers' contracts -------------------------------------------------------------------


def _validator(document: dict[str, Any], pointer: str) -> Any:
    """A validator for the schema at `pointer` inside a whole spec document, refs resolved."""
    root = {k: v for k, v in document.items() if k in ("definitions", "components", "paths")}
    root["$ref"] = pointer
    return (
        jsonschema_rs.Draft4Validator(root)
        if "definitions" in root
        else (jsonschema_rs.Draft7Validator(root))
    )


@cache
def contract(name: str) -> Any:
    specs = CONTRACTS
    if name == "pagerduty":
        doc = json.loads((specs / "pagerduty-events-v2.openapiv3.json").read_text())
        return _validator(
            doc, "#/paths/~1enqueue/post/requestBody/content/application~1json/schema"
        )
    if name == "opsgenie-create":
        doc = json.loads((specs / "opsgenie.swagger.json").read_text())
        return _validator(doc, "#/definitions/CreateAlertPayload")
    if name == "opsgenie-priority":
        doc = json.loads((specs / "opsgenie.swagger.json").read_text())
        return _validator(doc, "#/definitions/UpdateAlertPriorityPayload")
    if name == "opsgenie-close":
        doc = json.loads((specs / "opsgenie.swagger.json").read_text())
        return _validator(doc, "#/definitions/CloseAlertPayload")
    if name == "alertmanager":
        doc = yaml.safe_load((specs / "alertmanager.api-v2.openapi.yaml").read_text())
        return _validator(doc, "#/definitions/postableAlerts")
    if name == "slack":
        return jsonschema_rs.validator_for(
            json.loads((specs / "slack-incoming-webhook.schema.json").read_text())
        )
    if name == "teams":
        return jsonschema_rs.validator_for(
            json.loads((specs / "teams-workflows-envelope.schema.json").read_text())
        )
    if name == "adaptive-card":
        return jsonschema_rs.validator_for(
            json.loads((specs / "adaptive-card-1.5.0.schema.json").read_text())
        )
    if name == "webhook":
        docs = Path(__file__).resolve().parents[2] / "docs" / "notify-webhook.schema.json"
        return jsonschema_rs.validator_for(json.loads(docs.read_text()))
    raise KeyError(name)


def assert_valid(name: str, body: Any) -> None:
    errors = [f"{e.instance_path}: {e.message}" for e in contract(name).iter_errors(body)]
    assert not errors, f"{name} contract violated:\n" + "\n".join(errors[:20])
