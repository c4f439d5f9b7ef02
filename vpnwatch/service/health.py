"""`/livez`, `/readyz` and `/health`: what load balancers and the monitoring host's checker ask.

With the default `agent` policy `/health` answers 503 only when vpnwatch itself cannot be trusted
(not ready, or blind), so a checker pointed at it tracks the monitor, not the network it watches:
a tunnel going down must page through incidents, not make the monitor look dead. The `fleet`
policy adds 503 when the fleet is down, for setups that want one probe for both.

`/readyz` and `/health` answer from their rendered bodies (`ReadModels`): rendered when asked,
`HealthCache` keeping that cheap; under `vpnwatch run` the agent process also publishes them a
few times a second to the front, which answers the probes from the last publication without
waiting for the agent's loop (`vpnwatch.runtime`).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from vpnwatch.agent import Agent
from vpnwatch.config import HealthStatusPolicy
from vpnwatch.correlate.entities import EntityKind
from vpnwatch.incidents import Severity
from vpnwatch.service.auth import require_reader
from vpnwatch.service.fleet import FleetView
from vpnwatch.service.published import Published
from vpnwatch.service.schemas import (
    CollectorFreshness,
    HealthCounts,
    HealthResponse,
    LivezResponse,
    OverallStatus,
    ReadyCheck,
    ReadyzResponse,
    SeverityCounts,
    SubscriptionBudgetOut,
)

router = APIRouter(tags=["health"])


def readiness(agent: Agent) -> ReadyzResponse:
    store_open = agent.store is not None
    ready = agent.ready
    checks = [
        ReadyCheck(name="config", ok=True, detail="settings loaded and validated"),
        ReadyCheck(
            name="store",
            ok=store_open,
            detail=f"open at {agent.settings.store.path}" if store_open else "store not open yet",
        ),
        ReadyCheck(
            name="store_writable",
            ok=agent.store_writable,
            detail="the last write landed"
            if agent.store_writable
            else "writes fail (disk full?); changes are kept in memory and retried",
        ),
        ReadyCheck(
            name="first_collection",
            ok=ready,
            detail="every collector completed a pass"
            if ready
            else "waiting for every collector to complete its first pass",
        ),
    ]
    return ReadyzResponse(ready=all(c.ok for c in checks), checks=checks)


def freshness(agent: Agent, now: datetime) -> list[CollectorFreshness]:
    staleness = agent.settings.correlator.state.staleness_seconds
    out = []
    for status in agent.collector_status():
        age = (now - status.last_success_at).total_seconds() if status.last_success_at else None
        limit = max(2 * status.interval_seconds, staleness)
        out.append(
            CollectorFreshness(
                name=status.name,
                interval_seconds=status.interval_seconds,
                last_run_at=status.last_run_at,
                last_success_at=status.last_success_at,
                age_seconds=None if age is None else max(0.0, age),
                stale=age is None or age > limit,
                last_error=status.last_error,
                runs=status.runs,
                failures=status.failures,
            )
        )
    return out


def fleet_health(agent: Agent) -> HealthResponse:
    """The overall status: `unknown` while vpnwatch cannot tell (not ready, blind, or every
    entity stale), `down` with an open critical incident or a gateway down (every connection
    down: a full outage, even while its failover is still only `info`), `degraded` with an open
    warning or an entity down or degraded, else `healthy`."""
    now = agent.clock.now()
    severities = SeverityCounts()
    correlator = agent.correlator
    if correlator is not None:
        counts, by_kind = FleetView(correlator.state, now).health_counts()
        for (_, severity), n in correlator.open_counts().items():
            key = Severity(severity).value
            setattr(severities, key, getattr(severities, key) + n)
    else:
        counts, by_kind = HealthCounts(), {}
    ready, blind = agent.ready, agent.blind
    known = counts.up + counts.degraded + counts.down
    if not ready or blind or (counts.unknown and not known):
        status = OverallStatus.UNKNOWN
    elif severities.critical or by_kind.get(EntityKind.GATEWAY.value, HealthCounts()).down:
        status = OverallStatus.DOWN
    elif severities.warning or counts.down or counts.degraded:
        status = OverallStatus.DEGRADED
    else:
        status = OverallStatus.HEALTHY
    return HealthResponse(
        status=status,
        ready=ready,
        blind=blind,
        checked_at=now,
        entities=counts,
        entities_by_kind=by_kind,
        open_incidents=severities,
        collectors=freshness(agent, now),
        subscriptions=budgets(agent),
    )


def budgets(agent: Agent) -> list[SubscriptionBudgetOut]:
    return [
        SubscriptionBudgetOut(
            subscription_id=b.subscription_id,
            model=b.model,
            share=b.share,
            reads_per_second=round(b.reads_per_second, 3),
            writes_per_second=round(b.writes_per_second, 3),
            reads_remaining=b.reads_remaining,
            writes_remaining=b.writes_remaining,
            reads_per_hour=round(b.reads_per_hour, 1),
            writes_per_hour=round(b.writes_per_hour, 1),
            throttled=b.throttled,
            connections=b.connections,
            configured_interval_seconds=b.configured_interval_seconds,
            effective_interval_seconds=b.effective_interval_seconds,
            achieved_interval_seconds=b.achieved_interval_seconds,
            oldest_connection_age_seconds=b.oldest_connection_age_seconds,
            bgp_interval_seconds=b.bgp_interval_seconds,
            limited=b.limited,
        )
        for b in agent.budgets()
    ]


def health_status_code(health: HealthResponse, policy: HealthStatusPolicy) -> int:
    if not health.ready or health.blind:
        return 503
    if policy is HealthStatusPolicy.FLEET and health.status is OverallStatus.DOWN:
        return 503
    return 200


def _published(request: Request) -> Published:
    models: ReadModels = request.app.state.read_models
    return models.publish()


def _json(body: bytes, status: int) -> Response:
    return Response(body, status_code=status, media_type="application/json")


@router.get(
    "/livez",
    response_model=LivezResponse,
    summary="The process is alive: its agent's event loop is not stuck",
    responses={503: {"model": LivezResponse, "description": "The agent's event loop is stuck"}},
)
async def livez() -> Response:
    """Answered here, the agent's loop runs. Under `vpnwatch run` the front answers instead, 503
    once the agent process has not published for a minute (`vpnwatch.runtime.front`)."""
    return _json(ALIVE, 200)


ALIVE = LivezResponse().model_dump_json().encode()


@router.get(
    "/readyz",
    response_model=ReadyzResponse,
    summary="Ready to serve: config loaded, store open, first collection done",
    responses={503: {"model": ReadyzResponse, "description": "Not ready; `checks` says why"}},
)
async def readyz(request: Request) -> Response:
    published = _published(request)
    return _json(published.ready, published.ready_status)


@router.get(
    "/health",
    dependencies=[Depends(require_reader)],
    response_model=HealthResponse,
    summary="Overall status, open incidents, data freshness",
    responses={
        503: {
            "model": HealthResponse,
            "description": "vpnwatch is not ready or blind (or, with the `fleet` policy, the "
            "fleet is down)",
        }
    },
)
async def health(request: Request) -> Response:
    published = _published(request)
    return _json(published.health, published.health_status)


class HealthCache:
    """`/health`'s answer, rendered at most once per `max_age_seconds` of the agent's clock and
    again after every correlation step or change of readiness, blindness or collector passes.

    Load balancers and checkers poll `/health` many times a second; every one of them would
    otherwise build the same models and JSON (per-subscription budgets, collector freshness)
    on the event loop. `checked_at` in the body says when the answer was made.
    """

    def __init__(self, agent: Agent, max_age_seconds: float = 1.0) -> None:
        self._agent = agent
        self._max_age = max_age_seconds
        self._steps = 0
        self._key: tuple[object, ...] | None = None
        self._at: datetime | None = None
        self._answer: tuple[bytes, int] = (b"", 503)
        agent.add_listener(self._stepped)

    def _stepped(self, result: object) -> None:
        self._steps += 1

    def answer(self) -> tuple[bytes, int]:
        agent = self._agent
        now = agent.clock.now()
        runs = sum(s.runs for s in agent.collector_status())
        key = (self._steps, runs, agent.ready, agent.blind, agent.store_writable)
        at = self._at
        age = None if at is None else (now - at).total_seconds()
        if key != self._key or age is None or not 0 <= age < self._max_age:
            body = fleet_health(agent)
            policy = agent.settings.service.health_status_policy
            self._answer = (
                body.model_dump_json().encode(),
                health_status_code(body, policy),
            )
            self._key, self._at = key, now
        return self._answer


class ReadModels:
    """What `/readyz` and `/health` answer from, rendered as one immutable `Published`."""

    def __init__(self, agent: Agent, health: HealthCache) -> None:
        self._agent = agent
        self._health = health

    def publish(self) -> Published:
        """Render the answers from agent state; on the agent's loop."""
        health, health_status = self._health.answer()
        ready = readiness(self._agent)
        return Published(
            health=health,
            health_status=health_status,
            ready=ready.model_dump_json().encode(),
            ready_status=200 if ready.ready else 503,
        )
