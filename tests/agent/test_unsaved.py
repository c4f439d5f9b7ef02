"""Cycles the store refused, merged so that writing them later gives what writing each would."""

from __future__ import annotations

from datetime import UTC, datetime

from vpnwatch.incidents import Incident, IncidentType, Severity
from vpnwatch.store import Store
from vpnwatch.unsaved import UnsavedChanges

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_merged_cycles_write_the_latest_of_everything() -> None:
    inc = Incident("tunnel_down:c1", IncidentType.TUNNEL_DOWN, Severity.WARNING, "c1", ("c1",), T0)
    unsaved = UnsavedChanges()
    assert not unsaved
    unsaved.add([inc], {"a": {"v": 1}, "b": {"v": 1}}, [], None)
    unsaved.add([inc], {"a": {"v": 2}}, ["b"], None)  # b removed after a change
    unsaved.add([], {"c": {"v": 1}}, ["c", "d"], None)  # c changed, then removed in one cycle
    unsaved.add([], {"d": {"v": 3}}, [], None)  # d removed, then back
    assert unsaved
    with Store.open(":memory:") as store:
        store.apply(entity_records={"b": {"v": 0}, "d": {"v": 0}})
        store.apply(**unsaved.write_arguments())
        assert store.load_entity_records() == {"a": {"v": 2}, "d": {"v": 3}}
        assert store.get_incident(inc.id) is not None
    unsaved.clear()
    assert not unsaved


async def test_the_agent_prunes_alerts_past_their_retention() -> None:
    from datetime import timedelta

    from vpnwatch.agent import Agent
    from vpnwatch.clock import ManualClock
    from vpnwatch.config import Settings
    from vpnwatch.emulator import load_scenario
    from vpnwatch.replay import emulator_settings

    clock = ManualClock(T0)
    store = Store.open(":memory:")
    base = Settings(targets={"discover_all": True}, store={"alert_retention_days": 1})
    # no request is made: the agent only ticks
    settings = emulator_settings("http://127.0.0.1:9", load_scenario("quiet"), epoch=T0, base=base)
    agent = Agent(settings, clock=clock, store=store)
    await agent.open()
    try:
        store.record_alert("a", T0, {})
        store.mark_alerts_processed([("a", "Fired")])
        await agent.tick()
        assert store.get_alert("a") is not None
        clock.advance(timedelta(days=1, hours=2).total_seconds())
        await agent.tick()
        assert store.get_alert("a") is None
    finally:
        await agent.stop()
        store.close()
