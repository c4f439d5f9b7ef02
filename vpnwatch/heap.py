"""Keeping the cycle collector's full passes off the answers.

A watched fleet is a few hundred thousand long-lived objects (entities, indexes, incidents,
the SDK's clients). CPython's cycle collector walks all of them on each full (generation 2)
pass, holding the interpreter throughout: 70-170 ms for the large fleet's correlator state
alone, longer with everything else in the process, and at a moment set by allocation counts.
Both event loops stop meanwhile, so those passes are what `/health` and `/livez` meet at p99.

`keep_frozen` freezes the long-lived heap (`gc.freeze`): later passes skip what is frozen, so
they walk only what was built since. It looks every `check` seconds and takes a round when the
unfrozen old generation has grown to a tenth of what is frozen (a first rotation of the fleet
is frozen as it is built, in a few rounds), and at least every `interval` seconds. A round
unfreezes what it froze last time (so cycles that became garbage since are found), collects
everything once, and freezes the survivors. What is frozen is still freed by reference
counting as usual; only cyclic garbage among it waits for the next round.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

log = logging.getLogger("vpnwatch.heap")

CHECK_SECONDS = 15.0
ROUND_AT_LEAST_EVERY_SECONDS = 3600.0
GROWTH_SHARE = 0.1  # of the frozen heap: an unfrozen old generation this large takes a round
GROWTH_AT_LEAST = 20_000  # objects: below this a full pass is short anyway


def freeze_round() -> tuple[int, float]:
    """Collect everything once, then freeze what survived. Returns (objects frozen, pause s)."""
    started = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count(), time.perf_counter() - started


def grown() -> bool:
    """Whether the old generation built since the last round is worth freezing."""
    unfrozen = len(gc.get_objects(generation=2))
    return unfrozen >= max(GROWTH_AT_LEAST, GROWTH_SHARE * gc.get_freeze_count())


async def keep_frozen(
    check: float = CHECK_SECONDS, interval: float = ROUND_AT_LEAST_EVERY_SECONDS
) -> None:
    """Take a `freeze_round` when the heap has `grown` (looked at every `check` seconds) and at
    least every `interval` seconds, until cancelled (which unfreezes, so a process that goes on
    afterwards collects as usual)."""
    last = time.monotonic()
    try:
        while True:
            await asyncio.sleep(check)
            if not grown() and time.monotonic() - last < interval:
                continue
            frozen, pause = freeze_round()
            last = time.monotonic()
            log.debug(
                "heap: %d objects frozen after a full collection of %.0f ms", frozen, pause * 1000
            )
    finally:
        gc.unfreeze()
