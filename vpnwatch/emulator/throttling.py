"""ARM's request throttling per subscription: token buckets for reads and for writes.

Azure Resource Manager throttles each subscription (per principal and region) with a token
bucket per kind of operation, "Request limits and throttling",
https://learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling
(ms.date 2024-06-27, "Regional throttling and token bucket algorithm"):

| scope | operations | bucket | refill per second |
|---|---|---|---|
| subscription | reads | 250 | 25 |
| subscription | writes (and POST actions) | 200 | 10 |
| tenant | reads | 250 | 25 |

The same page still gives the older per-hour limits (12,000 reads and 1,200 writes per hour per
subscription), which sovereign clouds document (docs.azure.cn, same article). The `hourly`
model holds them as a bucket the size of the hourly limit refilled evenly over the hour, so a
client can never spend more than the limit in any hour after the first.

A request that finds its bucket empty is answered 429 `SubscriptionRequestsThrottled` with the
wait until the next token. The remaining tokens go back in
`x-ms-ratelimit-remaining-subscription-reads` / `-writes` on every answer, as ARM does.
Time is scenario time, so a scenario played ten times faster refills ten times faster too.
"""

from __future__ import annotations

from dataclasses import dataclass

from vpnwatch.emulator.scenario import BucketSpec, ThrottlingSpec

READ, WRITE = "reads", "writes"
TENANT = "tenant"

# Today's model (the page cited above).
BUCKET_MODEL = {
    READ: BucketSpec(capacity=250, refill_per_second=25.0),
    WRITE: BucketSpec(capacity=200, refill_per_second=10.0),
}
# The older hourly limits (12,000 reads / 1,200 writes per hour), same page and docs.azure.cn.
HOURLY_MODEL = {
    READ: BucketSpec(capacity=12_000, refill_per_second=12_000 / 3600),
    WRITE: BucketSpec(capacity=1_200, refill_per_second=1_200 / 3600),
}


def charge_of(method: str) -> str:
    """Which bucket a request draws from: GET and HEAD are reads; PUT, PATCH, DELETE and POST
    actions (getBgpPeerStatus, arpTables, ...) are writes."""
    return READ if method in ("GET", "HEAD") else WRITE


def header_for(scope: str, charge: str) -> str:
    """`x-ms-ratelimit-remaining-subscription-reads`, or `...-tenant-reads` for tenant calls."""
    level = "tenant" if scope == TENANT else "subscription"
    return f"x-ms-ratelimit-remaining-{level}-{charge}"


class TokenBucket:
    """A bucket that one request drains by one token and scenario time refills."""

    __slots__ = ("at", "capacity", "level", "refill_per_second")

    def __init__(self, spec: BucketSpec, t: float) -> None:
        self.capacity = float(spec.capacity)
        self.refill_per_second = spec.refill_per_second
        self.level = self.capacity
        self.at = t

    def _refill(self, t: float) -> None:
        if t > self.at:
            self.level = min(self.capacity, self.level + (t - self.at) * self.refill_per_second)
            self.at = t

    def take(self, t: float) -> float | None:
        """Take a token at `t`; None when taken, else the seconds until one is available."""
        self._refill(t)
        if self.level >= 1:
            self.level -= 1
            return None
        rate = self.refill_per_second
        return (1 - self.level) / rate if rate > 0 else 3600.0

    def remaining(self, t: float) -> int:
        self._refill(t)
        return int(self.level)


@dataclass(frozen=True, slots=True)
class Charge:
    """What throttling decided for one request."""

    charge: str  # READ or WRITE
    header: str  # the x-ms-ratelimit-remaining-* header name
    remaining: int
    wait: float | None  # set: refused, retry after this many scenario seconds


class Throttling:
    """Buckets per (subscription or tenant, reads or writes), created on first use."""

    def __init__(self, spec: ThrottlingSpec) -> None:
        self.spec = spec
        self.enforce = spec.model != "off"
        base = HOURLY_MODEL if spec.model == "hourly" else BUCKET_MODEL
        self.limits = {
            READ: spec.reads or base[READ],
            WRITE: spec.writes or base[WRITE],
        }
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    def _bucket(self, scope: str, charge: str, t: float) -> TokenBucket:
        key = (scope, charge)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.limits[charge], t)
        return bucket

    def take(self, subscription: str | None, method: str, t: float) -> Charge:
        scope = (subscription or TENANT).lower()
        charge = charge_of(method)
        bucket = self._bucket(scope, charge, t)
        wait = bucket.take(t)
        if wait is not None and not self.enforce:
            wait = None
        return Charge(charge, header_for(scope, charge), bucket.remaining(t), wait)

    def remaining(self, subscription: str | None, charge: str, t: float) -> int:
        return self._bucket((subscription or TENANT).lower(), charge, t).remaining(t)
