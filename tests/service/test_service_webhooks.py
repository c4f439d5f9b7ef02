"""The Azure Monitor webhook: authentication, limits, validation, idempotency, durability."""

from __future__ import annotations

import json

import httpx
import pytest
from service_helpers import (
    FRAGMENTS,
    WEBHOOK,
    WEBHOOK_SECRET,
    Fleet,
    alert_payload,
    auth,
    sample_payload,
)

from vpnwatch.agent import Agent
from vpnwatch.observations import AzureAlertObserved
from vpnwatch.service.alert_schema import CommonAlertPayload
from vpnwatch.service.app import create_app
from vpnwatch.store import Store

GATEWAY_ALERT = "/subscriptions/s/providers/Microsoft.AlertsManagement/alerts/"
JSON = {"Content-Type": "application/json"}


def _seen_alerts(fleet: Fleet) -> list[AzureAlertObserved]:
    seen: list[AzureAlertObserved] = []
    original = fleet.agent.correlator.process

    def spy(observations, now):  # records what reaches the correlator, then correlates
        seen.extend(o for o in observations if isinstance(o, AzureAlertObserved))
        return original(observations, now)

    fleet.agent.correlator.process = spy
    return seen


@pytest.mark.parametrize("kind", sorted(FRAGMENTS))
async def test_documented_alerts_are_accepted_persisted_and_correlated(fleet: Fleet, kind: str):
    await fleet.collect()
    gateway = next(iter(fleet.agent.correlator.state.gateways))
    seen = _seen_alerts(fleet)
    payload = alert_payload(kind, alert_id=GATEWAY_ALERT + kind, targets=[gateway])
    async with fleet.client() as client:
        response = await client.post(WEBHOOK, json=payload, headers=auth())
    assert response.status_code == 202, response.text
    assert response.json() == {
        "alert_id": GATEWAY_ALERT + kind,
        "duplicate": False,
        "status": "accepted",
    }
    stored = fleet.agent.store.get_alert(GATEWAY_ALERT + kind)
    assert stored is not None and stored.payload == payload
    assert stored.processed
    (alert,) = seen
    signal_type, service = FRAGMENTS[kind]
    assert (alert.signal_type, alert.monitoring_service) == (signal_type, service)
    assert alert.target_ids == (gateway,)
    assert alert.monitor_condition == "Fired" and alert.severity == "Sev3"
    assert alert.fired_at is not None and alert.fired_at.tzinfo is not None


async def test_the_sample_payload_is_accepted_verbatim(fleet: Fleet):
    raw = sample_payload()
    async with fleet.client() as client:
        response = await client.post(WEBHOOK, json=raw, headers=auth())
    assert response.status_code == 202
    parsed = CommonAlertPayload.model_validate(raw)
    assert parsed.data.essentials.monitor_condition == "Resolved"
    assert fleet.agent.store.get_alert(parsed.alert_id, "Resolved") is not None


async def test_a_repeat_is_a_duplicate_and_correlated_once(fleet: Fleet):
    seen = _seen_alerts(fleet)
    payload = alert_payload("resourcehealth", alert_id=GATEWAY_ALERT + "once")
    async with fleet.client() as client:
        first = await client.post(WEBHOOK, json=payload, headers=auth())
        second = await client.post(WEBHOOK, json=payload, headers=auth())
    assert first.status_code == second.status_code == 202
    assert first.json()["duplicate"] is False
    assert second.json()["duplicate"] is True
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("headers", "query", "error"),
    [
        ({}, {}, "unauthenticated"),
        ({"X-Vpnwatch-Token": "wrong"}, {}, "unauthenticated"),
        ({"X-Other": WEBHOOK_SECRET}, {}, "unauthenticated"),
        ({}, {"token": WEBHOOK_SECRET + "x"}, "unauthenticated"),
    ],
)
async def test_unauthenticated_is_refused_and_nothing_stored(fleet: Fleet, headers, query, error):
    payload = alert_payload("resourcehealth", alert_id=GATEWAY_ALERT + "nope")
    async with fleet.client() as client:
        response = await client.post(WEBHOOK, json=payload, headers=headers, params=query)
    assert response.status_code == 401
    assert response.json()["error"] == error
    assert fleet.agent.store.get_alert(GATEWAY_ALERT + "nope") is None


async def test_the_token_may_come_as_a_query_parameter(fleet: Fleet):
    payload = alert_payload("resourcehealth", alert_id=GATEWAY_ALERT + "query")
    async with fleet.client() as client:
        response = await client.post(WEBHOOK, json=payload, params={"token": WEBHOOK_SECRET})
    assert response.status_code == 202
    assert fleet.agent.store.get_alert(GATEWAY_ALERT + "query") is not None


async def test_without_a_secret_everything_is_refused(fleet: Fleet):
    fleet.settings.service.webhook.secret = None
    payload = alert_payload("resourcehealth", alert_id=GATEWAY_ALERT + "nosecret")
    async with fleet.client() as client:
        response = await client.post(WEBHOOK, json=payload, headers=auth())
        empty = await client.post(WEBHOOK, json=payload, headers={"X-Vpnwatch-Token": ""})
    assert response.status_code == empty.status_code == 401
    assert response.json()["error"] == "webhook_disabled"
    assert "service.webhook.secret" in response.json()["detail"]
    assert fleet.agent.store.get_alert(GATEWAY_ALERT + "nosecret") is None


@pytest.mark.parametrize(
    ("body", "error", "reason"),
    [
        (b"{not json", "invalid_json", "not valid JSON"),
        (b"\xff\xfe", "invalid_json", "not valid JSON"),
        (b'{"schemaId": NaN}', "invalid_json", "NaN"),
        (b"[]", "invalid_alert", "body"),
        (b'{"schemaId": "other", "data": {}}', "invalid_alert", "schemaId"),
    ],
)
async def test_malformed_bodies_are_422_with_a_reason(fleet: Fleet, body, error, reason):
    async with fleet.client() as client:
        response = await client.post(
            WEBHOOK, content=body, headers={**auth(), "Content-Type": "application/json"}
        )
    assert response.status_code == 422
    assert response.json()["error"] == error
    assert reason in response.json()["detail"]


async def test_schema_violations_name_the_field(fleet: Fleet):
    payload = alert_payload("resourcehealth", alert_id=GATEWAY_ALERT + "bad")
    payload["data"]["essentials"]["severity"] = "Sev9"
    del payload["data"]["essentials"]["monitorCondition"]
    async with fleet.client() as client:
        response = await client.post(WEBHOOK, json=payload, headers=auth())
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "data.essentials.severity" in detail and "data.essentials.monitorCondition" in detail
    assert fleet.agent.store.get_alert(GATEWAY_ALERT + "bad") is None


async def test_a_declared_oversized_body_is_413(fleet: Fleet):
    limit = fleet.settings.service.webhook.max_body_bytes
    payload = alert_payload("resourcehealth", alert_id=GATEWAY_ALERT + "big")
    payload["data"]["alertContext"]["padding"] = "x" * limit
    async with fleet.client() as client:
        response = await client.post(WEBHOOK, json=payload, headers=auth())
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"
    assert fleet.agent.store.get_alert(GATEWAY_ALERT + "big") is None


async def test_a_streamed_oversized_body_is_413_whatever_it_declares(fleet: Fleet):
    fleet.settings.service.webhook.max_body_bytes = 4096
    payload = alert_payload("resourcehealth", alert_id=GATEWAY_ALERT + "stream")
    payload["data"]["alertContext"]["padding"] = "x" * 5000
    body = json.dumps(payload).encode()

    async def chunks():
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    async with fleet.client() as client:
        # no Content-Length: chunked
        chunked = await client.post(WEBHOOK, content=chunks(), headers={**auth(), **JSON})
        # a Content-Length that lies about the size
        lying = await client.post(
            WEBHOOK, content=chunks(), headers={**auth(), **JSON, "Content-Length": "100"}
        )
    assert chunked.status_code == 413
    assert lying.status_code == 413
    assert fleet.agent.store.get_alert(GATEWAY_ALERT + "stream") is None


async def test_persisted_before_202_and_present_after_a_restart(fleet: Fleet, tmp_path):
    payload = alert_payload("metric-static-threshold", alert_id=GATEWAY_ALERT + "durable")
    async with fleet.client() as client:
        response = await client.post(WEBHOOK, json=payload, headers=auth())
    assert response.status_code == 202
    await fleet.agent.stop()  # closes the store file

    with Store.open(fleet.settings.store.path) as store:
        stored = store.get_alert(GATEWAY_ALERT + "durable")
    assert stored is not None and stored.payload == payload

    restarted = Agent(fleet.settings, clock=fleet.clock)
    app = create_app(fleet.settings, agent=restarted, manage_agent=False)
    await restarted.open()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client:
            repeat = await client.post(WEBHOOK, json=payload, headers=auth())
        assert repeat.status_code == 202 and repeat.json()["duplicate"] is True
    finally:
        await restarted.stop()


async def test_alerts_recorded_but_not_processed_are_replayed_at_start(fleet: Fleet):
    payload = alert_payload("resourcehealth", alert_id=GATEWAY_ALERT + "crash")
    store = fleet.agent.store
    assert store.record_alert(GATEWAY_ALERT + "crash", fleet.clock.now(), payload)
    assert [a.alert_id for a in store.unprocessed_alerts()] == [GATEWAY_ALERT + "crash"]
    seen = _seen_alerts(fleet)
    app = fleet.app
    async with app.router.lifespan_context(app):
        assert [a.alert_id for a in seen] == [GATEWAY_ALERT + "crash"]
    assert store.unprocessed_alerts() == []
    assert store.get_alert(GATEWAY_ALERT + "crash").processed


async def test_a_resolved_alert_reusing_the_fired_alert_id_is_accepted_and_correlated(
    fleet: Fleet,
):
    """Azure Monitor sends Fired and Resolved with one alertId; only a repeat is a duplicate."""
    alert_id = GATEWAY_ALERT + "fired-then-resolved"
    fired = alert_payload("metric-static-threshold", alert_id=alert_id)
    resolved = json.loads(json.dumps(fired))
    resolved["data"]["essentials"].update(
        monitorCondition="Resolved", resolvedDateTime="2026-03-01T12:10:00Z"
    )
    seen = _seen_alerts(fleet)
    async with fleet.client() as client:
        first = await client.post(WEBHOOK, json=fired, headers=auth())
        second = await client.post(WEBHOOK, json=resolved, headers=auth())
        repeat = await client.post(WEBHOOK, json=resolved, headers=auth())
    assert first.json()["duplicate"] is False
    assert second.status_code == 202 and second.json()["duplicate"] is False
    assert repeat.json()["duplicate"] is True
    assert [a.monitor_condition for a in seen] == ["Fired", "Resolved"]
    store = fleet.agent.store
    assert store.get_alert(alert_id, "Resolved").payload == resolved
    assert store.get_alert(alert_id, "Fired").payload == fired
    assert store.unprocessed_alerts() == []
