"""The front process of `vpnwatch run`: binds the service's address, starts the agent process,
serves `Front`, and stops or follows the child.

- Start-up: the port is bound first (a port in use is one line, no agent started), then the
  store is locked (`store.owner`: a second agent on the same store is one line), then the
  child is started and sent `Boot`; a child that cannot start answers `StartFailed`, which
  becomes the one-line `StartupError` the CLI prints.
- SIGTERM or SIGINT on the front: the server stops taking requests, the child gets SIGTERM and
  stops its agent (store closed, outbox kept); then the front exits. The child runs in a
  session of its own, so a terminal's Ctrl-C reaches only the front, which passes it on.
- The child exits on its own (a crash, a kill): the front stops and `serve` raises
  `AgentExited`, one line, non-zero exit; the supervisor (systemd, Kubernetes) restarts both.
- The front killed with SIGKILL: the child dies too, and removes the socket's private
  directory on its way out (`lifeline.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from vpnwatch.clock import Clock
from vpnwatch.config import Settings
from vpnwatch.runtime.channel import (
    Boot,
    Channel,
    FleetMetrics,
    Publication,
    Scraped,
    Started,
    StartFailed,
)
from vpnwatch.runtime.front import Front, Latest
from vpnwatch.runtime.proxy import ChildProxy
from vpnwatch.runtime.server import QuietServer
from vpnwatch.service.protocol import uvicorn_config
from vpnwatch.startup import StartupError, startup_line
from vpnwatch.store import StoreError, owner

log = logging.getLogger("vpnwatch.runtime")

START_SECONDS = 600.0  # for the agent to start (its first discovery may page through ARM)
STOP_SECONDS = 20.0  # for the child to stop its agent after SIGTERM, before SIGKILL (inside
# the 30 s systemd and Kubernetes allow before they kill the front)
SOCKET_NAME = "agent.sock"
MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes


class AgentExited(Exception):
    """The agent process exited while the front was serving; the message says how."""


async def serve(settings: Settings, *, clock: Clock | None = None) -> None:
    """Run `vpnwatch run`: the front on `service.host:service.port`, the agent in a child
    process, until SIGTERM or SIGINT (also while the agent is still starting). `clock` is
    handed to the child's agent (the benchmark shares a scaled clock with its emulator)."""
    log.info("%s", startup_line(settings))
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per proxied request
    listener = _bind(settings.service.host, settings.service.port)
    try:
        store_lock = await asyncio.to_thread(owner.take, settings.store.path)
    except StoreError as exc:
        listener.close()
        raise StartupError(str(exc)) from exc
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    try:
        with listener, _private_directory() as directory:
            socket_path = str(directory / SOCKET_NAME)
            starting = asyncio.create_task(
                _AgentProcess.start(settings, clock, socket_path, store_lock)
            )
            stopped = asyncio.create_task(stopping.wait())
            await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not starting.done():  # stopped while the agent was starting: stop it
                starting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await starting
                return
            stopped.cancel()
            child = starting.result()
            try:
                await _front(settings, listener, child, socket_path, stopping)
            finally:
                await child.stop()
    finally:
        owner.release(store_lock)
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


async def _front(
    settings: Settings,
    listener: socket.socket,
    child: _AgentProcess,
    socket_path: str,
    stopping: asyncio.Event,
) -> None:
    latest = Latest()
    proxy = ChildProxy(socket_path)
    app = Front(latest, settings.service.auth, proxy, child.scraped)
    server = QuietServer(uvicorn_config(app, settings, lifespan="off"))
    receiving = asyncio.create_task(child.receive_into(latest), name="receive")
    exited = asyncio.create_task(child.wait(), name="child")
    stopped = asyncio.create_task(stopping.wait(), name="signals")
    stopped.add_done_callback(lambda _: setattr(server, "should_exit", True))
    serving = asyncio.create_task(server.serve(sockets=[listener]), name="uvicorn")
    try:
        await asyncio.wait({serving, exited}, return_when=asyncio.FIRST_COMPLETED)
        if exited.done() and not stopping.is_set():
            server.should_exit = True
            await serving
            raise AgentExited(f"the agent process exited unexpectedly ({child.how_it_ended()})")
        await serving
    finally:
        for task in (receiving, exited, stopped):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await receiving
        await proxy.aclose()


def _bind(host: str, port: int) -> socket.socket:
    """The service's listening socket, bound before the agent process starts (a port in use is
    one line). Made as asyncio makes its own, with the protocol named: asyncio switches Nagle's
    algorithm off only on sockets that say they are TCP, and with it on a keep-alive client
    waits ~40 ms (a delayed ACK) for each small answer."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise StartupError(
            f"the service did not start on {host}:{port}: {exc.strerror or exc}"
        ) from exc
    return sock


@contextlib.contextmanager
def _private_directory() -> Iterator[Path]:
    """A directory only this user may enter (0700), for the child's socket; under TMPDIR,
    or /tmp when that path would be too long for a socket. Removed here, or by the child when
    this process was killed (`lifeline.py`)."""
    directory = tempfile.mkdtemp(prefix="vpnwatch-")
    if len(directory) + len(SOCKET_NAME) + 1 > MAX_SOCKET_PATH:
        os.rmdir(directory)
        directory = tempfile.mkdtemp(prefix="vpnwatch-", dir="/tmp")
    try:
        yield Path(directory)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(directory, SOCKET_NAME))
        with contextlib.suppress(OSError):
            os.rmdir(directory)


class _AgentProcess:
    """The child process and the front's end of its channel and lifeline."""

    def __init__(
        self, process: asyncio.subprocess.Process, channel: Channel, lifeline: int
    ) -> None:
        self.process = process
        self.channel = channel
        self._lifeline = lifeline  # the pipe's write end: closed, the child's watchdog ends it

    @classmethod
    async def start(
        cls, settings: Settings, clock: Clock | None, socket_path: str, store_lock: int | None
    ) -> _AgentProcess:
        """Start the child; it inherits `store_lock`, so the store stays locked until both
        processes are gone (`store.owner`)."""
        ours, theirs = socket.socketpair()
        lifeline_read, lifeline_write = os.pipe()
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "vpnwatch.runtime.child",
                "--channel-fd", str(theirs.fileno()), "--lifeline-fd", str(lifeline_read),
                "--parent", str(os.getpid()), "--socket", socket_path,
                pass_fds=(theirs.fileno(), lifeline_read)
                + ((store_lock,) if store_lock is not None else ()),
                stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        finally:
            theirs.close()
            os.close(lifeline_read)
        child = cls(process, await Channel.open(ours), lifeline_write)
        try:
            await child._boot(settings, clock)
        except BaseException:
            await child.stop()
            raise
        return child

    async def _boot(self, settings: Settings, clock: Clock | None) -> None:
        await self.channel.send(Boot(settings, clock))
        try:
            reply = await asyncio.wait_for(self.channel.receive(), START_SECONDS)
        except (EOFError, ConnectionError):
            await self.process.wait()
            raise StartupError(
                f"the agent process exited before it started ({self.how_it_ended()})"
            ) from None
        except TimeoutError:
            raise StartupError(
                f"the agent process did not start within {START_SECONDS:.0f} s"
            ) from None
        if isinstance(reply, StartFailed):
            raise StartupError(reply.reason)
        assert isinstance(reply, Started), reply

    async def receive_into(self, latest: Latest) -> None:
        while True:
            try:
                message = await self.channel.receive()
            except (EOFError, ConnectionError):
                return
            if isinstance(message, Publication | FleetMetrics):
                latest.update(message)

    async def scraped(self) -> None:
        with contextlib.suppress(ConnectionError):
            await self.channel.send(Scraped())

    async def wait(self) -> int:
        return await self.process.wait()

    def how_it_ended(self) -> str:
        code = self.process.returncode
        if code is None:
            return "still running"
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"killed by {signal.Signals(-code).name}"
        return f"exit code {code}"

    async def stop(self) -> None:
        """SIGTERM, wait for the agent to stop, SIGKILL after `STOP_SECONDS`."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), STOP_SECONDS)
            except TimeoutError:
                log.error("the agent process did not stop within %.0f s: killed", STOP_SECONDS)
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()
        self.channel.close()
        with contextlib.suppress(OSError):
            os.close(self._lifeline)
