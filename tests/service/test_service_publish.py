"""What the agent process of `vpnwatch run` publishes to its front (`runtime/child.py`), here
driven in this process against the emulator: a publication every 0.1 s, the event series of
`/metrics` rendered again only once they changed, at most once a second."""

from __future__ import annotations

import asyncio
import contextlib

from service_helpers import Fleet

from vpnwatch.runtime import child
from vpnwatch.runtime.channel import FleetMetrics, Publication
from vpnwatch.service.metrics import EVENTS_EVERY_SECONDS


class Recorder:
    """Stands in for the channel to the front: keeps what is sent."""

    def __init__(self) -> None:
        self.publications: list[Publication] = []

    async def send(self, message: object) -> None:
        if isinstance(message, Publication):
            self.publications.append(message)
        else:
            assert isinstance(message, FleetMetrics), message


def renderings(publications: list[Publication]) -> int:
    """How many times the event series were rendered: a rendering is a new bytes object."""
    events = [p.metrics_events for p in publications]
    assert all(e is not None for e in events)
    return len({id(e) for e in events})


def requests_counted(events: bytes) -> float:
    prefix = b'vpnwatch_azure_requests_total{code="200",operation="test",subscription="s"} '
    for line in events.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    return 0.0


async def test_publications_render_the_event_series_once_they_changed_at_most_once_a_second(
    fleet: Fleet,
):
    await fleet.collect()
    async with fleet.client() as client:  # a scrape: the fleet body publications may carry
        assert (await client.get("/metrics")).status_code == 200
    channel = Recorder()
    loop = asyncio.get_running_loop()
    publishing = asyncio.create_task(
        child._publish(
            channel,  # type: ignore[arg-type]
            fleet.app.state.read_models,
            fleet.metrics,
            asyncio.Event(),
        )
    )

    async def requests() -> None:  # collection under way: an Azure request every 10 ms
        while True:
            fleet.metrics.on_request("test", 200, 0.01, None, subscription="s")
            await asyncio.sleep(0.01)

    busy = asyncio.create_task(requests())
    try:
        started = loop.time()
        await asyncio.sleep(2.5 * EVENTS_EVERY_SECONDS)
        busy.cancel()
        elapsed = loop.time() - started
        during = list(channel.publications)
        await asyncio.sleep(2 * EVENTS_EVERY_SECONDS)  # nothing changes
    finally:
        busy.cancel()
        publishing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await publishing
    assert len(during) >= 15, len(during)  # every 0.1 s
    # changed all the time, rendered at most once a second (at about 0, 1 and 2 s)
    assert 2 <= renderings(during) <= 1 + elapsed // EVENTS_EVERY_SECONDS, renderings(during)
    counts = [requests_counted(p.metrics_events or b"") for p in during]
    assert counts == sorted(counts) and counts[0] < counts[-1], counts  # the new ones show
    quiet = channel.publications[len(during) :]
    assert len(quiet) >= 10, len(quiet)
    # the last rendering of the busy stretch, then one with the requests made since, then none
    assert renderings(quiet) <= 2, renderings(quiet)
    assert quiet[-1].metrics_events is quiet[-5].metrics_events
    assert requests_counted(quiet[-1].metrics_events or b"") > counts[-1]
