"""`monitoring_blind`: vpnwatch cannot see part of the fleet.

Why: a monitor that silently stops seeing looks exactly like a healthy fleet. When the runs of a
collector over one scope (a subscription; `*` for discovery) keep failing with `auth`,
`throttled`, `server_error` (5xx), `unreachable` or `timeout` for at least `after_seconds` and
`min_failed_runs` consecutive runs, that scope is blind: one critical incident per scope, naming
the failing collectors, because an expired credential or a throttled subscription blinds every
collector of it at once and is one thing to fix. A single failed run never opens it (transient
errors are retried by the next poll); failures for other causes (an unreadable body) neither
count nor reset the streak. It resolves with the next successful run of the failing collectors.

The incident says whose side the fault is on (`fault_side`: `vpnwatch` for a refused
credential, `azure` for throttling and server errors, `network` for timeouts and unreachable
endpoints), because on-call fixes each in a different place.

While blind, nothing else needs special-casing: the entities of the scope go stale and read
`unknown`, and no detector resolves anything from data it cannot see.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from vpnwatch.correlate.entities import RunStreak
from vpnwatch.correlate.findings import (
    DetectorContext,
    Finding,
    Resolution,
    seconds,
    spell_start,
)
from vpnwatch.incidents import Evidence, IncidentType, Severity, incident_key

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
        blind = [
            (collector, streak, streak.failing_since)
            for collector, streak in sorted(streaks.items())
            if streak.failing_since is not None
            and streak.failed_runs >= s.min_failed_runs
            and seconds(streak.failing_since, ctx.now) >= s.after_seconds
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
            began = spell_start(inc)
            failing = [streaks.get(c) for c in inc.attributes.get("collectors", "").split(", ")]
            recovered = [
                st.last_ok_at
                for st in failing
                if st is not None and st.failed_runs == 0 and st.last_ok_at is not None
            ]
            if recovered and len(recovered) == len(failing) and min(recovered) >= began:
                back = max(recovered)
                yield Resolution(
                    key,
                    back,
                    max(0.0, seconds(began, back)),
                    evidence=(Evidence(back, "collection runs succeed again", scope),),
                )
