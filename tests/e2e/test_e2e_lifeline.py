"""The agent process of `vpnwatch run` dies with its front and removes the private directory
of its socket on its way out (`runtime/lifeline.py`), whichever way it learns that the front is
gone: the lifeline pipe closing, or (Linux) the kernel's signal when its parent dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_helpers import gone, wait_for

# Stands in for the agent process: arms the lifeline, listens on its socket, waits.
AGENT = """
import os, socket, sys, time
from vpnwatch.runtime.lifeline import die_with_parent
parent, lifeline, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
die_with_parent(parent, lifeline, path)
listener = socket.socket(socket.AF_UNIX)
listener.bind(path)
listener.listen()
print(os.getpid(), flush=True)
time.sleep(60)
"""

# Stands in for the front: starts the agent with the lifeline's read end, then waits.
FRONT = """
import os, subprocess, sys, time
lifeline = int(sys.argv[1])
subprocess.Popen(
    [sys.executable, "-c", sys.argv[3], str(os.getpid()), str(lifeline), sys.argv[2]],
    pass_fds=(lifeline,),
)
os.close(lifeline)
time.sleep(60)
"""


def private_directory(tmp_path: Path) -> Path:
    directory = tmp_path / "vpnwatch-test"
    directory.mkdir(mode=0o700)
    return directory / "agent.sock"


def test_the_lifeline_closing_ends_the_agent_process_and_its_socket_directory(tmp_path: Path):
    socket_path = private_directory(tmp_path)
    read, write = os.pipe()
    agent = subprocess.Popen(
        [sys.executable, "-c", AGENT, str(os.getpid()), str(read), str(socket_path)],
        pass_fds=(read,),
        stdout=subprocess.PIPE,
        text=True,
    )
    os.close(read)
    try:
        assert agent.stdout is not None
        assert int(agent.stdout.readline()) == agent.pid
        assert socket_path.is_socket()
        os.close(write)  # the front is gone
        assert agent.wait(timeout=5) == 1
        assert not socket_path.parent.exists()
    finally:
        agent.kill()
        agent.wait()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_the_kernel_signal_ends_the_agent_process_and_its_socket_directory(tmp_path: Path):
    """The lifeline stays open here (this test holds its write end): only the signal the
    kernel sends when the parent dies can end the agent."""
    socket_path = private_directory(tmp_path)
    read, write = os.pipe()
    front = subprocess.Popen(
        [sys.executable, "-c", FRONT, str(read), str(socket_path), AGENT],
        pass_fds=(read,),
        stdout=subprocess.PIPE,
        text=True,
    )
    os.close(read)
    agent = 0
    try:
        assert front.stdout is not None
        agent = int(front.stdout.readline())
        assert socket_path.is_socket()
        front.kill()
        front.wait()
        wait_for("the agent process to be gone", lambda: gone(agent), 5.0)
        wait_for("its socket directory to be removed", lambda: not socket_path.parent.exists(), 5.0)
    finally:
        os.close(write)
        front.kill()
        front.wait()
        if agent and not gone(agent):
            os.kill(agent, signal.SIGKILL)
