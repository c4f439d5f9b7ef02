"""What happens to a request before it reaches a resource: API-wide faults and rate limits.

Throttling bursts, outages and auth failures come from the timeline (each may be scoped to one
subscription and a path; slow and unanswered requests are `faults.py`'s), missed polls from `noise`,
and the per-subscription read and write buckets from `throttling` (`throttling.py`). Waits are
announced in scenario seconds and converted to wall milliseconds with the clock's speed
(`retry-after-ms`), so a client on an accelerated or manual clock retries promptly while the
scenario still "waits" the announced time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from vpnwatch.emulator.faults import HELD
from vpnwatch.emulator.scenario import MissedPoll, ThrottlingSpec
from vpnwatch.emulator.throttling import Charge, Throttling
from vpnwatch.emulator.timeline import ApiFault

SCENARIO_RETRY_AFTER_HEADER = "x-vpnwatch-scenario-retry-after"


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)


def retry_headers(scenario_seconds: float, speed: float) -> dict[str, str]:
    """Headers announcing a wait of `scenario_seconds`.

    azure-core reads `Retry-After` before `retry-after-ms`, so `Retry-After` is only sent when
    scenario time is wall time (speed 1); otherwise a client would sleep scenario seconds for
    real. The scenario-time value is always in `x-vpnwatch-scenario-retry-after`.
    """
    if math.isinf(speed) or speed <= 0:
        wall_ms = 1
    else:
        wall_ms = max(1, math.ceil(scenario_seconds * 1000 / speed))
    headers = {
        "retry-after-ms": str(wall_ms),
        SCENARIO_RETRY_AFTER_HEADER: f"{scenario_seconds:g}",
    }
    if speed == 1:
        headers["Retry-After"] = str(max(1, math.ceil(scenario_seconds)))
    return headers


class _MissedPollState:
    def __init__(self, spec: MissedPoll) -> None:
        self.spec = spec
        self.remaining = spec.count


class TrafficPolicy:
    def __init__(
        self,
        api_faults: list[ApiFault],
        missed_polls: list[MissedPoll],
        throttling: ThrottlingSpec,
        speed: float,
    ) -> None:
        self.api_faults = sorted(
            (f for f in api_faults if f.kind not in HELD), key=lambda f: f.start
        )
        self.missed_polls = [_MissedPollState(m) for m in sorted(missed_polls, key=lambda m: m.at)]
        self.throttling = Throttling(throttling)
        self.speed = speed

    def refuse(self, method: str, path: str, subscription: str | None, t: float) -> Refusal | None:
        """An error to answer instead of the resource, if the scenario says so at `t`."""
        active = [f for f in self.api_faults if f.active(t) and f.covers(subscription, path)]
        for fault in active:
            if fault.kind == "auth_failure":
                return Refusal(
                    401,
                    "InvalidAuthenticationToken",
                    "The access token is invalid or has been revoked.",
                )
        for fault in active:
            if fault.kind == "api_unavailable":
                return Refusal(
                    503,
                    "ServiceUnavailable",
                    "The service is temporarily unavailable. Please retry later.",
                    retry_headers(fault.retry_after, self.speed),
                )
        if method == "GET":
            for fault in active:
                if fault.kind == "throttle":
                    return self._throttled(subscription, fault.retry_after)
        for missed in self.missed_polls:
            if missed.remaining > 0 and t >= missed.spec.at and missed.spec.match in path:
                missed.remaining -= 1
                return Refusal(
                    503,
                    "ServiceUnavailable",
                    "The request timed out while waiting for the resource provider.",
                    {"retry-after-ms": "1"},
                )
        return None

    def _throttled(
        self, subscription: str | None, retry_after: float, charge: str = "reads"
    ) -> Refusal:
        who = subscription or "tenant"
        seconds = max(1, math.ceil(retry_after))
        return Refusal(
            429,
            "SubscriptionRequestsThrottled",
            f"Number of '{charge[:-1]}' requests for subscription '{who}' actor 'vpnwatch' "
            f"exceeded. Please try again after '{seconds}' seconds after the last request.",
            retry_headers(retry_after, self.speed),
        )

    def charge(
        self, method: str, subscription: str | None, t: float
    ) -> tuple[Charge, Refusal | None]:
        """Draw one token from the request's bucket; a refusal when the bucket is empty."""
        charge = self.throttling.take(subscription, method, t)
        if charge.wait is None:
            return charge, None
        return charge, self._throttled(subscription, charge.wait, charge.charge)
