"""The outbox and the delivery stages against real HTTP receivers on 127.0.0.1: a receiver that
fails for a while (5xx, 429 with Retry-After, a hang past the timeout) and then recovers gets
every notification, once per notification after de-duplication, in order per incident; a
receiver that never takes them turns them into dead letters and a `notification_failing`
incident for the fallback receiver."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import pytest
from incidents_helpers import T0, failover, resolved
from notify_helpers import Answer, CaptureServer

from vpnwatch.clock import ManualClock
from vpnwatch.incidents import Incident, IncidentType, Severity
from vpnwatch.notify.pipeline import Notifications
from vpnwatch.notify.settings import NotifySettings
from vpnwatch.store import Store, StoreError

SECRET = "delivery-test-secret"


def settings(url: str, **delivery: object) -> NotifySettings:
    return NotifySettings(
        receivers=[
            {
                "name": "hook",
                "kind": "webhook",
                "url": url,
                "secret": SECRET,
                "timeout_seconds": 0.4,
            },
        ],
        delivery={"initial_backoff_seconds": 0.05, "max_backoff_seconds": 0.3, **delivery},
        group_wait_seconds=0,
    )


async def step(notify: Notifications, store: Store, changed: list[Incident], open_: list[Incident]):
    """What the agent does per correlation step: plan, write with the incidents, commit."""
    plan = notify.plan(changed, open_)
    store.apply(incidents=changed, notifications=plan.entries, notification_states=plan.states)
    notify.committed(plan)
    return plan


def flaky(request, n: int) -> Answer:
    """500, 503, 429 (Retry-After 1 s), a hang past the client's timeout, then healthy."""
    script = [
        Answer(500, "{}"),
        Answer(503, "{}"),
        Answer(429, '{"status":"throttled"}', {"Retry-After": "1"}),
        Answer(503, "{}", delay=1.0),
    ]
    return script[n] if n < len(script) else Answer(202)


async def test_a_flaky_receiver_gets_every_notification_once_and_in_order(tmp_path: Path) -> None:
    clock = ManualClock(epoch=T0)
    async with CaptureServer(flaky) as server:
        with Store.open(tmp_path / "store.sqlite3") as store:
            # one at a time, so "after the 429" is well defined
            notify = Notifications(settings(f"{server.url}/hook", concurrency=1), store, clock)
            incidents = [failover() for _ in range(4)]
            for n, incident in enumerate(incidents):
                incident.key = f"{incident.key}-{n}"
            await notify.start()
            try:
                await step(notify, store, incidents, incidents)  # trigger x4
                clock.advance(30)
                for incident in incidents:  # escalation: the same page, updated
                    incident.severity = Severity.CRITICAL
                    incident.classification = "slo_breach"
                await step(notify, store, incidents, incidents)
                clock.advance(30)
                for incident in incidents:
                    resolved(incident, 60)
                await step(notify, store, incidents, [])
                assert await notify.drain(timeout=30)
            finally:
                await notify.stop()
            rows, total = store.list_notifications(limit=100)
    assert total == 12 and {r.status for r in rows} == {"delivered"}
    assert [s for _, s, _ in server.answered[:4]] == [500, 503, 429, 503]
    # Retry-After was honoured: after the 429, nothing new went to the receiver for 1 s
    _, _, throttled_at = server.answered[2]
    later = [r.at for r in server.requests if r.at > throttled_at]
    assert later and min(later) >= throttled_at + 0.95
    seen: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for request in server.delivered():
        body = request.json()
        identity = (body["event"], body["sent_for"])
        if identity not in seen[body["dedup_key"]]:  # what a receiver's de-duplication keeps
            seen[body["dedup_key"]].append(identity)
    assert len(seen) == 4
    for events in seen.values():
        assert [e for e, _ in events] == ["trigger", "trigger", "resolve"]
        assert [t for _, t in events] == sorted(t for _, t in events)


async def test_a_dead_receiver_makes_dead_letters_and_pages_the_fallback(tmp_path: Path) -> None:
    clock = ManualClock(epoch=T0)

    def refuses_once(request, n: int) -> Answer:  # a bad key, then fixed
        return Answer(400, '{"error":"bad key"}') if n == 0 else Answer(202)

    async with CaptureServer(refuses_once) as broken, CaptureServer() as pager:
        config = NotifySettings(
            receivers=[
                {"name": "hook", "kind": "webhook", "url": f"{broken.url}/x", "secret": SECRET},
                {"name": "pager", "kind": "alertmanager", "url": pager.url},
            ],
            routes=[{"match": {"types": ["failover"]}, "receivers": ["hook"]}],
            delivery={"fallback_receiver": "pager", "initial_backoff_seconds": 0.05},
            group_wait_seconds=0,
        )
        with Store.open(tmp_path / "store.sqlite3") as store:
            notify = Notifications(config, store, clock)
            incident = failover()
            await notify.start()
            try:
                await step(notify, store, [incident], [incident])
                assert await notify.drain(timeout=10)
                clock.advance(60)
                await step(notify, store, [resolved(incident)], [])
                assert await notify.drain(timeout=10)
            finally:
                await notify.stop()
            dead, _ = store.list_notifications(status="dead")
            failing = store.list_incidents(type=IncidentType.NOTIFICATION_FAILING.value)[0]
    assert len(dead) == 1 and "HTTP 400" in (dead[0].last_error or "")
    assert len(broken.requests) == 2  # a 400 is not retried: the trigger once, the resolve once
    assert [i.attributes["receiver"] for i in failing] == ["hook"]
    assert failing[0].status.value == "resolved"  # the receiver took the resolve
    alerts = [r.json()[0] for r in pager.requests]
    assert {a["labels"]["type"] for a in alerts} == {"notification_failing"}
    assert alerts[-1]["endsAt"] == failing[0].resolved_at.isoformat().replace("+00:00", "Z")


async def test_the_outbox_is_written_with_the_incident_or_not_at_all(tmp_path: Path) -> None:
    clock = ManualClock(epoch=T0)
    with Store.open(tmp_path / "store.sqlite3") as store:
        notify = Notifications(settings("http://127.0.0.1:9/x"), store, clock)
        incident = failover()
        plan = notify.plan([incident], [incident])
        broken = Incident(**{**{s: getattr(incident, s) for s in incident.__slots__}})
        broken.opened_at = broken.opened_at.replace(tzinfo=None)  # the store refuses it
        with pytest.raises(StoreError):
            store.apply(incidents=[broken], notifications=plan.entries)
        assert store.list_notifications()[1] == 0
        assert store.list_incidents()[1] == 0
        clock.advance(5)
        store.apply(incidents=[incident], notifications=plan.entries)
        assert store.list_notifications()[1] == 1


async def test_a_child_never_notifies_and_a_silenced_incident_waits(tmp_path: Path) -> None:
    clock = ManualClock(epoch=T0)
    config = NotifySettings(
        receivers=[
            {"name": "hook", "kind": "webhook", "url": "http://127.0.0.1:9/", "secret": "s"}
        ],
        silences=[
            {
                "name": "patching",
                "matchers": [{"name": "gateway", "value": "gw-vpn.*", "is_regex": True}],
                "start": T0 - timedelta(minutes=5),
                "end": T0 + timedelta(minutes=10),
            }
        ],
    )
    with Store.open(tmp_path / "store.sqlite3") as store:
        notify = Notifications(config, store, clock)
        incident = failover()
        child = failover()
        child.key, child.parent_key = "tunnel_down:c1", incident.key
        plan = await step(notify, store, [incident, child], [incident, child])
        assert plan.entries == []  # silenced, and the child never on its own
        assert [s.phase for s in notify.planner.state_of(incident.id)] == ["silenced"]
        assert notify.planner.state_of(child.id) == []
        clock.advance(11 * 60)  # the silence ended, the incident is still open
        plan = await step(notify, store, [], [incident, child])
        assert [(e.incident_id, e.event) for e in plan.entries] == [(incident.id, "trigger")]
        assert [c["key"] for c in plan.entries[0].payload["children"]] == ["tunnel_down:c1"]


async def test_a_new_incident_waits_group_wait_so_a_late_parent_claims_it(tmp_path: Path) -> None:
    clock = ManualClock(epoch=T0)
    config = NotifySettings(
        receivers=[
            {"name": "hook", "kind": "webhook", "url": "http://127.0.0.1:9/", "secret": "s"}
        ],
        group_wait_seconds=15,
    )
    with Store.open(tmp_path / "store.sqlite3") as store:
        notify = Notifications(config, store, clock)
        tunnel = failover()
        tunnel.key = "tunnel_down:c1"
        assert (await step(notify, store, [tunnel], [tunnel])).entries == []
        clock.advance(10)  # the site is decided a poll later and explains the tunnel
        site = failover()
        tunnel.parent_key = site.key
        assert (await step(notify, store, [tunnel], [tunnel, site])).entries == []
        clock.advance(15)
        plan = await step(notify, store, [], [tunnel, site])
        assert [e.incident_id for e in plan.entries] == [site.id]  # only the parent, once


async def test_delivered_notifications_are_pruned_to_a_bounded_history(tmp_path: Path) -> None:
    clock = ManualClock(epoch=T0)
    async with CaptureServer() as server:
        with Store.open(tmp_path / "store.sqlite3") as store:
            notify = Notifications(settings(f"{server.url}/x", keep_delivered=3), store, clock)
            notify.dispatcher.prune_every = 1
            incidents = [failover() for _ in range(8)]
            await notify.start()
            try:
                await step(notify, store, incidents, incidents)
                assert await notify.drain(timeout=10)
            finally:
                await notify.stop()
            kept, total = store.list_notifications(limit=100)
    assert len(server.requests) == 8
    assert total == 3 and {r.status for r in kept} == {"delivered"}
