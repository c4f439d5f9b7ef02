"""Every receiver against a real HTTP server on 127.0.0.1: method, path, headers and body held
against the service's published contract (tests/notify/contracts)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest
from incidents_helpers import T0, failover, resolved, zone_outage
from notify_helpers import Answer, CaptureServer, assert_valid, contract

from vpnwatch.incidents import Severity
from vpnwatch.notify.message import Event, Notification
from vpnwatch.notify.receiver import Delivered, GiveUp, Retry
from vpnwatch.notify.receivers import build_receiver
from vpnwatch.notify.settings import ReceiverSettings
from vpnwatch.notify.webhook import SIGNATURE_HEADER, verify

ROUTING_KEY = "R0UTINGKEYR0UTINGKEYR0UTINGKEY12"
GENIE_KEY = "0b1e2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
WEBHOOK_SECRET = "whsec-0123456789abcdef"
LINK = "https://vpnwatch.example.internal"


PARENT, CHILDREN = zone_outage()


def trigger() -> Notification:
    return Notification.of(PARENT, Event.TRIGGER, now=T0, children=CHILDREN, link_base_url=LINK)


def resolve() -> Notification:
    parent, children = zone_outage()
    parent.id = PARENT.id
    return Notification.of(resolved(parent), Event.RESOLVE, now=T0, children=children)


async def deliver(kind: str, notification: Notification, server: CaptureServer, **extra: str):
    settings = ReceiverSettings(name=f"{kind}-test", kind=kind, url=server.url, **extra)
    receiver = build_receiver(settings)
    async with httpx.AsyncClient(timeout=5) as client:
        return await receiver.send(notification, client)


async def test_pagerduty_trigger_and_resolve_follow_the_events_api() -> None:
    async with CaptureServer() as server:
        url = f"{server.url}/v2/enqueue"
        settings = ReceiverSettings(name="pd", kind="pagerduty", url=url, routing_key=ROUTING_KEY)
        receiver = build_receiver(settings)
        async with httpx.AsyncClient() as client:
            assert isinstance(await receiver.send(trigger(), client), Delivered)
            assert isinstance(await receiver.send(resolve(), client), Delivered)
    first, second = server.requests
    for request in server.requests:
        assert (request.method, request.path) == ("POST", "/v2/enqueue")
        assert request.headers["content-type"] == "application/json"
        assert_valid("pagerduty", request.json())
    sent = first.json()
    assert sent["routing_key"] == ROUTING_KEY
    assert sent["event_action"] == "trigger"
    assert sent["dedup_key"] == second.json()["dedup_key"]
    assert sent["dedup_key"].startswith("zone_outage:westeurope/2#")
    assert len(sent["payload"]["summary"]) <= 1024
    assert "westeurope" in sent["payload"]["summary"] and "zone 2" in sent["payload"]["summary"]
    assert sent["payload"]["severity"] == "critical"
    details = sent["payload"]["custom_details"]
    assert [c["title"] for c in details["explains"]] == [
        "Gateway gw-a: every instance down",
        "Gateway gw-b: every instance down",
    ]
    assert details["evidence"] and details["resources"]
    assert sent["links"][0]["href"].startswith(f"{LINK}/incidents/")
    assert second.json()["event_action"] == "resolve"


async def test_the_pagerduty_contract_rejects_what_pagerduty_would() -> None:
    """The validator is not a rubber stamp: a body without event_action fails it."""
    assert not contract("pagerduty").is_valid({"routing_key": ROUTING_KEY})
    assert not contract("opsgenie-create").is_valid({"alias": "x"})


async def test_a_reopened_incident_gets_a_fresh_dedup_key() -> None:
    first = failover()
    again = failover()  # same key, a new occurrence (new id)
    assert first.key == again.key
    keys = {Notification.of(i, Event.TRIGGER, now=T0).dedup_key for i in (first, again)}
    assert len(keys) == 2


async def test_opsgenie_creates_by_alias_and_closes_by_alias() -> None:
    async with CaptureServer() as server:
        assert isinstance(
            await deliver("opsgenie", trigger(), server, api_key=GENIE_KEY), Delivered
        )
        assert isinstance(
            await deliver("opsgenie", resolve(), server, api_key=GENIE_KEY), Delivered
        )
    create, close = server.requests
    assert (create.method, create.path) == ("POST", "/v2/alerts")
    assert create.headers["authorization"] == f"GenieKey {GENIE_KEY}"
    body = create.json()
    assert_valid("opsgenie-create", body)
    assert len(body["message"]) <= 130
    assert body["priority"] == "P1"
    assert len(body["alias"]) <= 512
    assert close.method == "POST"
    assert close.path == f"/v2/alerts/{body['alias']}/close"
    assert close.query == {"identifierType": "alias"}
    assert close.headers["authorization"] == f"GenieKey {GENIE_KEY}"
    assert_valid("opsgenie-close", close.json())


async def test_opsgenie_message_is_cut_to_130_characters() -> None:
    incident = failover()
    incident.title = "Gateway " + "x" * 300
    async with CaptureServer() as server:
        await deliver(
            "opsgenie", Notification.of(incident, Event.TRIGGER, now=T0), server, api_key=GENIE_KEY
        )
    assert len(server.requests[0].json()["message"]) == 130


async def test_alertmanager_gets_one_alert_per_root_incident_on_every_url() -> None:
    async with CaptureServer() as one, CaptureServer() as two:
        settings = ReceiverSettings(
            name="am", kind="alertmanager", url=f"{one.url}, {two.url}/", resend_seconds=30
        )
        receiver = build_receiver(settings)
        async with httpx.AsyncClient() as client:
            assert isinstance(await receiver.send(trigger(), client), Delivered)
            assert isinstance(await receiver.send(resolve(), client), Delivered)
    for server in (one, two):
        assert [(r.method, r.path) for r in server.requests] == [("POST", "/api/v2/alerts")] * 2
        for request in server.requests:
            assert_valid("alertmanager", request.json())
        firing, ended = (r.json() for r in server.requests)
        assert len(firing) == 1
        labels = firing[0]["labels"]
        assert labels["alertname"] == "VpnwatchIncident"
        assert labels["severity"] == "critical"
        assert labels["type"] == "zone_outage"
        assert labels["region"] == "westeurope" and labels["zone"] == "2"
        assert labels["subscription"] == "00000000-0000-0000-0000-0000000000aa"
        assert "gw-a" in firing[0]["annotations"]["description"]
        ends = datetime.fromisoformat(firing[0]["endsAt"].replace("Z", "+00:00"))
        assert ends > datetime.now(UTC)  # re-sent while open; ends by itself if vpnwatch dies
        assert ended[0]["labels"] == labels
        assert ended[0]["endsAt"].startswith("2026-05-02T01:02:00")


async def test_slack_block_kit_message_and_resolved_message() -> None:
    async with CaptureServer(lambda r, n: Answer(200, "ok")) as server:
        assert isinstance(await deliver("slack", trigger(), server), Delivered)
        assert isinstance(await deliver("slack", resolve(), server), Delivered)
    for request in server.requests:
        assert request.method == "POST" and request.path == "/"
        assert_valid("slack", request.json())
    firing, ended = (r.json() for r in server.requests)
    assert firing["blocks"][0]["type"] == "header"
    assert "Zone outage" in firing["blocks"][0]["text"]["text"]
    text = str(firing["blocks"])
    assert "gw-a" in text and "westeurope" in text
    assert "Resolved" in ended["text"]


async def test_teams_adaptive_card_in_the_message_envelope_under_28_kb() -> None:
    parent, children = zone_outage()
    children = children * 25  # 50 explained incidents with long titles
    for n, child in enumerate(children):
        children[n] = type(child)(**{**{s: getattr(child, s) for s in child.__slots__}})
        children[n].title = f"Gateway gw-{n}: " + "every instance down " * 40
    big = Notification.of(parent, Event.TRIGGER, now=T0, children=children, link_base_url=LINK)
    async with CaptureServer() as server:
        assert isinstance(await deliver("teams", trigger(), server), Delivered)
        assert isinstance(await deliver("teams", big, server), Delivered)
    for request in server.requests:
        body = request.json()
        assert_valid("teams", body)
        card = body["attachments"][0]["content"]
        assert_valid("adaptive-card", card)
        assert float(card["version"]) <= 1.5
        assert len(request.body) <= 28 * 1024
    assert "Explains" in str(server.requests[0].json())


async def test_webhook_body_is_documented_and_signed() -> None:
    async with CaptureServer() as server:
        before = time.time()
        assert isinstance(
            await deliver("webhook", trigger(), server, secret=WEBHOOK_SECRET), Delivered
        )
    (request,) = server.requests
    assert request.method == "POST"
    assert_valid("webhook", request.json())
    header = request.headers[SIGNATURE_HEADER.lower()]
    assert verify(WEBHOOK_SECRET, request.body, header, now=time.time())
    assert not verify("another-secret", request.body, header, now=time.time())
    assert not verify(WEBHOOK_SECRET, request.body + b" ", header, now=time.time())
    assert not verify(WEBHOOK_SECRET, request.body, header, now=before + 3600)  # a replay
    assert int(header.split(",")[0].removeprefix("t=")) >= int(before)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (Answer(500, "{}"), Retry),
        (Answer(503, "{}"), Retry),
        (Answer(429, "{}", {"Retry-After": "7"}), Retry),
        (Answer(400, '{"message":"Invalid routing key"}'), GiveUp),
        (Answer(401, "{}"), GiveUp),
    ],
)
async def test_receivers_report_retry_or_give_up(answer: Answer, expected: type) -> None:
    async with CaptureServer(lambda r, n: answer) as server:
        outcome = await deliver("pagerduty", trigger(), server, routing_key=ROUTING_KEY)
    assert isinstance(outcome, expected)
    if answer.status == 429:
        assert outcome.retry_after == 7
    assert ROUTING_KEY not in str(outcome)


async def test_a_hanging_receiver_is_a_retry_not_a_hang() -> None:
    async with CaptureServer(lambda r, n: Answer(delay=2)) as server:
        settings = ReceiverSettings(
            name="slow", kind="slack", url=f"{server.url}/hook/T0/B0/SECRET"
        )
        receiver = build_receiver(settings)
        async with httpx.AsyncClient(timeout=0.3) as client:
            outcome = await receiver.send(trigger(), client)
    assert isinstance(outcome, Retry)
    assert "SECRET" not in outcome.reason and "within the timeout" in outcome.reason


async def test_an_alertmanager_member_that_is_down_does_not_hold_back_the_cluster() -> None:
    async with CaptureServer() as up, CaptureServer(lambda r, n: Answer(503, "{}")) as down:
        settings = ReceiverSettings(name="am", kind="alertmanager", url=f"{down.url},{up.url}")
        async with httpx.AsyncClient() as client:
            outcome = await build_receiver(settings).send(trigger(), client)
    assert isinstance(outcome, Delivered) and "HTTP 503" in outcome.answer
    assert len(up.requests) == 1 and len(down.requests) == 1


async def test_an_opsgenie_escalation_updates_the_priority_of_the_same_alert() -> None:
    incident = failover()  # a warning: P3
    first = Notification.of(incident, Event.TRIGGER, now=T0)
    incident.severity = Severity.CRITICAL
    escalated = Notification.of(incident, Event.TRIGGER, now=T0, update=True)
    async with CaptureServer() as server:
        assert isinstance(await deliver("opsgenie", first, server, api_key=GENIE_KEY), Delivered)
        assert isinstance(
            await deliver("opsgenie", escalated, server, api_key=GENIE_KEY), Delivered
        )
    create, again, priority = server.requests
    assert create.json()["priority"] == "P3" and again.json()["priority"] == "P1"
    assert create.json()["alias"] == again.json()["alias"]
    assert priority.method == "PUT"
    assert priority.path == f"/v2/alerts/{create.json()['alias']}/priority"
    assert priority.query == {"identifierType": "alias"}
    assert priority.headers["authorization"] == f"GenieKey {GENIE_KEY}"
    assert_valid("opsgenie-priority", priority.json())
    assert priority.json() == {"priority": "P1"}
