"""Real SDK clients against the emulator on loopback: the fixtures every collector test shares."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from collect_helpers import TOKEN, TWO_SUBSCRIPTIONS, RecordingObserver, emulator_settings

from vpnwatch.clock import ManualClock
from vpnwatch.collect.clients import AzureClients
from vpnwatch.emulator import Emulator, load_scenario


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def emulator(clock: ManualClock) -> AsyncIterator[Emulator]:
    """The two-subscription scenario with two items per page, so every list follows nextLink."""
    async with Emulator(
        load_scenario(TWO_SUBSCRIPTIONS), clock=clock, port=0, tls=False, token=TOKEN, page_size=2
    ) as emu:
        yield emu


@pytest.fixture
def observer() -> RecordingObserver:
    return RecordingObserver()


@pytest.fixture
async def clients(emulator: Emulator, observer: RecordingObserver) -> AsyncIterator[AzureClients]:
    async with AzureClients(emulator_settings(emulator.base_url), observer=observer) as made:
        yield made
