"""Hours of scenario time replay quickly and the same way: quiet stretches are skipped, and each
round of faults still opens what it opens in the short scenario, at the same offsets."""

from __future__ import annotations

from vpnwatch.emulator import load_scenario
from vpnwatch.emulator.changes import change_times
from vpnwatch.emulator.repeat import repeated
from vpnwatch.replay import REPLAY_EPOCH, replay

EVERY = 2 * 3600
POLL = 15


async def test_four_hours_of_the_demo_open_each_rounds_incidents_at_their_offsets() -> None:
    scenario = repeated("demo", every=EVERY, duration=2 * EVERY)
    incidents = [i for i in await replay(scenario) if i.parent_key is None]
    assert len(scenario.expect) == 8 and len(incidents) == 8
    found = sorted(incidents, key=lambda i: i.opened_at)
    for inc, want in zip(found, sorted(scenario.expect, key=lambda e: e["at"]), strict=True):
        assert inc.type.value == want["type"]
        assert inc.classification == want.get("classification", inc.classification)
        assert abs((inc.opened_at - REPLAY_EPOCH).total_seconds() - want["at"]) <= POLL
        assert abs(inc.outage_seconds - want["outage_seconds"]) <= POLL
        assert not inc.is_open


def test_a_scenario_with_windows_that_recur_cannot_be_skipped_through() -> None:
    assert change_times(repeated("demo", every=EVERY, duration=EVERY)) is not None
    assert change_times(load_scenario("azure-maintenance-window-failover")) is None
