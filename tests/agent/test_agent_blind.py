"""`monitoring_blind` from the agent's side: discovery counts once, and its success counts too."""

from __future__ import annotations

from datetime import datetime

from agent_helpers import blind, quiet_hub

from vpnwatch.replay import REPLAY_EPOCH, replay

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
