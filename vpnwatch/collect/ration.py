"""How one subscription's spendable requests are split between the collectors that read it.

Every collector that reads resource by resource (connections, BGP status, ExpressRoute circuits)
tells the planner what a full rotation of its resources costs: the resources, their reads and
writes each, the reads every pass costs whatever it reads (the lists), how many are hot (read
every pass), and its configured interval. Collectors that read a subscription whole (Resource
Health, the gateway inventory, discovery, maintenance) are charged what they spent, on average.

The rest is split so that faults are found soonest: every rotating collector's resources are
read at least every `max(interval, stretch * T)`, with one rotation period `T` for all of them,
the shortest the reads and the writes allow. While the budget affords the configured intervals,
`T` is below them and nothing changes; when it does not, connections and BGP status fall behind
together instead of BGP status waiting for connections to be read at 15 s (a BGP session that
drops with its tunnels up is a fault too). A collector's `stretch` makes it fall behind faster
(ExpressRoute circuits, five reads each, are read at twice `T`), and its `lead` makes it rotate
that many seconds faster: a reading that takes time of its own after it starts (BGP status waits
for its long-running operation's polls) is started sooner, so that a fault it alone can see is
found as soon as a tunnel drop is (`docs/read-budget.md`, "Balancing the kinds of fault").

Writes (the POST actions of BGP status and route-table summaries) are a bucket of their own: a
rotation the write budget cannot afford at `T` is stretched for the collectors that write, and
leaves the reads it no longer spends to the others.

No I/O: the planner (`planner.py`) gives it the demands and reads the periods.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

LONGEST = 86_400.0  # a rotation the budget cannot afford even once a day is "once a day"


@dataclass(frozen=True, slots=True)
class Demand:
    """What one collector's rotation over one subscription costs."""

    lane: str
    items: int  # resources in rotation (hot ones included)
    hot: int  # read every pass
    reads: float  # per resource
    writes: float  # per resource
    interval: float  # the configured interval: the shortest period
    fixed_reads: float = 0.0  # every pass, whatever it reads (the lists)
    stretch: float = 1.0  # this collector's period is `stretch * T` when the budget is short
    lead: float = 0.0  # ... less this many seconds: what one reading takes after it starts


@dataclass(frozen=True, slots=True)
class Ration:
    """A collector's part: how often each of its resources is read, and what that spends."""

    lane: str
    period: float  # seconds between two reads of one resource in rotation
    reads_per_second: float
    writes_per_second: float


def split(
    demands: Iterable[Demand], reads_per_second: float, writes_per_second: float
) -> dict[str, Ration]:
    """The periods that fit `reads_per_second` and `writes_per_second` (already net of what
    the whole-subscription collectors spend), one rotation period for all, stretched where a
    collector asks to be."""
    demands = [d for d in demands if d.items > 0 or d.fixed_reads > 0]
    if not demands:
        return {}
    pass_reads = sum(_every_pass(d, reads=True) for d in demands)
    pass_writes = sum(_every_pass(d, reads=False) for d in demands)
    writers = [d for d in demands if d.writes > 0]
    t_writes = _shortest(
        lambda t: sum(_rotating(d, d.writes, t) for d in writers),
        writes_per_second - pass_writes,
    )

    def period(d: Demand, t: float) -> float:
        floor = d.stretch * t_writes if d.writes > 0 else 0.0
        return min(LONGEST, max(d.interval, _rotation(d, t), floor))

    t_reads = _shortest(
        lambda t: sum(_cost(d, d.reads, period(d, t)) for d in demands),
        reads_per_second - pass_reads,
    )
    out = {}
    for d in demands:
        p = period(d, t_reads)
        out[d.lane] = Ration(
            lane=d.lane,
            period=p,
            reads_per_second=_every_pass(d, reads=True) + _cost(d, d.reads, p),
            writes_per_second=_every_pass(d, reads=False) + _cost(d, d.writes, p),
        )
    return out


def _every_pass(d: Demand, *, reads: bool) -> float:
    """What a collector spends per second whatever the rotation: its lists and its hot ones."""
    if reads:
        return (d.fixed_reads + d.hot * d.reads) / d.interval
    return d.hot * d.writes / d.interval


def _cost(d: Demand, per_item: float, period: float) -> float:
    return max(0, d.items - d.hot) * per_item / period


def _rotating(d: Demand, per_item: float, t: float) -> float:
    return _cost(d, per_item, min(LONGEST, max(d.interval, _rotation(d, t))))


def _rotation(d: Demand, t: float) -> float:
    return d.stretch * t - d.lead


def _shortest(spend: Callable[[float], float], available: float) -> float:
    """The smallest `t` with `spend(t) <= available` (`spend` falls as `t` grows)."""
    if spend(0.0) <= available:
        return 0.0
    if available <= 0 or spend(LONGEST) > available:
        return LONGEST
    low, high = 0.0, 1.0
    while spend(high) > available:
        low, high = high, high * 2
    for _ in range(50):
        mid = (low + high) / 2
        if spend(mid) > available:
            low = mid
        else:
            high = mid
        if high - low < 0.01:
            break
    return math.ceil(high * 100) / 100
