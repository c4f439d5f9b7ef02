"""An outage that began and ended while vpnwatch was not looking is recorded, over, and never
notified: not a critical page, not even an informational message, whatever the routes say."""

from __future__ import annotations

from datetime import UTC, datetime

from vpnwatch.incidents import Incident, IncidentStatus, IncidentType, Severity, incident_key
from vpnwatch.notify.planner import Planner
from vpnwatch.notify.settings import NotifySettings
from vpnwatch.notify.silences import Silences

AT = datetime(2026, 3, 2, 10, 6, 40, tzinfo=UTC)
CONNECTION = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/connections/c1"


def _settings(routes: list[dict[str, object]] | None) -> NotifySettings:
    return NotifySettings.model_validate(
        {
            "receivers": [
                {"name": "pager", "kind": "pagerduty", "routing_key": "k"},
                {"name": "chat", "kind": "slack", "url": "http://127.0.0.1:9/hook"},
                {"name": "hook", "kind": "webhook", "url": "http://127.0.0.1:9/h", "secret": "s"},
            ],
            "routes": routes,
            "group_wait_seconds": 0,
        }
    )


def _unobserved() -> Incident:
    return Incident(
        key=incident_key(IncidentType.TUNNEL_DOWN, CONNECTION),
        type=IncidentType.TUNNEL_DOWN,
        severity=Severity.INFO,
        title="VPN connection c1 was down while vpnwatch was not running: ...",
        resources=(CONNECTION,),
        opened_at=AT,
        status=IncidentStatus.RESOLVED,
        resolved_at=AT,
        classification="unobserved",
    )


def test_it_reaches_no_receiver_by_default_routes() -> None:
    planner = Planner(_settings(None), Silences(), wall=lambda: 1000.0)
    assert not planner.plan([_unobserved()], [], AT)


def test_it_reaches_no_receiver_even_when_a_route_takes_info() -> None:
    routes = [{"match": {"severities": ["info"]}, "receivers": ["pager", "chat", "hook"]}]
    planner = Planner(_settings(routes), Silences(), wall=lambda: 1000.0)
    assert not planner.plan([_unobserved()], [], AT)
    # whereas the same incident still open would have gone to all three
    still_open = _unobserved()
    still_open.status, still_open.resolved_at = IncidentStatus.OPEN, None
    plan = planner.plan([still_open], [still_open], AT)
    assert sorted(e.receiver for e in plan.entries) == ["chat", "hook", "pager"]
