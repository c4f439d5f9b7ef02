"""ExpressRoute resiliency, read-only: when each circuit and ExpressRoute gateway last went
through a failover test, and the gateway's Resiliency Insights score.

Three long-running POSTs, each charged as a write plus its polls as reads, so this collector
runs rarely (every 6 hours by default) and the read planner spreads them over passes:

* circuit: `getCircuitLinkFailoverAllTestsDetails` (the link failover tests' history);
* ExpressRoute gateway: `getFailoverAllTestsDetails?type=SingleSiteFailover&fetchLatest=true`
  (Resiliency Validation's site failover tests) and `getResiliencyInformation` (Resiliency
  Insights; never with `attemptRefresh`, which asks Azure to recompute).

It never starts or stops a test: the `begin_start_*` / `begin_stop_*` operations are not called
anywhere, and the custom role grants none of them. Where the feature is unavailable Azure
answers 400; that becomes `supported=False`, not an unknown resource.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import HttpResponseError

from vpnwatch.collect.base import ArmCollector, CallFailed, GroupResult, RunMemo, Scope, name_of
from vpnwatch.collect.parse import azure_time, text
from vpnwatch.collect.planner import Candidate, Cost
from vpnwatch.observations import (
    CollectionRun,
    Observation,
    ResiliencyObserved,
    ResourceUnknown,
)

LRO_READS = 2.0  # a status poll and the result, per long-running POST
SITE_FAILOVER = "SingleSiteFailover"
_UNSUPPORTED_MARKERS = ("notsupported", "notavailable", "featurenotenabled")


class ResiliencyCollector(ArmCollector):
    name = "arm.resiliency"
    kind = "resiliency"
    # Its readings feed no health: a failed pass blinds nothing and marks no circuit or gateway
    # unknown (`agent/schedule.py`); what failed shows in the collector's status.
    hint_only = True

    async def collect(self, scope: Scope) -> list[Observation]:
        """The pass, with a resource it could not read counted as the pass's failure instead of
        an unknown resource (the circuit or gateway itself is read by its own collector)."""
        observations = await super().collect(scope)
        unread = [o for o in observations if isinstance(o, ResourceUnknown)]
        kept = [o for o in observations if not isinstance(o, ResourceUnknown)]
        run = kept[-1]
        if unread and isinstance(run, CollectionRun):
            reasons = "; ".join(r for r in (run.reason, *(u.reason for u in unread)) if r)
            kept[-1] = replace(run, ok=False, cause=run.cause or unread[0].cause, reason=reasons)
        return kept

    async def collect_group(self, scope: Scope, resource_group: str, memo: RunMemo) -> GroupResult:
        network = self.clients.network(scope.subscription_id)
        circuits = await self.list_all(
            f"list ExpressRoute circuits in resource group {resource_group}",
            lambda: network.express_route_circuits.list(resource_group),
        )
        gateways = await self.list_all(
            f"list virtual network gateways in resource group {resource_group}",
            lambda: network.virtual_network_gateways.list(resource_group),
        )
        expressroute = [gw for gw in gateways if _is_expressroute(gw)]
        memo.later.extend(("circuit", resource_group, c) for c in circuits)
        memo.later.extend(("gateway", resource_group, gw) for gw in expressroute)
        return GroupResult(resource_ids=[r.id for r in (*circuits, *expressroute)])

    async def finish(self, scope: Scope, memo: RunMemo, groups: int) -> list[Observation]:
        """Read the resources the planner affords in this pass (a gateway costs two POSTs)."""
        listed = {item[2].id.lower(): item for item in memo.later}
        plan = self.clients.planner.plan(
            self.name,
            scope.subscription_id,
            [Candidate(item[2].id, item[2].id) for item in memo.later],
            self.interval_seconds,
            Cost(reads=2 * LRO_READS, writes=2.0, fixed_reads=float(max(2 * groups, memo.listed))),
            pass_seconds=self.pass_seconds,
        )
        network = self.clients.network(scope.subscription_id)
        chosen = [listed[rid.lower()] for rid in plan.read]
        return list(
            await asyncio.gather(
                *(
                    self.guarded(
                        resource.id,
                        f"read the resiliency of {kind} {resource.id}",
                        self._read(network, kind, group, resource),
                    )
                    for kind, group, resource in chosen
                )
            )
        )

    def promise(self, scope: Scope) -> float | None:
        return self.clients.planner.promise(self.name, scope.subscription_id)

    async def _read(self, network: Any, kind: str, group: str, resource: Any) -> Observation:
        try:
            if kind == "circuit":
                observed = await self._circuit(network, group, resource)
            else:
                observed = await self._gateway(network, group, resource)
        except CallFailed as failed:
            if _not_supported(failed.__cause__):
                observed = ResiliencyObserved(
                    observed_at=self.clock.now(),
                    source=self.name,
                    resource_id=resource.id,
                    kind=kind,
                    supported=False,
                    reason=failed.failure.reason,
                )
            else:
                self.clients.planner.missed(self.name, resource.id)
                raise
        signature = (observed.supported, observed.last_validation, observed.score)
        self.clients.planner.record(self.name, resource.id, signature, group=resource.id)
        return observed

    async def _circuit(self, network: Any, group: str, circuit: Any) -> ResiliencyObserved:
        name = circuit.name or name_of(circuit.id)
        circuits = network.express_route_circuits
        tests = await self.lro(
            f"getCircuitLinkFailoverAllTestsDetails on circuit {circuit.id}",
            lambda: circuits.begin_get_circuit_link_failover_all_tests_details(group, name),
        )
        last, succeeded, count = _newest_completed(tests or ())
        return ResiliencyObserved(
            observed_at=self.clock.now(),
            source=self.name,
            resource_id=circuit.id,
            kind="circuit",
            last_validation=last,
            last_validation_succeeded=succeeded,
            tests=count,
        )

    async def _gateway(self, network: Any, group: str, gateway: Any) -> ResiliencyObserved:
        name = gateway.name or name_of(gateway.id)
        gateways = network.virtual_network_gateways
        tests = await self.lro(
            f"getFailoverAllTestsDetails on gateway {gateway.id}",
            lambda: gateways.begin_get_failover_all_test_details(
                group, name, type=SITE_FAILOVER, fetch_latest=True
            ),
        )
        insights = await self.lro(
            f"getResiliencyInformation on gateway {gateway.id}",
            lambda: gateways.begin_get_resiliency_information(group, name),
        )
        last, succeeded, count = _newest_completed(tests or ())
        components = (insights.components if insights is not None else None) or ()
        return ResiliencyObserved(
            observed_at=self.clock.now(),
            source=self.name,
            resource_id=gateway.id,
            kind="gateway",
            last_validation=last,
            last_validation_succeeded=succeeded,
            tests=count,
            score=_number(insights.overall_score) if insights is not None else None,
            max_score=_number(insights.max_score_from_recommendations) if insights else None,
            computed_at=_aware(insights.last_computed_time) if insights is not None else None,
            recommendations=tuple(
                text(r.recommendation_title)
                for component in components
                for r in component.recommendations or ()
                if r.recommendation_title
            ),
        )


def _is_expressroute(gateway: Any) -> bool:
    props = gateway.properties
    return props is not None and text(props.gateway_type).lower() == "expressroute"


def _newest_completed(tests: Any) -> tuple[datetime | None, bool | None, int]:
    """The end of the newest completed test, whether it succeeded, and how many completed."""
    completed = [t for t in tests if text(t.status).lower() == "completed"]
    ended = [(end, t) for t in completed if (end := azure_time(t.end_time)) is not None]
    if not ended:
        return None, None, len(completed)
    end, newest = max(ended, key=lambda pair: pair[0])
    succeeded = getattr(newest, "was_simulation_successful", None)
    if succeeded is None:
        succeeded = not (newest.issues or ())
    return end, bool(succeeded), len(completed)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _number(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _not_supported(exc: BaseException | None) -> bool:
    """Azure's refusal of the feature for this resource (a 400 whose code says so)."""
    if not isinstance(exc, HttpResponseError) or exc.status_code != 400:
        return False
    code = (exc.error.code if exc.error is not None else "") or ""
    return any(marker in code.lower() for marker in _UNSUPPORTED_MARKERS)
