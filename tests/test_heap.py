"""The cycle collector's full passes at times vpnwatch chooses (`vpnwatch.heap`)."""

from __future__ import annotations

import asyncio
import gc
import weakref

from vpnwatch.heap import full_collection, scheduled_full_collections


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def _old_cycle() -> weakref.ref[Node]:
    """A cycle that reached the old generation alive, then became garbage."""
    a, b = Node(), Node()
    a.other, b.other = b, a
    gc.collect(1)  # survivors of a middle-generation pass move to the old one
    return weakref.ref(a)


async def test_full_passes_come_only_on_schedule_and_thresholds_come_back() -> None:
    before = gc.get_threshold()
    task = asyncio.create_task(scheduled_full_collections(interval=0.2))
    try:
        await asyncio.sleep(0)
        assert gc.get_threshold()[:2] == before[:2]
        assert gc.get_threshold()[2] > 10_000, "no automatic full pass"
        dead = _old_cycle()
        for _ in range(200):  # enough allocation for many young and middle passes
            [[Node()] for _ in range(1000)]
        assert dead() is not None, "an old-generation cycle waits for the scheduled pass"
        for _ in range(100):
            await asyncio.sleep(0.01)
            if dead() is None:
                break
        assert dead() is None, "the scheduled full pass frees it"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert gc.get_threshold() == before


def test_a_full_collection_frees_old_cycles_and_times_itself() -> None:
    dead = _old_cycle()
    pause = full_collection()
    assert dead() is None
    assert pause >= 0
