"""How long one Azure call may take: the SDK's retries, bounded by a deadline.

azure-core's retry policy retries 408, 429, 5xx, timeouts and refused connections up to
`retry_total` times, sleeping what `Retry-After` asks or an exponential backoff, with no deadline
of its own (its `timeout` is seven days). ARM answers a throttled subscription with a
`Retry-After` of 30 s or more, so three retries held one call for 90 s, and a server that
accepts and never answers held it for four read timeouts: a poll every 15 s learnt of the fault
minutes late, and every collector behind it waited too.

`DeadlineRetryPolicy` keeps the SDK's rules and adds one limit: a call's own time (its attempts
and the waits between them) stays within `deadline` clock seconds. A retry whose wait would end
past the deadline is not made: the call fails now with what it got, so a 429 is still reported as
throttled and a 503 as a server error, and the next poll tries again. A short 429 whose
`Retry-After` fits is retried as before, and the poll succeeds. Each attempt's connect and read
timeouts are cut to what is left. Waits for the subscription's request budget and the lane's
slot (`lanes.PacingPolicy`) are pacing, not failure: they are not counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from azure.core.exceptions import ServiceResponseTimeoutError
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import AsyncRetryPolicy

from vpnwatch.clock import Clock

DEADLINE = "vpnwatch.deadline"  # the request context key of a call's `CallDeadline`


@dataclass(slots=True)
class CallDeadline:
    """One call's deadline in clock seconds, less the time it spent waiting to be paced."""

    clock: Clock
    seconds: float
    started: float = field(default=0.0)
    paced: float = 0.0

    def __post_init__(self) -> None:
        self.started = self._now()

    def _now(self) -> float:
        return self.clock.now().timestamp()

    def spent(self) -> float:
        return max(0.0, self._now() - self.started - self.paced)

    def remaining(self) -> float:
        return self.seconds - self.spent()

    def remaining_wall(self) -> float:
        """What is left in wall seconds (the transport's timeouts are wall time)."""
        speed = self.clock.speed
        if math.isinf(speed) or speed <= 0:
            return math.inf
        return self.remaining() / speed


class SubscriptionThrottled(Exception):
    """Not sent: a 429's `Retry-After` still stops this subscription's requests for longer than
    the call may take."""

    def __init__(self, subscription: str, kind: str, seconds: float) -> None:
        super().__init__(
            f"ARM throttles the {kind} of subscription {subscription}: its last 429 asked to wait "
            f"{seconds:.0f} s more, longer than one call may take"
        )
        self.subscription = subscription
        self.seconds = seconds


def deadline_of(request: PipelineRequest[Any]) -> CallDeadline | None:
    """The deadline of the call `request` belongs to (None outside `DeadlineRetryPolicy`)."""
    deadline = request.context.get(DEADLINE)
    return deadline if isinstance(deadline, CallDeadline) else None


class DeadlineRetryPolicy(AsyncRetryPolicy):
    """azure-core's `AsyncRetryPolicy`, with every call done (or failed) within `deadline`."""

    def __init__(self, clock: Clock, deadline: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.clock = clock
        self.deadline = deadline

    async def send(self, request: PipelineRequest[Any]) -> PipelineResponse[Any, Any]:
        request.context[DEADLINE] = CallDeadline(self.clock, self.deadline)
        return await super().send(request)

    def increment(
        self,
        settings: dict[str, Any],
        response: Any = None,
        error: Exception | None = None,
    ) -> bool:
        """A retry is made only if its wait ends within the deadline."""
        retry = super().increment(settings, response=response, error=error)
        if not retry:
            return False
        context = getattr(response, "context", None)  # a request (on errors) or a response
        deadline = context.get(DEADLINE) if context is not None else None
        if not isinstance(deadline, CallDeadline):
            return True
        return self._wait(settings, response) < deadline.remaining()

    def _wait(self, settings: dict[str, Any], response: Any) -> float:
        """The wait before the next attempt, in clock seconds (`sleep` waits it in wall time)."""
        if isinstance(response, PipelineResponse):
            retry_after = self.get_retry_after(response)
            if retry_after:
                speed = self.clock.speed
                return retry_after * speed if not math.isinf(speed) else 0.0
        backoff = self.get_backoff_time(settings)
        speed = self.clock.speed
        return backoff * speed if not math.isinf(speed) else 0.0

    def _configure_timeout(
        self, request: PipelineRequest[Any], absolute_timeout: float, is_response_error: bool
    ) -> None:
        super()._configure_timeout(request, absolute_timeout, is_response_error)
        deadline = deadline_of(request)
        if deadline is None:
            return
        left = deadline.remaining_wall()
        if left <= 0:
            raise ServiceResponseTimeoutError(
                f"no answer within the call's deadline of {deadline.seconds:g} s"
            )
        if math.isinf(left):
            return
        options = request.context.options
        transport_config = getattr(request.context.transport, "connection_config", None)
        for key, default in (
            ("connection_timeout", getattr(transport_config, "timeout", None)),
            ("read_timeout", getattr(transport_config, "read_timeout", None)),
        ):
            current = options.get(key, default)
            if current is None or current > left:
                options[key] = left
