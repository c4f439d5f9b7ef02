"""The agent process never outlives its front, and leaves no socket directory behind.

A `vpnwatch run` restarted after its front was killed must never run beside an orphaned agent
writing the same store. Two ways tell the child that its front is gone, and either ends it at
once (the same fate as a kill -9 of the whole program: every step is already in the store):
on Linux the kernel sends it `SIGHUP` when its parent dies (`prctl(PR_SET_PDEATHSIG)`), and
everywhere a watchdog thread reads a pipe whose only writer is the front and sees end-of-file.
A thread, not a task: it works while the agent's loop is busy or stuck.

On its way out the child removes its socket and the private directory the front made for it:
a front killed with SIGKILL cannot. That is why the kernel's signal is not SIGKILL, which would
leave the child no moment to do so.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import threading

log = logging.getLogger("vpnwatch.runtime")

_PR_SET_PDEATHSIG = 1
PARENT_DIED = signal.SIGHUP  # the child runs in a session of its own: no terminal sends it


def die_with_parent(parent_pid: int, lifeline_fd: int, socket_path: str) -> None:
    """Arm both (from the main thread, before any other starts); exits at once when the parent
    is already gone."""
    signal.signal(PARENT_DIED, lambda signum, frame: _orphaned(socket_path))
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, PARENT_DIED, 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    if os.getppid() != parent_pid:  # the parent died before the line above
        _orphaned(socket_path)
    threading.Thread(
        target=_watch, args=(lifeline_fd, socket_path), name="vpnwatch-lifeline", daemon=True
    ).start()


def remove_socket(socket_path: str) -> None:
    """The socket, then its directory (removed only when empty: nothing else is ever lost)."""
    with contextlib.suppress(OSError):
        os.unlink(socket_path)
    with contextlib.suppress(OSError):
        os.rmdir(os.path.dirname(socket_path))


def _orphaned(socket_path: str) -> None:
    remove_socket(socket_path)
    os._exit(1)


def _watch(fd: int, socket_path: str) -> None:
    while True:
        try:
            data = os.read(fd, 1)
        except InterruptedError:
            continue
        except OSError:
            data = b""
        if not data:
            _orphaned(socket_path)  # the front is gone
