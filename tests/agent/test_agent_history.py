"""What the agent keeps of incident history: resolved incidents for `store.incident_retention_days`,
and the recently resolved ones back in the correlator after a restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vpnwatch.agent import Agent
from vpnwatch.clock import ManualClock
from vpnwatch.config import Settings
from vpnwatch.emulator import load_scenario
from vpnwatch.incidents import Evidence, Incident, IncidentStatus, IncidentType, Severity
from vpnwatch.replay import emulator_settings
from vpnwatch.store import Store

T0 = datetime(2026, 3, 1, tzinfo=UTC)
CONN = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/connections/"


def _incident(name: str, *, resolved: datetime | None) -> Incident:
    inc = Incident(
        f"tunnel_down:{CONN}{name}",
        IncidentType.TUNNEL_DOWN,
        Severity.WARNING,
        f"{name} down",
        (CONN + name,),
        T0 - timedelta(hours=1),
        timeline=[Evidence(T0 - timedelta(hours=1), "down", CONN + name)],
    )
    if resolved is not None:
        inc.status, inc.resolved_at = IncidentStatus.RESOLVED, resolved
    return inc


def _agent(clock: ManualClock, store: Store, **store_settings: object) -> Agent:
    base = Settings(targets={"discover_all": True}, store=store_settings)
    # no request is made: the agent only opens and ticks
    settings = emulator_settings("http://127.0.0.1:9", load_scenario("quiet"), epoch=T0, base=base)
    return Agent(settings, clock=clock, store=store)


async def test_resolved_incidents_are_pruned_after_their_retention() -> None:
    clock = ManualClock(T0)
    with Store.open(":memory:") as store:
        resolved = _incident("resolved", resolved=T0)
        later = _incident("later", resolved=T0 + timedelta(hours=20))
        store.apply(incidents=[resolved, later])
        agent = _agent(clock, store, incident_retention_days=1)
        await agent.open()
        try:
            await agent.tick()
            assert store.get_incident(resolved.id) is not None
            clock.advance(timedelta(days=1, hours=2).total_seconds())
            await agent.tick()
            assert store.get_incident(resolved.id) is None
            assert store.get_incident(later.id) is not None
        finally:
            await agent.stop()


async def test_a_restart_takes_back_the_incidents_resolved_in_the_last_half_hour() -> None:
    clock = ManualClock(T0)
    with Store.open(":memory:") as store:
        lately = _incident("lately", resolved=T0 - timedelta(minutes=10))
        long_ago = _incident("long-ago", resolved=T0 - timedelta(hours=2))
        store.apply(incidents=[lately, long_ago])
        agent = _agent(clock, store)
        await agent.open()
        try:
            recent = agent.correlator._recent
            assert set(recent) == {lately.key}
            assert recent[lately.key].timeline == lately.timeline
        finally:
            await agent.stop()
