"""Fixtures for the service tests (helpers in service_helpers.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from service_helpers import SERVICE_SCENARIO, Fleet, open_fleet

from vpnwatch.emulator import load_scenario


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[Fleet]:
    """The shipped `quiet` scenario: everything up."""
    async with open_fleet(load_scenario("quiet"), tmp_path) as opened:
        yield opened


@pytest.fixture
async def estate(tmp_path: Path) -> AsyncIterator[Fleet]:
    """tests/service/scenarios/service.yaml: two regions, BGP, ExpressRoute, two faults."""
    async with open_fleet(load_scenario(str(SERVICE_SCENARIO)), tmp_path) as opened:
        yield opened
