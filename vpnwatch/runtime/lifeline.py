"""The agent process never outlives its front.

A `vpnwatch run` restarted after its front was killed must never run beside an orphaned agent
writing the same store. On Linux the kernel kills the child with its parent
(`prctl(PR_SET_PDEATHSIG, SIGKILL)`, the same fate as a kill -9 of the whole program: every
step is already in the store); everywhere, a watchdog thread reads a pipe whose only writer is
the front and ends the process when it reaches end-of-file. A thread, not a task: it works
while the agent's loop is busy or stuck.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading

log = logging.getLogger("vpnwatch.runtime")

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int, lifeline_fd: int) -> None:
    """Arm both; exits at once when the parent is already gone."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    if os.getppid() != parent_pid:  # the parent died before the line above
        os._exit(1)
    threading.Thread(
        target=_watch, args=(lifeline_fd,), name="vpnwatch-lifeline", daemon=True
    ).start()


def _watch(fd: int) -> None:
    while True:
        try:
            data = os.read(fd, 1)
        except InterruptedError:
            continue
        except OSError:
            data = b""
        if not data:
            os._exit(1)  # the front is gone
