"""`POST /webhooks/azure-monitor`: Azure Monitor alerts (common alert schema) from action groups.

The order matters: authenticate (nothing is read from an unauthenticated caller), check the
content type, bound the body, validate it, persist it, answer 202, then correlate. An alert is
in the store before Azure hears "accepted", so a crash between persisting and correlating loses
nothing: alerts recorded but not processed are replayed at start-up. `alertId` with the monitor
condition makes delivery idempotent, as Azure retries (and reuses the `alertId` for the Resolved
notification of a Fired alert).
"""

# No `from __future__ import annotations` here: FastAPI must evaluate the route's annotations,
# which name security schemes local to `webhook_router`.
import asyncio
import hmac
import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, APIKeyQuery
from pydantic import SecretStr, ValidationError

from vpnwatch.agent import Agent
from vpnwatch.config import WebhookSettings
from vpnwatch.service.alert_schema import CommonAlertPayload
from vpnwatch.service.deps import AgentDep
from vpnwatch.service.schemas import AlertAccepted, ErrorResponse
from vpnwatch.store import StoreError

log = logging.getLogger("vpnwatch.service.webhooks")

AZURE_MONITOR_PATH = "/webhooks/azure-monitor"


class BodyTooLarge(Exception):
    """The request body is larger than `service.webhook.max_body_bytes`."""


def _error(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse(ErrorResponse(error=error, detail=detail).model_dump(), status_code=status)


def authenticated(secret: SecretStr | None, *candidates: str | None) -> bool:
    """True when one of the presented tokens equals the configured secret (constant time)."""
    if secret is None or not secret.get_secret_value():
        return False
    expected = secret.get_secret_value().encode()
    ok = False
    for candidate in candidates:
        if candidate is not None:
            ok |= hmac.compare_digest(candidate.encode(), expected)
    return ok


def declared_json(content_type: str | None) -> bool:
    """`application/json`, with parameters (`; charset=utf-8`) or not. A body sent as a form or
    as text is not an Azure Monitor notification, whatever it contains."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json"


async def read_bounded(request: Request, limit: int) -> bytes:
    """The body, refusing more than `limit` bytes whether or not Content-Length says so."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"Content-Length {int(declared)} exceeds {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge(f"body exceeds {limit} bytes")
    return bytes(body)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_alert(body: bytes) -> tuple[CommonAlertPayload, dict[str, Any]]:
    """Raises `ValueError` (not strict UTF-8 JSON) or `ValidationError` (not the common alert
    schema)."""
    data = json.loads(body, parse_constant=_no_constant)
    # Escaped lone surrogates parse, but cannot be stored or echoed as UTF-8.
    json.dumps(data, ensure_ascii=False).encode("utf-8")
    return CommonAlertPayload.model_validate(data), data


def _validation_detail(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "body"
        problems.append(f"{where}: {err['msg']}")
    more = exc.error_count() - len(problems)
    suffix = f" (and {more} more)" if more > 0 else ""
    return "not an Azure Monitor common alert schema payload: " + "; ".join(problems) + suffix


async def process_alert(agent: Agent, payload: CommonAlertPayload, observed_at: Any) -> None:
    """Correlate one recorded alert, then mark it processed; on failure it stays unprocessed and
    is replayed at the next start."""
    try:
        await agent.submit([payload.to_observation(observed_at)])
        assert agent.store is not None
        await asyncio.to_thread(agent.store.mark_alerts_processed, [payload.key])
    except Exception:
        log.exception(
            "alert %s recorded but not correlated; replayed at next start", payload.alert_id
        )


async def replay_unprocessed(agent: Agent) -> int:
    """Correlate the alerts recorded but not processed before the last stop; returns how many."""
    store = agent.store
    if store is None:
        return 0
    pending = await asyncio.to_thread(store.unprocessed_alerts)
    replayed = 0
    for alert in pending:
        try:
            payload = CommonAlertPayload.model_validate(alert.payload)
        except ValidationError:
            log.warning("stored alert %s no longer validates; marking it processed", alert.alert_id)
            await asyncio.to_thread(store.mark_alerts_processed, [alert.key])
            continue
        await process_alert(agent, payload, alert.received_at)
        replayed += 1
    if replayed:
        log.info("replayed %d alert(s) recorded before the last stop", replayed)
    return replayed


def _alert_schema_ref() -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/CommonAlertPayload"}}
        },
    }


def webhook_router(settings: WebhookSettings) -> APIRouter:
    """The webhook route; the token's header and query names come from settings."""
    router = APIRouter(tags=["webhooks"])
    header_scheme = APIKeyHeader(
        name=settings.header,
        auto_error=False,
        scheme_name="WebhookTokenHeader",
        description="The webhook secret (`service.webhook.secret`).",
    )
    query_scheme = APIKeyQuery(
        name=settings.query_param,
        auto_error=False,
        scheme_name="WebhookTokenQuery",
        description="The webhook secret, for senders that cannot set headers (Azure action "
        "groups): `?token=...`.",
    )
    err = {"model": ErrorResponse}

    @router.post(
        AZURE_MONITOR_PATH,
        status_code=202,
        response_model=AlertAccepted,
        summary="Receive an Azure Monitor alert (common alert schema)",
        responses={
            401: {**err, "description": "Missing or wrong token, or no secret configured"},
            413: {**err, "description": "Body larger than service.webhook.max_body_bytes"},
            415: {**err, "description": "Content-Type is not application/json"},
            422: {**err, "description": "Not JSON, or not the common alert schema"},
            503: {**err, "description": "Not ready, or the alert could not be persisted"},
        },
        openapi_extra={"requestBody": _alert_schema_ref()},
    )
    async def azure_monitor(
        request: Request,
        background: BackgroundTasks,
        agent: AgentDep,
        header_token: Annotated[str | None, Security(header_scheme)] = None,
        query_token: Annotated[str | None, Security(query_scheme)] = None,
    ) -> AlertAccepted | JSONResponse:
        """Accepts metric, log, activity-log and Resource Health alerts; answers 202 once the alert
        is persisted, with `duplicate: true` for an `alertId` received before with the same monitor
        condition."""
        secret = settings.secret
        if secret is None or not secret.get_secret_value():
            return _error(
                401,
                "webhook_disabled",
                "no webhook secret is configured, so every alert is refused: set "
                "service.webhook.secret (VPNWATCH_SERVICE__WEBHOOK__SECRET)",
            )
        if not authenticated(secret, header_token, query_token):
            return _error(
                401,
                "unauthenticated",
                f"send the webhook secret in the {settings.header} header or the "
                f"{settings.query_param!r} query parameter",
            )
        if not declared_json(request.headers.get("content-type")):
            return _error(
                415,
                "unsupported_media_type",
                "send the alert as Content-Type: application/json (Azure Monitor does), not "
                f"{request.headers.get('content-type') or 'without a Content-Type'}",
            )
        try:
            body = await read_bounded(request, settings.max_body_bytes)
        except BodyTooLarge as exc:
            return _error(413, "body_too_large", str(exc))
        try:
            payload, raw = parse_alert(body)
        except ValidationError as exc:
            return _error(422, "invalid_alert", _validation_detail(exc))
        except (ValueError, RecursionError) as exc:
            return _error(422, "invalid_json", f"body is not valid JSON: {exc}")
        store = agent.store
        if store is None or agent.correlator is None:
            return _error(503, "not_ready", "the store is not open yet; retry shortly")
        received_at = agent.clock.now()
        try:
            recorded = await asyncio.to_thread(
                store.record_alert, payload.alert_id, received_at, raw, condition=payload.condition
            )
        except StoreError as exc:
            log.warning("alert %s refused: not persisted: %s", payload.alert_id, exc)
            return _error(503, "store_unavailable", f"alert not persisted ({exc}); retry")
        except Exception as exc:
            log.exception("could not persist alert %s", payload.alert_id)
            return _error(503, "store_unavailable", f"alert not persisted ({exc}); retry")
        if recorded:
            background.add_task(process_alert, agent, payload, received_at)
        return AlertAccepted(alert_id=payload.alert_id, duplicate=not recorded)

    return router
