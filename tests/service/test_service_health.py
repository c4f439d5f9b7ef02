"""/livez, /readyz and /health against a real agent polling the emulator."""

from __future__ import annotations

from datetime import datetime

from service_helpers import TUNNEL_FAULT_AT, Fleet, run_until

from vpnwatch.config import HealthStatusPolicy
from vpnwatch.service.health import health_status_code
from vpnwatch.service.schemas import HealthResponse, OverallStatus


async def test_livez_answers_before_anything_else(fleet: Fleet):
    async with fleet.client() as client:
        response = await client.get("/livez")
    assert response.status_code == 200
    assert response.json() == {"status": "alive"}


async def test_readyz_is_503_until_the_first_collection_then_200(fleet: Fleet):
    async with fleet.client() as client:
        before = await client.get("/readyz")
        health_before = await client.get("/health")
        await fleet.collect()
        after = await client.get("/readyz")
    assert before.status_code == 503
    checks = {c["name"]: c for c in before.json()["checks"]}
    assert checks["config"]["ok"] and checks["store"]["ok"]
    assert not checks["first_collection"]["ok"]
    assert "first pass" in checks["first_collection"]["detail"]
    assert before.json()["ready"] is False

    assert health_before.status_code == 503
    assert health_before.json()["status"] == "unknown"

    assert after.status_code == 200
    assert after.json()["ready"] is True
    assert all(c["ok"] for c in after.json()["checks"])


async def test_health_reports_counts_incidents_and_freshness(fleet: Fleet):
    await fleet.collect()
    async with fleet.client() as client:
        response = await client.get("/health")
    assert response.status_code == 200
    body = HealthResponse.model_validate(response.json())
    assert body.status is OverallStatus.HEALTHY  # the quiet scenario: everything up
    assert body.ready and not body.blind
    assert body.entities.up > 0
    assert body.entities.down == body.entities.unknown == 0
    assert "gateway" in " ".join(body.entities_by_kind)
    assert body.open_incidents.critical == body.open_incidents.warning == 0
    names = {c.name for c in body.collectors}
    assert {"arm.gateways", "arm.connections"} <= names
    for collector in body.collectors:
        assert collector.last_success_at == fleet.clock.now()
        assert collector.age_seconds == 0 and not collector.stale


async def test_freshness_ages_with_the_clock_and_goes_stale(fleet: Fleet):
    await fleet.collect()
    fleet.clock.advance(10_000)  # no collection meanwhile
    async with fleet.client() as client:
        response = await client.get("/health")
    body = HealthResponse.model_validate(response.json())
    assert all(c.age_seconds == 10_000 and c.stale for c in body.collectors)
    # Every entity is now stale, so vpnwatch cannot tell: unknown, not a stale "healthy".
    assert body.status is OverallStatus.UNKNOWN
    assert body.entities.unknown > 0 and body.entities.up == 0


def _health(status: OverallStatus, *, ready: bool = True, blind: bool = False) -> HealthResponse:
    return HealthResponse.model_validate(
        {
            "status": status,
            "ready": ready,
            "blind": blind,
            "checked_at": datetime(2026, 1, 1).isoformat() + "Z",
            "entities": {},
            "entities_by_kind": {},
            "open_incidents": {},
            "collectors": [],
        }
    )


def test_agent_policy_does_not_flap_with_the_fleet():
    agent = HealthStatusPolicy.AGENT
    assert health_status_code(_health(OverallStatus.DOWN), agent) == 200
    assert health_status_code(_health(OverallStatus.DEGRADED), agent) == 200
    assert health_status_code(_health(OverallStatus.UNKNOWN, ready=False), agent) == 503
    assert health_status_code(_health(OverallStatus.UNKNOWN, blind=True), agent) == 503


def test_fleet_policy_is_503_when_the_fleet_is_down():
    fleet = HealthStatusPolicy.FLEET
    assert health_status_code(_health(OverallStatus.DOWN), fleet) == 503
    assert health_status_code(_health(OverallStatus.DEGRADED), fleet) == 200
    assert health_status_code(_health(OverallStatus.HEALTHY), fleet) == 200


async def test_a_fault_degrades_the_fleet_but_not_the_agents_own_health(estate: Fleet):
    await run_until(estate, TUNNEL_FAULT_AT + 30)
    async with estate.client() as client:
        response = await client.get("/health")
    body = HealthResponse.model_validate(response.json())
    assert body.open_incidents.warning >= 1  # the tunnel_down incident
    assert body.entities.down >= 2  # the connection's two tunnels
    assert body.status in {OverallStatus.DEGRADED, OverallStatus.DOWN}
    expected = 503 if body.status is OverallStatus.DOWN else 200
    assert response.status_code == 200  # default `agent` policy: the monitor itself is fine
    estate.settings.service.health_status_policy = HealthStatusPolicy.FLEET
    async with estate.client() as client:
        assert (await client.get("/health")).status_code == expected
