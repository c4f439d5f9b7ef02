"""The demo's banner: a demo, its scenario, its progress, what is happening now, and its end."""

from __future__ import annotations

from service_helpers import Fleet

from vpnwatch.clock import ManualClock
from vpnwatch.emulator import load_scenario
from vpnwatch.replay import REPLAY_EPOCH
from vpnwatch.service.demo import DemoStory


def test_story_follows_the_scenario_clock():
    clock = ManualClock(REPLAY_EPOCH)
    story = DemoStory(load_scenario("demo"), clock)
    start = story.status()
    assert start.elapsed == 0 and not start.ended and start.now == []
    assert start.next is not None and start.next.startswith("instance failure")
    clock.advance(100)  # demo.yaml: the hub gateway's active instance fails at 90 s for 40 s
    during = story.status()
    assert any("instance failure" in n and "vpngw-hub-weu" in n for n in during.now), during.now
    assert during.percent == 11
    clock.advance(900)
    end = story.status()
    assert end.ended and end.elapsed == end.duration and end.percent == 100


async def test_every_page_carries_the_banner_and_says_when_it_ended(fleet: Fleet):
    await fleet.collect()
    story = DemoStory(fleet.scenario, fleet.clock)
    fleet.app.state.demo = story
    async with fleet.client() as client:
        status = (await client.get("/")).text
        gateway = next(iter(fleet.agent.correlator.state.gateways))
        resource = (await client.get(f"/resources{gateway}")).text
    for page in (status, resource):
        assert 'id="demo-banner"' in page and f"<strong>{fleet.scenario.name}</strong>" in page
        assert "Progress:" in page and "The scenario has ended" not in page
    fleet.clock.advance(fleet.scenario.duration_seconds + 1)
    async with fleet.client() as client:
        ended = (await client.get("/")).text
    assert 'id="demo-ended"' in ended and "vpnwatch demo" in ended
    fleet.app.state.demo = None
    async with fleet.client() as client:
        assert 'id="demo-banner"' not in (await client.get("/")).text
