"""The status page at `/`: what an on-call engineer opens first, rendered on the server.

Plain HTML from Jinja2 templates, no script: it must work in any browser, in a terminal browser
and when half the network is down. It refreshes itself every 30 seconds with a meta tag.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from vpnwatch.incidents import Incident, IncidentStatus, Severity
from vpnwatch.service.deps import AgentDep
from vpnwatch.service.fleet import FleetView, incident_detail
from vpnwatch.service.health import fleet_health
from vpnwatch.service.schemas import GatewayOut, IncidentDetail

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
RESOLVED_SHOWN = 10
ZONE_REDUNDANT = "Zone-redundant"
TIMELINE_SHOWN = 25

router = APIRouter(tags=["status page"])

_SEVERITY_ORDER = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}


@dataclass(slots=True)
class ZoneGroup:
    title: str
    gateways: list[GatewayOut] = field(default_factory=list)


@dataclass(slots=True)
class RegionGroup:
    region: str
    zones: list[ZoneGroup] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def zone_title(gateway: GatewayOut) -> str:
    if not gateway.zones:
        return "No zone"
    if len(gateway.zones) == 1:
        return f"Zone {gateway.zones[0]}"
    return ZONE_REDUNDANT


def group_gateways(gateways: list[GatewayOut]) -> list[RegionGroup]:
    """Region, then zone (zonal first, in zone order; then zone-redundant; then no zone)."""
    regions: dict[str, dict[str, ZoneGroup]] = {}
    for gw in gateways:
        zones = regions.setdefault(gw.region, {})
        title = zone_title(gw)
        zones.setdefault(title, ZoneGroup(title)).gateways.append(gw)

    def zone_key(title: str) -> tuple[int, str]:
        rank = 2 if title == "No zone" else 1 if title == ZONE_REDUNDANT else 0
        return rank, title

    groups = []
    for region in sorted(regions):
        zones = [regions[region][t] for t in sorted(regions[region], key=zone_key)]
        counts: dict[str, int] = {}
        for zone in zones:
            for gw in zone.gateways:
                counts[gw.health.value] = counts.get(gw.health.value, 0) + 1
        groups.append(RegionGroup(region=region, zones=zones, counts=counts))
    return groups


def _children(incident: Incident, incidents: list[Incident]) -> list[Incident]:
    return [i for i in incidents if i.parent_key == incident.key and i.id != incident.id]


def open_incident_details(incidents: list[Incident]) -> list[IncidentDetail]:
    """Open top-level incidents, most severe and oldest first, each with its children."""
    ordered = sorted(
        incidents, key=lambda i: (_SEVERITY_ORDER.get(Severity(i.severity), 9), i.opened_at)
    )
    keys = {i.key for i in incidents}
    top = [i for i in ordered if i.parent_key is None or i.parent_key not in keys]
    return [incident_detail(i, _children(i, ordered)) for i in top]


def when(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(value: float | None) -> str:
    if value is None:
        return "never"
    seconds = int(value)
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


TEMPLATES.env.filters["when"] = when
TEMPLATES.env.filters["ago"] = ago


@router.get(
    "/",
    response_class=HTMLResponse,
    summary="Status page",
    responses={200: {"content": {"text/html": {}}, "description": "The status page"}},
)
async def status_page(request: Request, agent: AgentDep) -> HTMLResponse:
    health = fleet_health(agent)
    correlator = agent.correlator
    opened: list[IncidentDetail] = []
    regions: list[RegionGroup] = []
    if correlator is not None:
        view = FleetView(correlator.state, agent.clock.now())
        regions = group_gateways(view.gateways())
        live = [i for i in correlator.open_incidents() if i.status is IncidentStatus.OPEN]
        opened = open_incident_details(live)
    resolved: list[Incident] = []
    if agent.store is not None:
        resolved, _ = await asyncio.to_thread(
            agent.store.list_incidents, status=IncidentStatus.RESOLVED, limit=RESOLVED_SHOWN
        )
    return TEMPLATES.TemplateResponse(
        request,
        "status.html",
        {
            "health": health,
            "incidents": opened,
            "resolved": resolved,
            "regions": regions,
            "timeline_shown": TIMELINE_SHOWN,
            "gateway_total": sum(len(z.gateways) for r in regions for z in r.zones),
        },
    )
