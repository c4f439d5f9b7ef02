"""The agent on a thread and event loop of its own, beside the HTTP service's.

Collection (the SDK building models from Azure's answers), correlation steps and notification
delivery all run on the agent's loop; the service's loop only answers. Everything that changes
agent state still runs on one thread, the agent's: the service reaches it through `call` (a
coroutine handed over with `asyncio.run_coroutine_threadsafe`) or reads what the agent
published (`vpnwatch.service.readmodels`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from vpnwatch.agent.core import Agent
from vpnwatch.tasks import cancel_and_wait

log = logging.getLogger("vpnwatch.agent")

T = TypeVar("T")

STOP_SECONDS = 30.0  # how long `stop` waits for the agent to stop (store closed) on its thread


class AgentThread:
    """Runs `agent` (started, then stopped) on a daemon thread with its own event loop."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._stopped: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._stop: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        """Start the thread and the agent on it; raises what `Agent.start` raised."""
        self._thread = threading.Thread(target=self._run, name="vpnwatch-agent", daemon=True)
        self._thread.start()
        await asyncio.wrap_future(self._started)

    async def stop(self) -> None:
        """Stop the agent on its loop (collectors, delivery, store), then end the thread."""
        loop, stop = self.loop, self._stop
        if loop is None or stop is None or self._thread is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop already closed
            loop.call_soon_threadsafe(stop.set)
        try:
            await asyncio.wait_for(asyncio.wrap_future(self._stopped), STOP_SECONDS)
        except TimeoutError:
            log.error("the agent did not stop within %.0f s", STOP_SECONDS)
        await asyncio.to_thread(self._thread.join, 5.0)

    def on_agent_loop(self) -> bool:
        """Whether the caller runs on the agent's own loop."""
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return False

    async def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the agent's loop and wait for its result on the caller's loop.
        Cancelling the caller cancels it there too."""
        if self.on_agent_loop():
            return await coroutine
        assert self.loop is not None, "agent thread not started"
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return await asyncio.wrap_future(future)

    def spawn(self, work: Callable[[], Awaitable[None]], name: str) -> None:
        """Run `work()` as a background task on the agent's loop until `stop`."""
        assert self.loop is not None, "agent thread not started"

        def create() -> None:
            task = asyncio.ensure_future(work())
            task.set_name(name)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        self.loop.call_soon_threadsafe(create)

    # --- on the agent's thread -----------------------------------------------------------------

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            for future in (self._started, self._stopped):
                if not future.done():
                    future.set_exception(exc)

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            await self.agent.start()
        except BaseException as exc:
            with contextlib.suppress(Exception):
                await self.agent.stop()
            self._started.set_exception(exc)
            self._stopped.set_result(None)
            return
        self._started.set_result(None)
        try:
            await self._stop.wait()
        finally:
            await cancel_and_wait(list(self._tasks))
            try:
                await self.agent.stop()
            finally:
                self._stopped.set_result(None)
