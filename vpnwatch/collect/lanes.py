"""Per-collector lanes, and the pipeline policy that makes every Azure request wait its turn.

Each collector runs in its own lane: its own concurrency limit and its own weight in the request
budget (`budget.py`). An ARM request takes a slot of its lane *in its subscription*: each
subscription has a budget of its own, and one limit for all of them would cap what an estate of
many subscriptions can read (20 subscriptions at 12.5 GETs/s each are 250 requests a second,
which 8 slots at Azure's ~100 ms a request could never carry). The lane travels with the
collector's task in a context variable, so the `PacingPolicy` in the SDK pipeline finds it for
every attempt the collector causes, including retries, next pages and the status polls of a
long-running operation.

Azure Monitor's APIs have limits of their own, outside ARM's buckets: the metrics batch API per
subscription, Log Analytics per caller. The same policy paces them against those buckets
(`monitor_charge`), so a metrics pass can neither spend ARM's read budget nor run into Azure
Monitor's throttling.

The policy holds the lane's slot only while an HTTP request is in flight. The SDK's poller sleeps
between the polls of a long-running POST (`getBgpPeerStatus`, route-table summaries) outside the
policy, so an operation Azure keeps busy for a minute occupies no slot, and 1,000 BGP calls can
no longer queue ahead of the tunnel poll.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import AsyncHTTPPolicy

from vpnwatch.collect.budget import (
    LOG_ANALYTICS,
    LOG_QUERIES,
    METRICS,
    READS,
    WRITES,
    RequestBudget,
)
from vpnwatch.collect.retry import SubscriptionThrottled, deadline_of
from vpnwatch.collect.telemetry import (
    REMAINING_READS_HEADER,
    REMAINING_WRITES_HEADER,
    header_int,
)

DEFAULT_LANE = "default"


@dataclass(slots=True)
class Lane:
    """A collector's own share of concurrency; requests outside any collector use `default`."""

    name: str
    concurrency: int
    slots: asyncio.Semaphore = field(init=False)
    in_flight: int = 0

    def __post_init__(self) -> None:
        self.slots = asyncio.Semaphore(self.concurrency)


class Lanes:
    """The lanes of one agent, made on first use with the default concurrency."""

    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self._lanes: dict[str, Lane] = {}

    def get(self, name: str, concurrency: int | None = None) -> Lane:
        lane = self._lanes.get(name)
        if lane is None:
            lane = Lane(name, concurrency or self.concurrency)
            self._lanes[name] = lane
        return lane

    def all(self) -> list[Lane]:
        return list(self._lanes.values())


_current_lane: ContextVar[str] = ContextVar("vpnwatch_lane", default=DEFAULT_LANE)


@contextmanager
def in_lane(name: str) -> Iterator[None]:
    """Requests made by this task (and the tasks it starts) go through lane `name`."""
    token = _current_lane.set(name)
    try:
        yield
    finally:
        _current_lane.reset(token)


def current_lane() -> str:
    return _current_lane.get()


def request_kind(method: str, url: str) -> tuple[str, str] | None:
    """(subscription, READS | WRITES) for an ARM request charged to a subscription, else None.

    ARM counts GET and HEAD as reads, and PUT, PATCH, DELETE and POST actions as writes; a
    long-running operation's status polls are GETs, so reads.
    """
    parts = [p for p in urlsplit(url).path.split("/") if p]
    lowered = [p.lower() for p in parts]
    if "subscriptions" not in lowered:
        return None
    index = lowered.index("subscriptions")
    if index + 1 >= len(parts):
        return None
    subscription = parts[index + 1]
    kind = READS if method.upper() in ("GET", "HEAD") else WRITES
    return subscription, kind


def monitor_charge(method: str, url: str) -> tuple[str, str] | None:
    """(key, kind) for an Azure Monitor request: a `metrics:getBatch` call is charged to its
    subscription's metrics bucket, a Log Analytics query to the caller's query bucket."""
    path = urlsplit(url).path
    lowered = path.lower()
    if lowered.endswith("/query") and "/workspaces/" in lowered:
        return LOG_ANALYTICS, LOG_QUERIES
    if lowered.endswith("metrics:getbatch"):
        parts = [p for p in path.split("/") if p]
        lowered_parts = [p.lower() for p in parts]
        if "subscriptions" in lowered_parts:
            index = lowered_parts.index("subscriptions")
            if index + 1 < len(parts):
                return parts[index + 1], METRICS
    return None


Charge = Callable[[str, str], tuple[str, str] | None]


def retry_after_seconds(headers: object, speed: float) -> float | None:
    """The wait a 429 asks for, in clock seconds. `retry-after-ms` is wall time (an emulator on a
    scaled clock sends it scaled), so it is converted with the clock's speed."""
    get = getattr(headers, "get", lambda _n: None)
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        value = get(name)
        if value is not None:
            try:
                wall = float(value) / 1000.0
            except ValueError:
                continue
            return wall * speed if speed != float("inf") else wall
    value = get("Retry-After")
    if value is not None:
        try:
            return float(value)
        except ValueError:
            return None
    return None


class PacingPolicy(AsyncHTTPPolicy):  # type: ignore[type-arg]
    """Per-retry policy: waits for the budget (`charge` says which bucket a request draws from:
    ARM's by default) and the lane's slot, sends, then tells the budget what Azure said about
    what is left.

    Waiting for a token or a slot is pacing, and does not count against the call's deadline
    (`retry.py`); waiting out a 429's `Retry-After` does. When that wait would outlast the call's
    deadline the request is not sent at all: the call fails as throttled at once, and the
    subscription is not asked again before Azure said it may be."""

    def __init__(
        self,
        budget: RequestBudget,
        lanes: Lanes,
        charge: Charge = request_kind,
        *,
        slots_per_key: bool = True,
    ) -> None:
        super().__init__()
        self.budget = budget
        self.lanes = lanes
        self.charge = charge
        # ARM: a lane's slots per subscription. Azure Monitor's limits are per caller (Log
        # Analytics runs 5 queries at once): one set of slots for every key.
        self.slots_per_key = slots_per_key

    async def send(self, request: PipelineRequest) -> PipelineResponse:  # type: ignore[type-arg]
        http_request = request.http_request
        charged = self.charge(http_request.method, http_request.url)
        lane_name = current_lane()
        deadline = deadline_of(request)
        clock = self.budget.clock
        waiting_since = clock.now()
        blocked = 0.0
        if charged is not None:
            blocked = self.budget.blocked_seconds(*charged)
            if deadline is not None and blocked > 0 and blocked >= deadline.remaining():
                raise SubscriptionThrottled(charged[0], charged[1], blocked)
            await self.budget.acquire(charged[0], charged[1], lane_name)
        lane = self.lanes.get(
            f"{lane_name}@{charged[0].lower()}"
            if charged is not None and self.slots_per_key
            else lane_name,
            self.lanes.get(lane_name).concurrency,
        )
        response: PipelineResponse | None = None  # type: ignore[type-arg]
        try:
            async with lane.slots:
                if deadline is not None:
                    waited = (clock.now() - waiting_since).total_seconds()
                    deadline.paced += max(0.0, waited - blocked)
                lane.in_flight += 1
                try:
                    response = await self.next.send(request)
                finally:
                    lane.in_flight -= 1
        finally:
            if charged is not None:
                self._observe(charged, response)
        return response

    def _observe(
        self,
        charged: tuple[str, str],
        response: PipelineResponse | None,  # type: ignore[type-arg]
    ) -> None:
        subscription, kind = charged
        if response is None:
            self.budget.observe(subscription, kind)
            return
        headers = response.http_response.headers
        status = response.http_response.status_code
        header = {READS: REMAINING_READS_HEADER, WRITES: REMAINING_WRITES_HEADER}.get(kind)
        self.budget.observe(
            subscription,
            kind,
            remaining=header_int(headers, header) if header else None,
            status=status,
            retry_after=retry_after_seconds(headers, self.budget.clock.speed)
            if status == 429
            else None,
        )
