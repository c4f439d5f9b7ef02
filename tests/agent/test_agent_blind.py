"""`monitoring_blind` from the agent's side: discovery counts once, and its success counts too."""

from __future__ import annotations

import itertools
from datetime import datetime
from pathlib import Path

from agent_helpers import blind, quiet_hub

from vpnwatch.agent import Agent
from vpnwatch.clock import ManualClock
from vpnwatch.emulator import Emulator
from vpnwatch.incidents import Incident
from vpnwatch.replay import EMULATOR_TOKEN, REPLAY_EPOCH, emulator_settings, replay

# Discovery through ARM's listings, which a subscription's throttling reaches (Resource Graph
# has its own quota, which it does not).
REDISCOVER = {"collectors": {"discovery_interval_seconds": 60, "discovery_resource_graph": False}}


def offset(at: datetime) -> float:
    return (at - REPLAY_EPOCH).total_seconds()


async def test_a_short_throttle_overlapping_a_rediscovery_opens_nothing() -> None:
    # 58..68 s: every read answers 429, so the rediscovery due at 60 s fails once, and so does
    # that step's poll; everything succeeds again from 75 s.
    scenario = quiet_hub(
        [{"at": 58, "kind": "throttle", "duration": 10, "retry_after": 1}], agent=REDISCOVER
    )
    incidents = await replay(scenario)
    assert blind(incidents) == []


async def test_blind_from_failing_discovery_resolves_once_discovery_succeeds() -> None:
    scenario = quiet_hub(
        [{"at": 58, "kind": "throttle", "duration": 90, "retry_after": 1}],
        duration=300,
        agent=REDISCOVER,
    )
    incidents = await replay(scenario)
    found = blind(incidents)
    assert "monitoring_blind:*" in {i.key for i in found}  # discovery itself was failing
    for inc in found:
        assert not inc.is_open, f"{inc.key} must resolve once discovery and polls succeed again"
        assert inc.resolved_at is not None
        # the fault ends at 148 s; the next poll (every 15 s) succeeds
        assert offset(inc.opened_at) == 60
        assert 148 <= offset(inc.resolved_at) <= 148 + 15, inc.resolved_at


async def _blind_spell(fault_end: float, tmp_path: Path) -> tuple[list[float], Incident]:
    """503s from 100 s to `fault_end` on a manual clock stepped by 1 s; the connections' failed
    pass times and the blind incident."""
    scenario = quiet_hub(
        [{"at": 100, "kind": "api_unavailable", "duration": fault_end - 100, "retry_after": 1}],
        duration=400,
    )
    clock = ManualClock(REPLAY_EPOCH)
    failed: list[float] = []
    async with Emulator(scenario, clock=clock, port=0, token=EMULATOR_TOKEN) as emu:
        settings = emulator_settings(
            emu.base_url, scenario, epoch=REPLAY_EPOCH, store_path=str(tmp_path / "v.sqlite3")
        )
        agent = Agent(settings, clock=clock)
        await agent.open()
        try:
            while offset(clock.now()) < fault_end + 40:
                await agent.run_due()
                status = {s.name: s for s in agent.collector_status()}["arm.connections"]
                if status.failing and status.last_run_at == clock.now():
                    failed.append(offset(clock.now()))
                clock.advance(1)
            found, _ = agent.store.list_incidents(type="monitoring_blind", limit=10)
        finally:
            await agent.stop()
    (incident,) = found
    return failed, incident


async def test_blind_resolves_within_half_a_poll_of_the_fault_ending(tmp_path: Path) -> None:
    """A failed pass is tried again after half the fastest interval, so the first success after
    a fault comes within half a poll of its end, wherever the end falls in the cycle, and a pass
    that takes its time (or a failing one that held on to its deadline just before the end)
    still leaves blindness resolved within one poll of the end."""
    for fault_end in (207.0, 214.0):
        failed, incident = await _blind_spell(fault_end, tmp_path / str(fault_end))
        assert failed and max(failed) < fault_end
        gaps = [b - a for a, b in itertools.pairwise(failed)]
        assert max(gaps) <= 15 / 2 + 1, gaps  # a 1 s step rounds the half interval up
        assert incident.resolved_at is not None
        late = offset(incident.resolved_at) - fault_end
        assert 0 <= late <= 15 / 2 + 1, (fault_end, late, failed)
