"""A full disk: the incident opened meanwhile reaches the store once space returns.

The store sits on a small tmpfs mounted for the test (root only), filled to the last byte while
a tunnel goes down. Nothing is mocked: SQLite itself answers "database or disk is full".
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from vpnwatch.agent import Agent
from vpnwatch.clock import ManualClock
from vpnwatch.emulator import Emulator
from vpnwatch.emulator.scenario import parse_scenario, scenario_path
from vpnwatch.incidents import IncidentType
from vpnwatch.replay import EMULATOR_TOKEN, REPLAY_EPOCH, emulator_settings
from vpnwatch.service.health import readiness
from vpnwatch.store import Store


@contextlib.contextmanager
def small_tmpfs(where: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill needs root; run as root to test a full disk")
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "vpnwatch-full-disk", str(where)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the file system has no byte left."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 512, 64, 1):
            while True:
                try:
                    os.write(fd, b"\0" * size)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    break
    finally:
        os.close(fd)
    return filler


async def test_an_incident_opened_while_the_disk_is_full_is_written_once_it_is_not(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    raw = yaml.safe_load(scenario_path("monitoring-blind").read_text())
    raw.update(
        name="full-disk",
        timeline=[{"at": 60, "kind": "tunnel_down", "connection": "cn-hub-weu-prague"}],
        expect=[],
    )
    scenario = parse_scenario(raw, source="full-disk")
    clock = ManualClock(REPLAY_EPOCH)
    with small_tmpfs(tmp_path / "disk") as disk:
        async with Emulator(scenario, clock=clock, port=0, token=EMULATOR_TOKEN) as emu:
            path = str(disk / "vpnwatch.sqlite3")
            settings = emulator_settings(emu.base_url, scenario, epoch=clock.now(), store_path=path)
            agent = Agent(settings, clock=clock)
            await agent.open()
            try:
                await agent.run_due()
                assert readiness(agent).ready
                filler = fill(disk)
                caplog.clear()
                with caplog.at_level(logging.INFO, logger="vpnwatch"):
                    for _ in range(30):  # 60 s to 210 s: the tunnel goes down, an incident opens
                        clock.advance(5)
                        await agent.run_due()
                    opened = [
                        i for i in agent.correlator.open_incidents()
                        if i.type is IncidentType.TUNNEL_DOWN
                    ]  # fmt: skip
                    assert len(opened) == 1
                    assert not agent.store_writable
                    ready = readiness(agent)
                    assert not ready.ready
                    assert any(c.name == "store_writable" and not c.ok for c in ready.checks)
                    with Store.open(path) as reader:
                        assert reader.get_incident(opened[0].id) is None
                    unwritable = [r for r in caplog.records if "store unwritable" in r.message]
                    assert len(unwritable) == 1  # one line per state change, not per attempt
                    assert all(r.exc_info is None for r in caplog.records)  # no tracebacks

                    filler.unlink()
                    clock.advance(5)
                    await agent.run_due()
                    assert agent.store_writable and readiness(agent).ready
                    again = [r for r in caplog.records if "store writable again" in r.message]
                    assert len(again) == 1
            finally:
                await agent.stop()
        with Store.open(path) as reader:
            stored = reader.get_incident(opened[0].id)
            assert stored is not None and stored.is_open
            assert len(stored.timeline) >= 1
