"""What the emulator served, per subscription and kind of request, for tests and benchmarks.

Kinds: `list` (a collection page), `get` (one resource, or a lookup that failed), `post` (a
long-running action or a query), `lro_poll` (a status monitor or result URL), `metrics` (an
Azure Monitor metrics batch, which ARM's buckets do not charge), `query` (a Log Analytics
query, counted under `tenant`: Log Analytics limits each caller, not a subscription), `graph`
(a Resource Graph query, counted under `tenant`: its path names no subscription), and
`throttled` (answered 429, whatever it asked for). A throttled request counts only as `throttled`.

In process, `Emulator.counters` returns a `CounterSnapshot`. Out of process (an emulator started
by `vpnwatch emulator`), `GET {base_url}/_emulator/counters` returns the same as JSON; Azure has
no such path, and the request needs no token and is neither throttled nor counted.
`read_counters(base_url)` fetches and parses it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx

COUNTERS_PATH = "/_emulator/counters"
KINDS = ("list", "get", "post", "lro_poll", "metrics", "query", "graph", "throttled")
TENANT = "tenant"  # requests without a subscription in the path


@dataclass(frozen=True)
class CounterSnapshot:
    """Counts at one moment: `by_subscription[sub][kind]`, subscription ids lower-cased."""

    elapsed: float  # scenario seconds since the emulator started
    by_subscription: dict[str, dict[str, int]] = field(default_factory=dict)

    def of(self, subscription: str) -> dict[str, int]:
        """Every kind for one subscription (zeros included)."""
        counts = self.by_subscription.get(subscription.lower(), {})
        return {kind: counts.get(kind, 0) for kind in KINDS}

    def total(self, kind: str) -> int:
        return sum(counts.get(kind, 0) for counts in self.by_subscription.values())

    def reads(self, subscription: str) -> int:
        """Reads Azure would charge: lists, gets and LRO polls that were served."""
        counts = self.of(subscription)
        return counts["list"] + counts["get"] + counts["lro_poll"]

    def writes(self, subscription: str) -> int:
        """Writes Azure would charge: POST actions that were served."""
        return self.of(subscription)["post"]

    def minus(self, earlier: CounterSnapshot) -> CounterSnapshot:
        """What was served between `earlier` and this snapshot."""
        subs = set(self.by_subscription) | set(earlier.by_subscription)
        return CounterSnapshot(
            elapsed=self.elapsed - earlier.elapsed,
            by_subscription={
                sub: {kind: self.of(sub)[kind] - earlier.of(sub)[kind] for kind in KINDS}
                for sub in sorted(subs)
            },
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "elapsed": self.elapsed,
            "subscriptions": {sub: self.of(sub) for sub in sorted(self.by_subscription)},
        }

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> CounterSnapshot:
        return cls(
            elapsed=float(body["elapsed"]),
            by_subscription={
                sub.lower(): {kind: int(counts.get(kind, 0)) for kind in KINDS}
                for sub, counts in body["subscriptions"].items()
            },
        )


class RequestCounters:
    def __init__(self) -> None:
        self._counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(KINDS, 0))

    def count(self, subscription: str | None, kind: str) -> None:
        self._counts[(subscription or TENANT).lower()][kind] += 1

    def snapshot(self, elapsed: float) -> CounterSnapshot:
        return CounterSnapshot(
            elapsed=elapsed,
            by_subscription={sub: dict(counts) for sub, counts in self._counts.items()},
        )


def read_counters(base_url: str, *, verify: str | bool = True) -> CounterSnapshot:
    """The counters of an emulator running in another process (`verify`: its CA for TLS)."""
    response = httpx.get(f"{base_url.rstrip('/')}{COUNTERS_PATH}", verify=verify, timeout=10)
    response.raise_for_status()
    return CounterSnapshot.from_json(response.json())
