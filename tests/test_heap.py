"""The cycle collector's full passes at times vpnwatch chooses (`vpnwatch.heap`)."""

from __future__ import annotations

import asyncio
import gc
import weakref

from vpnwatch.heap import freeze_round, grown, keep_frozen


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def _cycle() -> weakref.ref[Node]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_a_round_freezes_survivors_and_the_next_frees_cycles_that_died_frozen() -> None:
    try:
        kept = [Node() for _ in range(10)]
        frozen, pause = freeze_round()
        assert frozen >= len(kept)
        assert pause >= 0

        holder = [_cycle()]  # the cycle is alive while the round runs: it is frozen with it
        alive = holder[0]
        strong = alive()
        freeze_round()
        del strong
        gc.collect()
        assert alive() is not None, "a frozen cycle is skipped by ordinary collections"

        freeze_round()
        assert alive() is None, "the next round unfreezes first and collects it"
    finally:
        gc.unfreeze()


async def test_keep_frozen_runs_rounds_and_unfreezes_when_cancelled() -> None:
    try:
        task = asyncio.create_task(keep_frozen(check=0.01, interval=0.02))
        for _ in range(100):
            await asyncio.sleep(0.01)
            if gc.get_freeze_count():
                break
        assert gc.get_freeze_count() > 0
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()


def test_a_grown_old_generation_asks_for_a_round() -> None:
    try:
        freeze_round()
        assert not grown(), "nothing built since the round"
        built = [[Node()] for _ in range(30_000)]  # containers the collector tracks
        gc.collect()  # promotes them to the old generation, unfrozen
        assert grown()
        freeze_round()
        assert not grown()
        assert built
    finally:
        gc.unfreeze()
