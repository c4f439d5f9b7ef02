"""`monitoring_blind`: vpnwatch cannot see part of the fleet.

Why: a monitor that silently stops seeing looks exactly like a healthy fleet. When the runs of a
collector over one scope (a subscription; `*` for discovery) keep failing with `auth`,
`throttled`, `server_error` (5xx), `unreachable` or `timeout` for at least `after_seconds` and
`min_failed_runs` consecutive runs (by default one connections interval and two runs: blind
comes with the failed poll one interval after the first; failed passes are retried every half
interval), that scope is blind: one critical incident per scope, naming the failing collectors,
because an expired credential or a throttled subscription blinds every
collector of it at once and is one thing to fix. A single failed run never opens it (transient
errors are retried by the next poll); failures for other causes (an unreadable body) neither
count nor reset the streak. It resolves with the first successful pass of a failing collector:
Azure answers the scope again. Passes are compared by when they began (`apply.py`
`_scope_seen_again`): every failure of a pass that began before that successful one is older
news and no longer counts, and a pass under way since the fault (a BGP status read waiting out
its long-running operation) that fails after it neither holds the incident open nor reopens it.
So blindness ends within one poll of the fault's end, once. A collector that fails again in a
pass begun after that success counts afresh (a fault that persists for it alone is blindness of
its own, named for it). A failing collector whose failure is newer than that success holds the
incident open unless its next run is not due within `after_seconds` (`_Behind`).

The incident says whose side the fault is on (`fault_side`: `vpnwatch` for a refused
credential, `azure` for throttling and server errors, `network` for timeouts and unreachable
endpoints), because on-call fixes each in a different place.

While blind, nothing else needs special-casing: the entities of the scope go stale and read
`unknown`, and no detector resolves anything from data it cannot see.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime

from vpnwatch.correlate.entities import RunStreak
from vpnwatch.correlate.findings import (
    DetectorContext,
    Finding,
    Resolution,
    seconds,
    spell_start,
)
from vpnwatch.incidents import Evidence, Incident, IncidentType, Severity, incident_key

# `after_seconds` when the settings leave it unset and no `Settings` filled it in: the default
# connections interval
DEFAULT_AFTER_SECONDS = 15.0

# whose side a failure is on, and what to say about it
FAULT_SIDES: dict[str, tuple[str, str]] = {
    "auth": ("vpnwatch", "Azure refuses vpnwatch's credential or role"),
    "throttled": ("azure", "Azure Resource Manager throttles the subscription's reads"),
    "server_error": ("azure", "Azure answers with server errors"),
    "timeout": ("network", "Azure does not answer in time"),
    "unreachable": ("network", "Azure cannot be reached from vpnwatch"),
}


class BlindDetector:
    types = frozenset({IncidentType.MONITORING_BLIND})

    def evaluate(self, ctx: DetectorContext) -> Iterator[Finding | Resolution]:
        by_scope: dict[str, dict[str, RunStreak]] = defaultdict(dict)
        for (collector, scope), streak in ctx.state.run_streaks.items():
            by_scope[scope][collector] = streak
        scopes = set(by_scope) | set(ctx.subjects(IncidentType.MONITORING_BLIND))
        for scope in sorted(scopes):
            yield from self._scope(ctx, scope, by_scope.get(scope, {}))

    def _scope(
        self, ctx: DetectorContext, scope: str, streaks: dict[str, RunStreak]
    ) -> Iterator[Finding | Resolution]:
        s = ctx.settings.blind
        key = incident_key(IncidentType.MONITORING_BLIND, scope)
        inc = ctx.open_incidents.get(key)
        after = DEFAULT_AFTER_SECONDS if s.after_seconds is None else s.after_seconds
        seen_again = _first_seen_again(inc, streaks) if inc is not None else None
        behind = _Behind(seen_again, after)
        blind = [
            (collector, streak, streak.failing_since)
            for collector, streak in sorted(streaks.items())
            if streak.failing_since is not None
            and streak.failed_runs >= s.min_failed_runs
            and seconds(streak.failing_since, ctx.now) >= after
            and not behind(streak)
        ]
        if blind:
            start = min(since for _, _, since in blind)
            first = min(blind, key=lambda b: b[2])[1]
            cause = first.cause.value if first.cause else "unknown"
            collectors = ", ".join(c for c, _, _ in blind)
            side, why = FAULT_SIDES.get(cause, ("unknown", cause))
            yield Finding(
                key=key,
                type=IncidentType.MONITORING_BLIND,
                severity=Severity.CRITICAL,
                title=f"vpnwatch cannot see {scope}: {why} ({collectors} failing, {cause})",
                resources=(scope,),
                started_at=start,
                classification=cause,
                outage_seconds=seconds(start, ctx.now),
                attributes={
                    "scope": scope,
                    "collectors": collectors,
                    "cause": cause,
                    "fault_side": side,
                    "failed_runs": str(max(st.failed_runs for _, st, _ in blind)),
                    "reason": first.reason[:500],
                },
                evidence=tuple(
                    Evidence(
                        since,
                        f"{collector}: runs failing ({st.cause.value if st.cause else '?'})",
                        scope,
                        collector,
                    )
                    for collector, st, since in blind
                ),
            )
        elif inc is not None:
            back = _seeing_again(inc, streaks, after)
            if back is not None:
                yield Resolution(
                    key,
                    back,
                    max(0.0, seconds(spell_start(inc), back)),
                    evidence=(Evidence(back, "collection runs succeed again", scope),),
                )


def _first_seen_again(inc: Incident, streaks: dict[str, RunStreak]) -> datetime | None:
    """The first success of one of the incident's failing collectors since it began."""
    began = spell_start(inc)
    recovered = [
        st.last_ok_at
        for c in inc.attributes.get("collectors", "").split(", ")
        if (st := streaks.get(c)) is not None
        and st.failed_runs == 0
        and st.last_ok_at is not None
        and st.last_ok_at >= began
    ]
    return min(recovered, default=None)


class _Behind:
    """Whether a failing collector only has not had its turn since the scope was seen again.

    Its failure ended before the evidence that Azure answers again (though its pass began after
    the successful one began: an earlier one would no longer count), and its next run (at the
    pace of its failed ones) is not due within `patience` of that evidence: it is waited for
    only when its next run is due soon.
    """

    def __init__(self, seen_again: datetime | None, patience: float) -> None:
        self.seen_again = seen_again
        self.patience = patience

    def __call__(self, streak: RunStreak) -> bool:
        if self.seen_again is None or streak.failing_since is None:
            return False
        last = streak.last_failed_at or streak.failing_since
        if last >= self.seen_again:
            return False
        if streak.failed_runs >= 2:
            pace = seconds(streak.failing_since, last) / (streak.failed_runs - 1)
            if seconds(self.seen_again, last) + pace <= self.patience:
                return False  # its next run is due soon: wait for it
        return True


def _seeing_again(
    inc: Incident, streaks: dict[str, RunStreak], patience: float
) -> datetime | None:
    """When the scope could be seen again, or None while it cannot.

    A failing collector that succeeded since the incident began sees again; the incident waits
    for the others unless they are behind (`_Behind`).
    """
    first = _first_seen_again(inc, streaks)
    if first is None:
        return None
    behind = _Behind(first, patience)
    failing = [streaks.get(c) for c in inc.attributes.get("collectors", "").split(", ")]
    if any(st is not None and st.failed_runs > 0 and not behind(st) for st in failing):
        return None
    return max(
        st.last_ok_at
        for st in failing
        if st is not None and st.failed_runs == 0 and st.last_ok_at is not None
    )
