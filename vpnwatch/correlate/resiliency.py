"""`resiliency_validation_overdue`: an ExpressRoute circuit or gateway whose last failover test
(Azure's Resiliency Validation) ended more than `validation_max_age_days` ago, or never ran.

Nothing is broken when a validation is old: the finding is `info`, so it shows on the status
page, the API and /metrics and in the resource's page, and the default routes send it to no
pager and no chat (Alertmanager and webhook receivers get every severity and may decide). It
resolves when a newer test is read, or when Azure says the feature is not available there.
Where nothing was read yet (or since a restart) it says nothing, so an open one stays open.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from vpnwatch.correlate.findings import DetectorContext, Finding, Resolution, name_of
from vpnwatch.incidents import Evidence, IncidentType, Severity, incident_key
from vpnwatch.observations import ResiliencyObserved

_OVERDUE = IncidentType.RESILIENCY_VALIDATION_OVERDUE
_SOURCE = "arm.resiliency"


def overdue(observed: ResiliencyObserved, max_age: timedelta) -> bool:
    """Whether a resource's last validation is older than `max_age` at its reading."""
    if not observed.supported:
        return False
    if observed.last_validation is None:
        return True
    return observed.observed_at - observed.last_validation > max_age


class ResiliencyDetector:
    types = frozenset({_OVERDUE})

    def evaluate(self, ctx: DetectorContext) -> Iterator[Finding | Resolution]:
        max_age = timedelta(days=ctx.settings.resiliency.validation_max_age_days)
        readings = ctx.state.resiliency
        for _, observed in sorted(readings.items()):
            key = incident_key(_OVERDUE, observed.resource_id)
            if overdue(observed, max_age):
                yield self._finding(observed, key, max_age, opening=key not in ctx.open_incidents)
            elif key in ctx.open_incidents:
                yield Resolution(key, observed.observed_at, evidence=(self._cleared(observed),))

    @staticmethod
    def _what(observed: ResiliencyObserved) -> str:
        what = "ExpressRoute circuit" if observed.kind == "circuit" else "ExpressRoute gateway"
        return f"{what} {name_of(observed.resource_id)}"

    def _finding(
        self, observed: ResiliencyObserved, key: str, max_age: timedelta, *, opening: bool
    ) -> Finding:
        last = observed.last_validation
        days = max_age.days if max_age.days else max_age.total_seconds() / 86400
        if last is None:
            title = f"{self._what(observed)} has never been through a resiliency validation"
            started = observed.observed_at
            said = "no completed failover test in Azure's history"
        else:
            age = (observed.observed_at - last).days
            title = (
                f"{self._what(observed)}: last resiliency validation {age} days ago "
                f"(older than {days:g})"
            )
            started = last + max_age
            outcome = "succeeded" if observed.last_validation_succeeded else "did not succeed"
            said = f"newest completed failover test ended {last:%Y-%m-%d %H:%M} UTC and {outcome}"
        attributes = {"kind": observed.kind, "max_age_days": f"{days:g}"}
        if last is not None:
            attributes["last_validation"] = last.isoformat()
        evidence = (Evidence(observed.observed_at, said, observed.resource_id, _SOURCE),)
        return Finding(
            key=key,
            type=_OVERDUE,
            severity=Severity.INFO,
            title=title,
            resources=(observed.resource_id,),
            started_at=started,
            classification="never_validated" if last is None else "validation_overdue",
            attributes=attributes,
            evidence=evidence if opening else (),
        )

    def _cleared(self, observed: ResiliencyObserved) -> Evidence:
        if not observed.supported:
            said = "Azure reports resiliency validation is not available for it"
        else:
            said = f"validated again: a failover test ended {observed.last_validation:%Y-%m-%d}"
        return Evidence(observed.observed_at, said, observed.resource_id, _SOURCE)
