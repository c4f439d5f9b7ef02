"""`/api/v1`: the fleet and its incidents, for dashboards, scripts and the on-call engineer's curl.

Lists are sorted by name and paged with `limit`/`offset`; every page says the `total` and the URL
of the `next` page. Fleet lists read the correlator's live state; incidents read the store, so
resolved incidents stay visible after a restart.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from vpnwatch.agent import Agent
from vpnwatch.collect.p2shealth import NotAffordable
from vpnwatch.correlate import FleetState
from vpnwatch.incidents import IncidentStatus, IncidentType, Severity
from vpnwatch.observations import ConnectionObserved, ResourceUnknown
from vpnwatch.service.deps import AgentDep
from vpnwatch.service.fleet import (
    FleetView,
    incident_detail,
    incident_out,
    max_validation_age,
    p2s_sessions_out,
    resource_name,
)
from vpnwatch.service.schemas import (
    BgpPeerPage,
    CircuitPage,
    ConnectionPage,
    EntityHealth,
    ErrorResponse,
    GatewayPage,
    IncidentDetail,
    IncidentPage,
    P2SSessionsOut,
    SitePage,
)

router = APIRouter(prefix="/api/v1", tags=["api"])

T = TypeVar("T")
M = TypeVar("M")

FleetLimit = Annotated[int, Query(ge=1, le=5000, description="Page size.")]
IncidentLimit = Annotated[int, Query(ge=1, le=1000, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip.")]
RegionFilter = Annotated[
    str | None, Query(max_length=64, description="Only this Azure region, e.g. `westeurope`.")
]
HealthFilter = Annotated[EntityHealth | None, Query(description="Only this health.")]


def _view(agent: Agent) -> FleetView:
    """The fleet as the correlator sees it now; empty until the agent has opened."""
    if agent.correlator is None:
        return FleetView(FleetState(agent.settings.correlator.state), agent.clock.now())
    correlator = agent.correlator
    return FleetView(
        correlator.state, agent.clock.now(), correlator.monitor, max_validation_age(correlator)
    )


def _next_url(request: Request, total: int, limit: int, offset: int) -> str | None:
    if offset + limit >= total:
        return None
    query = dict(request.query_params)
    query["offset"] = str(offset + limit)
    query["limit"] = str(limit)
    return f"{request.url.path}?{urlencode(query)}"


def _page(
    request: Request, items: Sequence[T], limit: int, offset: int, build: Callable[[T], M]
) -> tuple[list[M], dict[str, Any]]:
    """Models for one page of `items` (already filtered and sorted), and the page's metadata.

    Only the page is turned into response models: a 1,000-gateway fleet is filtered cheaply.
    """
    total = len(items)
    page = [build(item) for item in items[offset : offset + limit]]
    meta = {
        "total": total,
        "limit": limit,
        "offset": offset,
        "next": _next_url(request, total, limit, offset),
    }
    return page, meta


def _same(wanted: str | None, *values: str) -> bool:
    return wanted is None or wanted.lower() in (v.lower() for v in values)


@router.get("/gateways", response_model=GatewayPage, summary="Virtual network gateways")
async def list_gateways(
    request: Request,
    agent: AgentDep,
    region: RegionFilter = None,
    health: HealthFilter = None,
    limit: FleetLimit = 500,
    offset: Offset = 0,
) -> GatewayPage:
    """VPN and ExpressRoute gateways with their instances, zones, SKU and health."""
    view = _view(agent)
    items = [
        (k, g)
        for k, g in view.gateway_items()
        if _same(region, g.region) and (health is None or view.health(k) is health)
    ]
    page, meta = _page(request, items, limit, offset, lambda kg: view.gateway_out(*kg))
    return GatewayPage(items=page, **meta)


def _error(status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> Any:
    body = ErrorResponse(error=error, detail=detail).model_dump()
    return JSONResponse(body, status_code=status, headers=headers)


@router.post(
    "/gateways/{gateway_id:path}/p2s-sessions",
    response_model=P2SSessionsOut,
    summary="Read a gateway's point-to-site sessions now (one getVpnclientConnectionHealth)",
    responses={
        404: {"model": ErrorResponse, "description": "No such gateway"},
        409: {"model": ErrorResponse, "description": "Not enabled, or no point-to-site"},
        429: {"model": ErrorResponse, "description": "The write budget cannot pay for it now"},
        502: {"model": ErrorResponse, "description": "Azure did not answer"},
    },
)
async def read_p2s_sessions(
    agent: AgentDep,
    gateway_id: Annotated[str, Path(max_length=1024, description="The gateway's resource id.")],
) -> P2SSessionsOut | JSONResponse:
    """A long-running POST charged as a write: at most one per gateway per
    `collectors.vpn_client_health.min_interval_seconds`; inside it the last reading comes back
    (`fresh: false`)."""
    reads = agent.p2s_sessions
    if reads is None:
        return _error(409, "not_enabled", "set collectors.vpn_client_health.enabled: true")
    wanted = "/" + gateway_id.strip("/")
    gateway = _view(agent).gateway(wanted)
    if gateway is None:
        return _error(404, "not_found", f"no gateway {wanted!r}")
    if gateway.p2s is None:
        return _error(409, "no_p2s", f"gateway {gateway.name} has no point-to-site configuration")
    held = reads.reader.fresh(gateway.resource_id)
    try:
        observed = await reads.read(gateway.resource_id, "api")
    except NotAffordable as exc:
        retry = str(max(1, math.ceil(exc.wait_seconds)))
        return _error(429, "budget", str(exc), {"Retry-After": retry})
    if isinstance(observed, ResourceUnknown):
        return _error(502, "azure", observed.reason)
    return p2s_sessions_out(observed, fresh=held is None)


@router.get("/connections", response_model=ConnectionPage, summary="Gateway connections")
async def list_connections(
    request: Request,
    agent: AgentDep,
    region: RegionFilter = None,
    health: HealthFilter = None,
    gateway: Annotated[
        str | None, Query(max_length=1024, description="Only this gateway (name or id).")
    ] = None,
    limit: FleetLimit = 500,
    offset: Offset = 0,
) -> ConnectionPage:
    """Site-to-site, VNet-to-VNet and ExpressRoute connections, each with its tunnels (one per
    gateway instance) and the health of every tunnel."""
    view = _view(agent)

    def gateway_of(conn: ConnectionObserved) -> tuple[str, str]:
        gw = view.gateway(conn.gateway_id)
        return (gw.name if gw else resource_name(conn.gateway_id)), conn.gateway_id

    items = [
        (k, c)
        for k, c in view.connection_items()
        if _same(region, c.region)
        and (health is None or view.health(k) is health)
        and (gateway is None or _same(gateway, *gateway_of(c)))
    ]
    page, meta = _page(request, items, limit, offset, lambda kc: view.connection_out(*kc))
    return ConnectionPage(items=page, **meta)


@router.get("/bgp-peers", response_model=BgpPeerPage, summary="BGP peers of the gateways")
async def list_bgp_peers(
    request: Request,
    agent: AgentDep,
    health: HealthFilter = None,
    gateway: Annotated[
        str | None, Query(max_length=1024, description="Only this gateway (name or id).")
    ] = None,
    limit: FleetLimit = 500,
    offset: Offset = 0,
) -> BgpPeerPage:
    """One row per (gateway instance BGP address, neighbor), with routes learned."""
    view = _view(agent)
    items = [
        r
        for r in view.bgp_items()
        if (health is None or view.health(r.entity_id) is health)
        and _same(gateway, r.gateway_name, r.status.gateway_id)
    ]
    page, meta = _page(request, items, limit, offset, view.bgp_peer_out)
    return BgpPeerPage(items=page, **meta)


@router.get("/sites", response_model=SitePage, summary="On-premises sites (local network gateways)")
async def list_sites(
    request: Request,
    agent: AgentDep,
    region: RegionFilter = None,
    health: HealthFilter = None,
    limit: FleetLimit = 500,
    offset: Offset = 0,
) -> SitePage:
    view = _view(agent)
    items = [
        (k, s)
        for k, s in view.site_items()
        if _same(region, s.region) and (health is None or view.health(k) is health)
    ]
    page, meta = _page(request, items, limit, offset, lambda ks: view.site_out(*ks))
    return SitePage(items=page, **meta)


@router.get("/circuits", response_model=CircuitPage, summary="ExpressRoute circuits")
async def list_circuits(
    request: Request,
    agent: AgentDep,
    region: RegionFilter = None,
    health: HealthFilter = None,
    limit: FleetLimit = 500,
    offset: Offset = 0,
) -> CircuitPage:
    """Circuits with their peerings and the primary and secondary link of each."""
    view = _view(agent)
    items = [
        (k, c)
        for k, c in view.circuit_items()
        if _same(region, c.region) and (health is None or view.health(k) is health)
    ]
    page, meta = _page(request, items, limit, offset, lambda kc: view.circuit_out(*kc))
    return CircuitPage(items=page, **meta)


@router.get("/incidents", response_model=IncidentPage, summary="Incidents, newest first")
async def list_incidents(
    request: Request,
    agent: AgentDep,
    status: Annotated[IncidentStatus | None, Query(description="open or resolved")] = None,
    type_: Annotated[IncidentType | None, Query(alias="type")] = None,
    severity: Annotated[Severity | None, Query()] = None,
    resource: Annotated[
        str | None, Query(max_length=1024, description="Only incidents about this resource id.")
    ] = None,
    limit: IncidentLimit = 100,
    offset: Offset = 0,
) -> IncidentPage:
    store = agent.store
    if store is None:
        return IncidentPage(items=[], total=0, limit=limit, offset=offset, next=None)
    incidents, total = await asyncio.to_thread(
        store.list_incidents,
        status=status,
        type=type_,
        severity=severity,
        resource=resource,
        limit=limit,
        offset=offset,
    )
    return IncidentPage(
        items=[incident_out(i) for i in incidents],
        total=total,
        limit=limit,
        offset=offset,
        next=_next_url(request, total, limit, offset),
    )


@router.get(
    "/incidents/{incident_id}",
    response_model=IncidentDetail,
    summary="One incident with its timeline and child incidents",
    responses={404: {"model": ErrorResponse, "description": "No incident with this id"}},
)
async def get_incident(
    agent: AgentDep,
    incident_id: Annotated[str, Path(max_length=128, description="The incident's id.")],
) -> IncidentDetail | JSONResponse:
    store = agent.store
    incident = None if store is None else await asyncio.to_thread(store.get_incident, incident_id)
    if incident is None or store is None:
        return JSONResponse(
            ErrorResponse(
                error="not_found", detail=f"no incident with id {incident_id!r}"
            ).model_dump(),
            status_code=404,
        )
    children = await asyncio.to_thread(store.children, incident)
    return incident_detail(incident, children)
