"""One agent per store: the lock beside it is exclusive, waits for a dying holder, and is
dropped by the kernel when its holder ends."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from vpnwatch.store import MEMORY, StoreError, owner


def test_a_second_holder_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    store = tmp_path / "state" / "vpnwatch.sqlite3"
    first = owner.take(store)
    try:
        started = time.monotonic()
        with pytest.raises(StoreError) as refused:
            owner.take(store, wait_seconds=0.3)
        assert time.monotonic() - started >= 0.3
        assert f"(process {os.getpid()})" in str(refused.value)
        assert str(store) in str(refused.value)
    finally:
        owner.release(first)
    owner.release(owner.take(store, wait_seconds=0))  # free again once released


def test_a_waiting_holder_gets_the_lock_when_the_first_lets_go(tmp_path: Path) -> None:
    store = tmp_path / "vpnwatch.sqlite3"
    first = owner.take(store)
    threading.Timer(0.3, owner.release, args=(first,)).start()
    second = owner.take(store, wait_seconds=5)
    assert second is not None
    owner.release(second)


def test_the_lock_ends_with_the_process_that_held_it(tmp_path: Path) -> None:
    store = tmp_path / "vpnwatch.sqlite3"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from vpnwatch.store import owner; owner.take(sys.argv[1]); "
            "print('held', flush=True); time.sleep(60)",
            str(store),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreError):
            owner.take(store, wait_seconds=0)
        holder.kill()  # a kill -9: nothing of the holder's runs to unlock
        holder.wait()
        owner.release(owner.take(store, wait_seconds=2))
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_an_in_memory_store_has_no_lock() -> None:
    assert owner.take(MEMORY) is None
    owner.release(None)


def test_no_lock_where_no_store_can_be_made_either(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    assert owner.take(blocker / "vpnwatch.sqlite3") is None  # the store's own open says why
