"""Headless Chromium for the page tests: a person's view of what the service renders.

`offline=True` sends every request that is not for loopback to a closed loopback port (Chromium
never proxies loopback), so a page that needs a CDN or any other address fails to load it, as on
a monitoring host without internet.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (apt-get install -y --no-install-recommends chromium)",
)


def _closed_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def chromium(
    profile: Path, *args: str, offline: bool = True, wait_ms: int = 0
) -> tuple[int, bytes]:
    """Run headless Chromium with `args` (`--dump-dom URL`, `--screenshot=... URL`); returns the
    exit code and stdout. `wait_ms` lets a page's scripts run that long before the dump."""
    assert CHROMIUM is not None
    options = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        f"--user-data-dir={profile}",
    ]  # fmt: skip
    if offline:
        options.append(f"--proxy-server=http://127.0.0.1:{_closed_loopback_port()}")
    if wait_ms:
        options.append(f"--virtual-time-budget={wait_ms}")
    process = await asyncio.create_subprocess_exec(
        CHROMIUM, *options, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        out, _ = await asyncio.wait_for(process.communicate(), timeout=90)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    return process.returncode or 0, out
