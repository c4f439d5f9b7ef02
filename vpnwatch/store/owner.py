"""One agent per store: an exclusive lock on a file beside it, held while the agent runs.

Two `vpnwatch run` on one store would both poll, correlate and deliver, and page everyone twice.
The lock is `flock(2)` on `<store>.lock`, so the kernel drops it when the last process holding
it ends, a kill -9 included. `vpnwatch run`'s front takes it and the agent process inherits it,
so it stays held until both are gone; a restart right after a kill waits up to `WAIT_SECONDS`
for the killed agent process to finish dying before it gives up with one line.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from vpnwatch.store.connection import MEMORY
from vpnwatch.store.errors import StoreError

WAIT_SECONDS = 10.0
RETRY_SECONDS = 0.1


def take(path: str | Path, wait_seconds: float = WAIT_SECONDS) -> int | None:
    """Lock the store at `path` for this process (and the children it passes the descriptor
    to); returns the lock's file descriptor, for `release`. None for an in-memory store, or
    where the lock file cannot be made."""
    where = str(path)
    if where == MEMORY:
        return None
    lock_path = f"{where}.lock"
    try:
        Path(lock_path).parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        # Where no lock can be made, no store can be either (SQLite writes its WAL beside the
        # file): opening the store says what is wrong with the path, in the store's own words.
        return None
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = _holder(fd)
                os.close(fd)
                raise StoreError(
                    f"the store {where} is in use by another vpnwatch{holder}: "
                    "one store serves one agent (give each its own store.path)"
                ) from None
            time.sleep(RETRY_SECONDS)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def release(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


def _holder(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        pid = int(os.pread(fd, 32, 0).decode().strip())
        return f" (process {pid})"
    return ""
