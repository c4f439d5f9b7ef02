"""An outage that began while vpnwatch was not running: after the restart the incident opens,
and since no poll saw it begin, it says its start is unknown and since when it was last seen
healthy, instead of passing the restart time off as the start."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from agent_helpers import quiet_hub

from vpnwatch.agent import Agent
from vpnwatch.clock import ManualClock
from vpnwatch.config import Settings
from vpnwatch.emulator import Emulator
from vpnwatch.emulator.scenario import Scenario
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


def _tunnel_incidents(agent: Agent) -> list[Incident]:
    found, _ = agent.store.list_incidents(type=IncidentType.TUNNEL_DOWN.value, limit=100)
    return found


async def _start(settings, clock: ManualClock, at: float) -> Agent:  # type: ignore[no-untyped-def]
    clock.set(REPLAY_EPOCH + timedelta(seconds=at))
    agent = Agent(settings, clock=clock)
    await agent.open()
    return agent


@asynccontextmanager
async def _stopped_at(
    stopped_at: float, scenario: Scenario, tmp_path: Path
) -> AsyncIterator[tuple[Settings, ManualClock]]:
    """The emulator serving `scenario`, and a store as vpnwatch left it when stopped at
    `stopped_at` after watching from 0 s: (settings to start it again, the clock)."""
    clock = ManualClock(REPLAY_EPOCH)
    async with Emulator(scenario, clock=clock, port=0, token=EMULATOR_TOKEN) as emu:
        settings = emulator_settings(
            emu.base_url, scenario, epoch=REPLAY_EPOCH, store_path=str(tmp_path / "v.sqlite3")
        )
        first = await _start(settings, clock, 0)
        await _run(first, clock, stopped_at)
        await first.stop()
        yield settings, clock


@pytest.mark.parametrize("down, up", [(200, 300), (121, 131), (150, 399)])
async def test_an_outage_that_began_and_ended_while_stopped_is_recorded_once(
    tmp_path: Path, down: float, up: float
):
    """Issue 14 item 7: Prague drops at `down` and is back at `up`, while vpnwatch is stopped
    from 120 s to 400 s. Azure's lastConnectionEstablishedUtcTime (`up`) is later than the
    last observation: the outage is recorded, over, with its start unknown; a second restart
    does not record it again."""
    scenario = quiet_hub(
        [{"at": down, "kind": "tunnel_down", "connection": PRAGUE, "duration": up - down}],
        duration=1200,
    )
    async with _stopped_at(STOPPED_AT, scenario, tmp_path) as (settings, clock):
        second = await _start(settings, clock, RESTARTED_AT)
        try:
            await _run(second, clock, RESTARTED_AT + POLL)
            assert _tunnel_down(second) is None  # nothing open: it is over
            (incident,) = _tunnel_incidents(second)
        finally:
            await second.stop()
        assert PRAGUE in incident.title and "while vpnwatch was not running" in incident.title
        assert incident.classification == "unobserved" and incident.severity.value == "info"
        assert incident.resolved_at is not None and _offset(incident.resolved_at) == up
        assert incident.attributes["start"] == "unknown"
        last_seen = datetime.fromisoformat(incident.attributes["last_seen_healthy"])
        assert 0 < _offset(last_seen) < STOPPED_AT
        assert incident.outage_seconds is None

        third = await _start(settings, clock, 600)
        try:
            await _run(third, clock, 600 + 2 * POLL)
            assert [i.id for i in _tunnel_incidents(third)] == [incident.id]
        finally:
            await third.stop()


async def test_the_start_of_a_tunnel_still_down_is_narrowed_by_its_reconnection(tmp_path: Path):
    """Prague drops at 150 s, is back at 200 s, drops again at 300 s; vpnwatch is stopped from
    120 s to 400 s. The incident says it started between 200 s (Azure's reconnection) and
    400 s, not only after the last observation before the stop."""
    scenario = quiet_hub(
        [
            {"at": 150, "kind": "tunnel_down", "connection": PRAGUE, "duration": 50},
            {"at": FAULT_AT, "kind": "tunnel_down", "connection": PRAGUE, "duration": 600},
        ],
        duration=1200,
    )
    async with _stopped_at(STOPPED_AT, scenario, tmp_path) as (settings, clock):
        second = await _start(settings, clock, RESTARTED_AT)
        try:
            await _run(second, clock, RESTARTED_AT + POLL)
            incident = _tunnel_down(second)
            assert incident is not None and incident.attributes["start"] == "unknown"
            assert _offset(datetime.fromisoformat(incident.attributes["started_after"])) == 200
            assert _offset(datetime.fromisoformat(incident.attributes["reconnected_at"])) == 200
            began = (REPLAY_EPOCH + timedelta(seconds=200)).strftime("%H:%M:%S")
            assert f"started between {began} and" in incident.title
            assert len(_tunnel_incidents(second)) == 1  # the earlier drop is not recorded apart
        finally:
            await second.stop()
