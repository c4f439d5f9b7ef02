"""Sets of half-open time spans [start, end) in scenario seconds.

Every fault compiles to spans, so the state of anything at time t is a lookup, never a replay:
the emulator can answer any request at any clock position, in any order, deterministically.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable

Span = tuple[float, float]


class Intervals:
    __slots__ = ("_ends", "_starts", "spans")

    def __init__(self, spans: Iterable[Span] = ()) -> None:
        merged: list[Span] = []
        for start, end in sorted(s for s in spans if s[1] > s[0]):
            if merged and start <= merged[-1][1]:
                if end > merged[-1][1]:
                    merged[-1] = (merged[-1][0], end)
            else:
                merged.append((start, end))
        self.spans: tuple[Span, ...] = tuple(merged)
        self._starts = [s for s, _ in merged]
        self._ends = [e for _, e in merged]

    def __bool__(self) -> bool:
        return bool(self.spans)

    def __repr__(self) -> str:
        return f"Intervals({list(self.spans)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Intervals) and self.spans == other.spans

    def __hash__(self) -> int:
        return hash(self.spans)

    def contains(self, t: float) -> bool:
        i = bisect_right(self._starts, t) - 1
        return i >= 0 and t < self._ends[i]

    def span_at(self, t: float) -> Span | None:
        i = bisect_right(self._starts, t) - 1
        if i >= 0 and t < self._ends[i]:
            return self.spans[i]
        return None

    def last_end(self, t: float) -> float | None:
        """When the most recent span that is over by `t` ended (the last recovery)."""
        i = bisect_right(self._ends, t) - 1
        return self._ends[i] if i >= 0 else None

    def last_start(self, t: float) -> float | None:
        """When the most recent span that began by `t` began (the last failure)."""
        i = bisect_right(self._starts, t) - 1
        return self._starts[i] if i >= 0 else None

    def measure(self, until: float, since: float = -math.inf) -> float:
        """Total length covered within [since, until]."""
        total = 0.0
        for start, end in self.spans:
            if start >= until:
                break
            lo, hi = max(start, since), min(end, until)
            if hi > lo:
                total += hi - lo
        return total

    def union(self, *others: Intervals) -> Intervals:
        if not any(others):
            return self
        if not self and len(others) == 1:
            return others[0]
        spans = list(self.spans)
        for other in others:
            spans.extend(other.spans)
        return Intervals(spans)

    def intersection(self, other: Intervals) -> Intervals:
        out: list[Span] = []
        i = j = 0
        a, b = self.spans, other.spans
        while i < len(a) and j < len(b):
            lo = max(a[i][0], b[j][0])
            hi = min(a[i][1], b[j][1])
            if hi > lo:
                out.append((lo, hi))
            if a[i][1] < b[j][1]:
                i += 1
            else:
                j += 1
        return Intervals(out)

    def complement(self) -> Intervals:
        """Every moment not in these spans."""
        out: list[Span] = []
        start = -math.inf
        for lo, hi in self.spans:
            out.append((start, lo))
            start = hi
        out.append((start, math.inf))
        return Intervals(out)


EMPTY = Intervals()
