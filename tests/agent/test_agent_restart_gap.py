"""An outage that began while vpnwatch was not running: after the restart the incident opens,
and since no poll saw it begin, it says its start is unknown and since when it was last seen
healthy, instead of passing the restart time off as the start."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from agent_helpers import quiet_hub

from vpnwatch.agent import Agent
from vpnwatch.clock import ManualClock
from vpnwatch.emulator import Emulator
from vpnwatch.incidents import Incident, IncidentType
from vpnwatch.replay import EMULATOR_TOKEN, REPLAY_EPOCH, emulator_settings

FAULT_AT = 300  # cn-hub-weu-prague down from here, for ten minutes
STOPPED_AT = 120
RESTARTED_AT = 400
POLL = 15
PRAGUE = "cn-hub-weu-prague"


def _offset(at: datetime) -> float:
    return (at - REPLAY_EPOCH).total_seconds()


async def _run(agent: Agent, clock: ManualClock, until: float) -> None:
    while _offset(clock.now()) < until:
        await agent.run_due()
        clock.advance(5)


def _tunnel_down(agent: Agent) -> Incident | None:
    assert agent.correlator is not None
    found = [i for i in agent.correlator.open_incidents() if i.type is IncidentType.TUNNEL_DOWN]
    return found[0] if found else None


async def test_an_outage_that_began_while_stopped_says_its_start_is_unknown(tmp_path: Path):
    scenario = quiet_hub(
        [{"at": FAULT_AT, "kind": "tunnel_down", "connection": PRAGUE, "duration": 600}],
        duration=1200,
    )
    clock = ManualClock(REPLAY_EPOCH)
    async with Emulator(scenario, clock=clock, port=0, token=EMULATOR_TOKEN) as emu:
        settings = emulator_settings(
            emu.base_url, scenario, epoch=REPLAY_EPOCH, store_path=str(tmp_path / "v.sqlite3")
        )
        first = Agent(settings, clock=clock)
        await first.open()
        await _run(first, clock, STOPPED_AT)
        assert _tunnel_down(first) is None
        await first.stop()  # vpnwatch is down from here; the tunnel fails at FAULT_AT

        clock.set(REPLAY_EPOCH + timedelta(seconds=RESTARTED_AT))
        second = Agent(settings, clock=clock)
        await second.open()
        try:
            await _run(second, clock, RESTARTED_AT + POLL)
            incident = _tunnel_down(second)
            assert incident is not None
            # Either timed within one poll of the true start, or honest that it cannot be.
            timed = abs(_offset(incident.opened_at) - FAULT_AT) <= POLL
            assert not timed  # nothing seen between 120 s and 400 s could time it here
            assert incident.attributes["start"] == "unknown"
            last_seen = datetime.fromisoformat(incident.attributes["last_seen_healthy"])
            assert 0 < _offset(last_seen) < STOPPED_AT  # its last read before the stop
            assert _offset(incident.opened_at) == RESTARTED_AT
            assert "while vpnwatch was not running" in incident.title
            assert any("while vpnwatch was not running" in e.message for e in incident.timeline)
            stored = second.store.get_incident(incident.id)
            assert stored is not None and stored.attributes["start"] == "unknown"

            await _run(second, clock, 800)  # the same incident goes on, still saying so
            assert _tunnel_down(second) is incident
        finally:
            await second.stop()
            assert incident.attributes["start"] == "unknown"
