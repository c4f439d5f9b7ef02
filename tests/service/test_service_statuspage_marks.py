"""What the status page's header and incident list say, in headless Chromium: a full outage reads
critical whatever its incident's severity, the header shows the worst open root incident, a
silenced incident is marked as not sent (on the status page and its own page), and the demo
shows what its on-call receiver got."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from browser import chromium, needs_chromium
from service_helpers import SERVICE_SCENARIO, open_fleet, run_until

from vpnwatch.emulator import load_scenario
from vpnwatch.notify import demo_receiver
from vpnwatch.notify.settings import NotifySettings
from vpnwatch.service.app import running
from vpnwatch.service.demo import DemoStory

FAILOVER_AT = 120  # unplanned-failover.yaml: every connection down for 45 s from 120 s


class _Page(HTMLParser):
    """The text of each element with an id or a class, and every link as (href, text)."""

    def __init__(self) -> None:
        super().__init__()
        self.by_id: dict[str, str] = {}
        self.by_class: dict[str, list[str]] = {}
        self.links: list[tuple[str, str]] = []
        self._open: list[tuple[str, str | None, list[str], list[str]]] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("meta", "br", "link", "img", "input"):
            return
        a = dict(attrs)
        self._open.append((tag, a.get("id"), (a.get("class") or "").split(), []))
        if tag == "a":
            self._open[-1][3].append("\0" + (a.get("href") or ""))

    def handle_endtag(self, tag):
        while self._open:
            name, ident, classes, parts = self._open.pop()
            text = " ".join("".join(p for p in parts if not p.startswith("\0")).split())
            if ident:
                self.by_id[ident] = text
            for c in classes:
                self.by_class.setdefault(c, []).append(text)
            if name == "a":
                self.links.append((parts[0][1:], text))
            if self._open:
                self._open[-1][3].append(text + " ")
            if name == tag:
                break

    def handle_data(self, data):
        if self._open:
            self._open[-1][3].append(data)


async def _render(profile: Path, url: str) -> _Page:
    code, dom = await chromium(profile, "--dump-dom", url)
    assert code == 0
    page = _Page()
    page.feed(dom.decode())
    return page


@needs_chromium
async def test_a_full_outage_reads_critical_even_while_its_failover_is_info(tmp_path: Path):
    async with open_fleet(load_scenario("unplanned-failover"), tmp_path) as fleet:
        await run_until(fleet, FAILOVER_AT + 30)
        (failover,) = [i for i in fleet.agent.correlator.open_incidents()]
        assert failover.type.value == "failover" and failover.severity.value == "info"
        async with running(fleet.app) as base_url:
            during = await _render(tmp_path / "profile", base_url + "/")
            await run_until(fleet, 60)  # the tunnels are back on the other instance at 165 s
            after = await _render(tmp_path / "profile", base_url + "/")
    assert during.by_id["headline-severity"] == "critical"
    assert during.by_id["overall-status"] == "down"
    assert "vpngw-core-weu" in during.by_id["full-outage"]
    assert "all 3 connections down" in during.by_id["full-outage"]
    assert any(
        text == "vpngw-core-weu" and href.startswith("/resources/") for href, text in during.links
    )
    # the incident itself still says info: the header is what changed
    assert ("#incidents", "open incidents: 0 critical, 0 warning, 1 info") in during.links
    # restored: the failover is an unplanned warning now, and nothing is fully down
    assert "full-outage" not in after.by_id
    assert after.by_id["headline-severity"] == "warning"
    assert after.by_id["overall-status"] == "degraded"


@needs_chromium
async def test_silenced_incidents_are_marked_and_the_demo_shows_what_on_call_got(
    tmp_path: Path,
):
    scenario = load_scenario(str(SERVICE_SCENARIO))
    silence = {
        "name": "rotterdam carrier works",
        "matchers": [{"name": "type", "value": "tunnel_down"}],
        "start": "2025-12-31T00:00:00Z",
        "end": "2026-01-02T00:00:00Z",
    }
    inbox = demo_receiver.Inbox()
    async with demo_receiver.serving(secret="s3cret", inbox=inbox) as url:
        notify = NotifySettings(
            receivers=demo_receiver.demo_receivers(url, "s3cret"),
            silences=[silence],
            group_wait_seconds=0,
            link_base_url="http://127.0.0.1:1",
        )
        async with open_fleet(scenario, tmp_path / "fleet", notify=notify) as fleet:
            inbox.clock = fleet.clock  # the demo's one clock, as `vpnwatch demo` wires it
            fleet.app.state.demo = DemoStory(scenario, fleet.clock, inbox)
            await run_until(fleet, 140)  # rotterdam's tunnels from 60 s, the failover from 120 s
            assert await fleet.agent.notifications.drain(timeout=20)
            opened = {i.type.value: i for i in fleet.agent.correlator.open_incidents()}
            tunnel, failover = opened["tunnel_down"], opened["failover"]
            assert tunnel.parent_key is None and failover.parent_key is None
            async with running(fleet.app) as base_url:
                status = await _render(tmp_path / "profile", base_url + "/")
                page = await _render(tmp_path / "profile", f"{base_url}/incidents/{tunnel.id}")
                other = await _render(tmp_path / "profile", f"{base_url}/incidents/{failover.id}")

    # the silenced incident is marked on the status page, the other one is not
    marked = status.by_class.get("silenced", [])
    assert len(marked) == 1 and tunnel.title in marked[0]
    assert "not sent: silence config-0 “rotterdam carrier works” by config" in marked[0]
    assert not any(failover.title in m for m in marked)
    # ... and on its own page, with the silence that holds it
    assert "held back by silence config-0 “rotterdam carrier works”" in page.by_id["silenced"]
    assert "silenced" in page.by_class.get("silenced-mark", [""])[0]
    assert "silenced" not in other.by_id

    # the demo's receiver got the failover (webhooks get every severity), never the silenced one
    received = status.by_id["oncall"]
    assert failover.title in received
    assert tunnel.title not in received
    assert inbox.total >= 1 and all(m.text != tunnel.title for m in inbox.latest())
    assert (f"/incidents/{failover.id}", failover.title) in status.links
