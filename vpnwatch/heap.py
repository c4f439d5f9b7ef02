"""Keeping the cycle collector's full passes off the answers.

A watched fleet is a few hundred thousand long-lived objects (entities, indexes, incidents,
the SDK's clients). CPython's cycle collector walks all of them on each full (generation 2)
pass, holding the interpreter throughout: 70-170 ms for the large fleet's correlator state
alone and 300-400 ms for the whole agent, at moments set by allocation counts (18 of them in
half a minute of the large fleet's polling at speed 4). The agent's loop stops meanwhile.

`scheduled_full_collections` turns the automatic full passes off (the young generations are
still collected as usual: a few milliseconds each) and takes one full pass itself every
`interval` seconds, so the pause comes once in that interval instead of many times. Cyclic
garbage that reaches the old generation waits for the next scheduled pass.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

log = logging.getLogger("vpnwatch.heap")

FULL_COLLECTION_EVERY_SECONDS = 300.0
# The old generation is collected after this many collections of the middle one: never, in
# practice (Python's default is 10).
NO_AUTOMATIC_FULL_PASSES = 1_000_000_000


def full_collection() -> float:
    """One full pass of the cycle collector; returns its pause in seconds."""
    started = time.perf_counter()
    gc.collect()
    return time.perf_counter() - started


async def scheduled_full_collections(interval: float = FULL_COLLECTION_EVERY_SECONDS) -> None:
    """Until cancelled, the cycle collector's full passes come only from here, every `interval`
    seconds. Cancelling puts the collector's own thresholds back."""
    young, middle, old = gc.get_threshold()
    gc.set_threshold(young, middle, NO_AUTOMATIC_FULL_PASSES)
    try:
        while True:
            await asyncio.sleep(interval)
            pause = full_collection()
            log.debug("heap: full collection of %.0f ms", pause * 1000)
    finally:
        gc.set_threshold(young, middle, old)
