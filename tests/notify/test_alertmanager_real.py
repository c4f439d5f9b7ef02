"""vpnwatch's alerts through a real Alertmanager (Debian's prometheus-alertmanager, started here on
127.0.0.1) to a loopback webhook: one alert per root incident with its labels, re-sent while
open, and resolved when vpnwatch resolves it. Two Alertmanagers (an HA pair without gossip)
both get every alert."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import yaml
from incidents_helpers import T0, resolved, zone_outage
from notify_helpers import Answer, CaptureServer

from vpnwatch.clock import ManualClock
from vpnwatch.notify.pipeline import Notifications
from vpnwatch.notify.settings import NotifySettings
from vpnwatch.store import Store

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")

pytestmark = pytest.mark.skipif(
    ALERTMANAGER is None,
    reason="Alertmanager not installed (Debian: apt-get install prometheus-alertmanager)",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def alertmanager(tmp_path: Path, name: str, webhook: str) -> AsyncIterator[str]:
    config = {
        "route": {
            "receiver": "hook",
            "group_by": ["incident"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {"name": "hook", "webhook_configs": [{"url": webhook, "send_resolved": True}]}
        ],
    }
    path = tmp_path / f"{name}.yml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    assert ALERTMANAGER is not None
    process = subprocess.Popen(
        [
            ALERTMANAGER,
            f"--config.file={path}",
            f"--storage.path={tmp_path / name}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as client:
            deadline = time.monotonic() + 15
            while True:
                try:
                    if (await client.get(f"{base}/-/ready", timeout=1)).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.poll() is None, "Alertmanager exited"
                assert time.monotonic() < deadline, "Alertmanager did not become ready"
                await asyncio.sleep(0.05)
        yield base
    finally:
        process.kill()
        process.wait(timeout=10)


async def wait_for(what: str, probe, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_alerts_go_through_a_real_alertmanager_to_a_webhook(tmp_path: Path) -> None:
    async with (
        CaptureServer(lambda r, n: Answer(200, "")) as hook,
        alertmanager(tmp_path, "am1", f"{hook.url}/am1") as am1,
        alertmanager(tmp_path, "am2", f"{hook.url}/am2") as am2,
    ):
        clock = ManualClock(epoch=T0)
        settings = NotifySettings(
            receivers=[{"name": "am", "kind": "alertmanager", "url": f"{am1}, {am2}",
                        "resend_seconds": 1}],
            group_wait_seconds=0,
        )  # fmt: skip
        with Store.open(tmp_path / "store.sqlite3") as store:
            notify = Notifications(settings, store, clock)
            parent, children = zone_outage()
            everything = [parent, *children]

            async def step(changed, open_):
                plan = notify.plan(changed, open_)
                store.apply(
                    incidents=changed, notifications=plan.entries, notification_states=plan.states
                )
                notify.committed(plan)
                assert await notify.drain(timeout=10)

            await notify.start()
            try:
                await step(everything, everything)

                def firing(path: str):
                    return [
                        r.json() for r in hook.requests
                        if r.path == path and r.json()["status"] == "firing"
                    ]  # fmt: skip

                for path in ("/am1", "/am2"):
                    (message, *_) = await wait_for(
                        f"a firing alert from {path}", lambda p=path: firing(p)
                    )
                    (alert,) = message["alerts"]
                    labels = alert["labels"]
                    assert labels["alertname"] == "VpnwatchIncident"
                    assert (labels["type"], labels["severity"]) == ("zone_outage", "critical")
                    assert (labels["region"], labels["zone"]) == ("westeurope", "2")
                    assert "gw-a" in alert["annotations"]["description"]
                    assert alert["startsAt"].startswith("2026-05-02T01:00:00")
                am_alerts = httpx.get(f"{am1}/api/v2/alerts").json()
                assert len(am_alerts) == 1  # the zone outage; its gateways are in its description

                await asyncio.sleep(1.1)
                await step([], everything)  # an open incident is re-sent (endsAt moves on)

                for incident in everything:
                    resolved(incident, 300)
                await step(everything, [])

                def resolved_at(path: str):
                    return [
                        r.json() for r in hook.requests
                        if r.path == path and r.json()["status"] == "resolved"
                    ]  # fmt: skip

                for path in ("/am1", "/am2"):
                    (message, *_) = await wait_for(
                        f"the resolved alert from {path}", lambda p=path: resolved_at(p)
                    )
                    assert message["alerts"][0]["endsAt"].startswith("2026-05-02T01:05:00")
            finally:
                await notify.stop()
            sent, _ = store.list_notifications(limit=100)
    assert [r.event for r in reversed(sent)][:1] == ["trigger"]
    assert "resolve" in [r.event for r in sent]
    assert sum(1 for r in sent if r.event == "trigger") >= 2  # the first send and a re-send
