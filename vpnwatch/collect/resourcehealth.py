"""Resource Health: a cheap hint of which gateways, connections and circuits to read first.

One paged read per subscription (`availability_statuses.list_by_subscription_id`,
`GET /subscriptions/{sub}/providers/Microsoft.ResourceHealth/availabilityStatuses`) gives an
availability state (`Available`, `Degraded`, `Unavailable`, `Unknown`) for every resource of the
subscription, where a connection's own status costs one GET each (docs/read-budget.md). The
state is coarse (no tunnels), and Azure documents no bound on how late it follows a change, so
it is never taken as up or down: a resource whose state changed since the last pass (or that is
not `Available` when first seen) is *heated* in the read planner, so the collectors that do
read status read it, and its siblings, in their next pass instead of in rotation. A gateway
heats its connections and its BGP status; a circuit its ExpressRoute reads.

The pass emits only its `CollectionRun` (with how many resources it heated in `extra`), which
the agent keeps for the collector's status and out of the correlator: no health comes from here,
so a pass that fails (a role without `Microsoft.ResourceHealth/availabilityStatuses/read`)
blinds nothing; the other collectors simply read in rotation.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from vpnwatch.collect.base import ArmCollector, CallFailed, Scope
from vpnwatch.collect.errors import Failure
from vpnwatch.collect.parse import text
from vpnwatch.collect.telemetry import tally_requests
from vpnwatch.observations import Observation
from vpnwatch.resourceids import provider_type_of, resource_group_of

AVAILABLE = "available"
_PROVIDER = "/providers/microsoft.resourcehealth/"

# The resource types whose availability says something about hybrid connectivity.
WATCHED_TYPES = frozenset(
    {
        "microsoft.network/virtualnetworkgateways",
        "microsoft.network/connections",
        "microsoft.network/expressroutecircuits",
    }
)


class ResourceHealthCollector(ArmCollector):
    name = "arm.resourcehealth"
    kind = "availability_status"
    hint_only = True  # feeds no health: the agent keeps its runs out of the correlator
    whole = True  # one paged read of the whole subscription: rationed by passes

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._states: dict[str, dict[str, str]] = {}  # scope -> resource id (lower) -> state

    async def collect(self, scope: Scope) -> list[Observation]:
        skipped = self.skip(scope)
        if skipped is not None:
            return [skipped]
        started = time.monotonic()
        began = self.clock.now()
        failures: list[tuple[str, Failure]] = []
        heated: list[str] = []
        with tally_requests() as tally:
            client = self.clients.resource_health(scope.subscription_id)
            try:
                statuses = await self.list_all(
                    f"list availability statuses of {scope.label}",
                    lambda: client.availability_statuses.list_by_subscription_id(),
                )
            except CallFailed as failed:
                failures.append(("*", failed.failure))
            else:
                heated = self._changed(scope, statuses)
                if heated:
                    self.clients.planner.heat(heated)
        run = self._run(scope, failures, [], tally, time.monotonic() - started)
        if not failures:
            run = replace(run, extra={**run.extra, "heated": str(len(heated))})
        self.passed(scope, began, run)
        return [run]

    def _changed(self, scope: Scope, statuses: list[Any]) -> list[str]:
        """Resources whose state moved since the last pass (or is not `Available` when first
        seen); remembers this pass's states."""
        before = self._states.get(scope.label)
        now: dict[str, str] = {}
        changed: list[str] = []
        for status in statuses:
            resource_id = resource_of(status.id or "")
            if not resource_id or not _in_scope(resource_id, scope):
                continue
            props = status.properties
            state = (text(getattr(props, "availability_state", None)) or "Unknown").lower()
            key = resource_id.lower()
            now[key] = state
            previous = before.get(key) if before is not None else None
            if previous is None and state == AVAILABLE:
                continue  # first seen and fine: nothing to hurry for
            if previous != state:
                changed.append(resource_id)
        self._states[scope.label] = now
        return changed


def resource_of(status_id: str) -> str:
    """`{resourceId}/providers/Microsoft.ResourceHealth/availabilityStatuses/current` -> the
    resource id, when it names a watched type; "" otherwise."""
    low = status_id.lower()
    cut = low.find(_PROVIDER)
    if cut <= 0:
        return ""
    resource_id = status_id[:cut]
    if provider_type_of(resource_id).lower() not in WATCHED_TYPES:
        return ""
    return resource_id


def _in_scope(resource_id: str, scope: Scope) -> bool:
    if not scope.resource_groups:
        return True
    group = resource_group_of(resource_id).lower()
    return any(group == g.lower() for g in scope.resource_groups)
