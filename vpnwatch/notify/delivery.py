"""Delivery: the stages every receiver passes through after the outbox.

For each receiver a worker takes the due rows (per incident only the oldest, so order holds per
incident while different incidents go in parallel, up to `delivery.concurrency`), asks the
receiver to send, and records the outcome in the store before taking more:
- delivered: done (kept as history until pruned);
- retry: next attempt after an exponential backoff with full jitter, never sooner than the
  service's `Retry-After`;
- give up, or still failing after `dead_letter_after_seconds`: a dead letter, visible in the API
  and /metrics, reported to `on_dead_letter`.
Delivery is at-least-once (a crash between the send and the record sends again) and the
receiver's dedup key makes that effectively once. Times are the wall clock.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import httpx

from vpnwatch.notify.message import Notification
from vpnwatch.notify.receiver import Delivered, GiveUp, Outcome, Receiver, Retry
from vpnwatch.notify.settings import DeliverySettings
from vpnwatch.store import Store, StoreError
from vpnwatch.store.outbox import OutboxRow
from vpnwatch.tasks import cancel_and_wait

log = logging.getLogger("vpnwatch.notify")

DeadLetter = Callable[[OutboxRow, str], Awaitable[None]]
Recovered = Callable[[str], Awaitable[None]]
IDLE_SECONDS = 30.0  # a worker with nothing due looks again at least this often
PRUNE_EVERY = 100  # deliveries between prunes of the delivered history
CONNECTIONS_PER_POOL = 4


@dataclass(slots=True)
class ReceiverStats:
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    last_error: str | None = None
    last_delivered_at: float | None = None


def backoff(attempt: int, settings: DeliverySettings, rng: random.Random) -> float:
    """Full jitter: uniform in (0, min(max, initial * 2^(attempt-1))]."""
    ceiling = min(
        settings.max_backoff_seconds, settings.initial_backoff_seconds * 2 ** (attempt - 1)
    )
    return max(0.001, rng.uniform(0, ceiling))


class Dispatcher:
    def __init__(
        self,
        store: Store,
        receivers: Mapping[str, Receiver],
        settings: DeliverySettings,
        *,
        on_dead_letter: DeadLetter | None = None,
        on_delivered: Recovered | None = None,
        wall: Callable[[], float] = time.time,
        seed: int | None = None,
    ) -> None:
        self.store = store
        self.receivers = dict(receivers)
        self.settings = settings
        self._on_dead = on_dead_letter
        self._on_delivered = on_delivered
        self.wall = self._wall = wall
        self._rng = random.Random(seed)
        self._wake = {name: asyncio.Event() for name in self.receivers}
        self._tasks: list[asyncio.Task[None]] = []
        self._clients: list[httpx.AsyncClient] = []
        self._turn = 0
        self.stats = {name: ReceiverStats() for name in self.receivers}
        self._since_prune = 0
        self.prune_every = PRUNE_EVERY
        self._inflight = 0
        self._paused_until: dict[str, float] = {}  # a receiver that said Retry-After

    async def start(self) -> None:
        # several small connection pools instead of one big one: httpcore's pool spends time
        # quadratic in its connections on every request, which at 64 in flight cost more CPU
        # than the sends themselves (bench/notify.py)
        shards = max(1, -(-self.settings.concurrency // CONNECTIONS_PER_POOL))
        limits = httpx.Limits(max_connections=CONNECTIONS_PER_POOL)
        tls = ssl.create_default_context()  # loading the CA bundle once, not once per pool
        self._clients = [
            httpx.AsyncClient(limits=limits, follow_redirects=False, verify=tls)
            for _ in range(shards)
        ]
        self._tasks = [
            asyncio.create_task(self._worker(name), name=f"notify:{name}")
            for name in self.receivers
        ]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []
        for client in self._clients:
            await client.aclose()
        self._clients = []

    def wake(self, receivers: set[str] | None = None) -> None:
        for name, event in self._wake.items():
            if receivers is None or name in receivers:
                event.set()

    async def pending(self) -> int:
        counts = await asyncio.to_thread(self.store.notification_counts)
        return sum(n for (_, status), n in counts.items() if status == "pending")

    async def drain(self, timeout: float) -> bool:
        """Wait until nothing is pending (True) or `timeout` seconds passed (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await self.pending() == 0 and self._inflight == 0:
                return True
            self.wake()
            await asyncio.sleep(0.05)
        return False

    # --- the worker --------------------------------------------------------------------------

    async def _worker(self, name: str) -> None:
        """Keep up to `concurrency` sends in flight, one per incident at most, and record what
        finished in one transaction per batch (an fsync each, not one per notification)."""
        receiver = self.receivers[name]
        wake = self._wake[name]
        limit = self.settings.concurrency
        sends: dict[asyncio.Task[Outcome], OutboxRow] = {}
        try:
            while True:
                wake.clear()
                next_at: float | None = None
                paused = self._paused_until.get(name, 0.0) - self._wall()
                try:
                    if paused <= 0 and len(sends) < limit:
                        busy = {row.incident_id for row in sends.values()}
                        rows = await asyncio.to_thread(
                            self.store.due_notifications, name, self._wall(), limit + len(sends)
                        )
                        for row in [r for r in rows if r.incident_id not in busy]:
                            if len(sends) >= limit:
                                break
                            task = asyncio.create_task(self._send(receiver, row))
                            sends[task] = row
                            busy.add(row.incident_id)
                    if not sends:
                        next_at = await asyncio.to_thread(self.store.next_notification_due, name)
                except StoreError as exc:
                    log.error("notifications for %s: the store failed (%s); retrying", name, exc)
                    next_at = self._wall() + 1.0
                except Exception:
                    log.exception("notifications for %s: unexpected failure; retrying", name)
                    next_at = self._wall() + 1.0
                if paused > 0:
                    next_at = self._wall() + paused
                wait = IDLE_SECONDS if next_at is None else max(0.0, next_at - self._wall())
                waker = asyncio.ensure_future(wake.wait())
                done, _ = await asyncio.wait(
                    [*sends, waker],
                    timeout=min(wait, IDLE_SECONDS),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                waker.cancel()
                finished = [(sends.pop(t), t.result()) for t in done if t is not waker]
                if finished:
                    self._inflight += 1  # until recorded and pruned: `drain` waits for that too
                    try:
                        await self._record(receiver, finished)
                    except StoreError as exc:  # not recorded: they stay pending and go again
                        log.error("notifications for %s: recording failed (%s)", name, exc)
                    finally:
                        self._inflight -= 1
        finally:
            for task in sends:
                task.cancel()

    async def _send(self, receiver: Receiver, row: OutboxRow) -> Outcome:
        assert self._clients, "dispatcher not started"
        self._turn = (self._turn + 1) % len(self._clients)
        client = self._clients[self._turn]
        self._inflight += 1
        try:
            notification = Notification.from_json(row.payload)
            timeout = receiver.settings.timeout_seconds
            try:
                return await asyncio.wait_for(
                    receiver.send(notification, client), timeout=timeout + 1
                )
            except TimeoutError:
                return Retry(f"{receiver.kind} receiver {receiver.name!r} did not answer")
            except Exception as exc:  # a bug in a receiver must not stop its worker
                log.exception("receiver %s failed unexpectedly", receiver.name)
                return Retry(
                    f"{receiver.kind} receiver {receiver.name!r} failed: {type(exc).__name__}"
                )
        finally:
            self._inflight -= 1

    async def _record(self, receiver: Receiver, finished: list[tuple[OutboxRow, Outcome]]) -> None:
        now = self._wall()
        stats = self.stats[receiver.name]
        delivered: list[tuple[int, str, float]] = []
        retried: list[tuple[int, str, float, float]] = []
        dead: list[tuple[OutboxRow, str]] = []
        for row, outcome in finished:
            if isinstance(outcome, Delivered):
                delivered.append((row.seq, outcome.answer, now))
                continue
            reason = receiver.redact(outcome.reason)
            stats.last_error = reason
            age = now - row.enqueued_at
            if isinstance(outcome, GiveUp) or age >= self.settings.dead_letter_after_seconds:
                why = (
                    reason
                    if isinstance(outcome, GiveUp)
                    else (f"still failing after {age:.0f} s: {reason}")
                )
                dead.append((row, why))
                continue
            assert isinstance(outcome, Retry)
            delay = backoff(row.attempts + 1, self.settings, self._rng)
            if outcome.retry_after is not None:
                delay = max(delay, outcome.retry_after)
                until = now + outcome.retry_after
                self._paused_until[receiver.name] = max(
                    self._paused_until.get(receiver.name, 0.0), until
                )
            deadline = row.enqueued_at + self.settings.dead_letter_after_seconds
            next_at = min(now + delay, max(deadline, now))
            retried.append((row.seq, reason, now, next_at))
            log.warning(
                "notification %s for %s to %s failed (attempt %d), next try in %.1f s: %s",
                row.event, row.dedup_key, receiver.name, row.attempts + 1, next_at - now, reason,
            )  # fmt: skip
        await asyncio.to_thread(self.store.notification_outcomes, delivered, retried)
        stats.delivered += len(delivered)
        stats.retried += len(retried)
        if delivered:
            stats.last_delivered_at = now
            if self._on_delivered is not None:
                await self._on_delivered(receiver.name)
            self._since_prune += len(delivered)
            if self._since_prune >= self.prune_every:
                self._since_prune = 0
                await asyncio.to_thread(self.store.prune_outbox, self.settings.keep_delivered)
        for row, why in dead:
            log.error(
                "notification %s for %s to %s is a dead letter: %s",
                row.event, row.dedup_key, receiver.name, why,
            )  # fmt: skip
            stats.dead += 1
            if self._on_dead is not None:
                await self._on_dead(row, why)
            else:
                await asyncio.to_thread(self.store.notification_dead, row.seq, why, now)
