"""The status page at `/`: what an on-call engineer opens first, rendered on the server.

Plain HTML and inline SVG from Jinja2 templates, no script: it must work in any browser, in a
terminal browser and when half the network is down. It refreshes itself every 30 seconds with a
meta tag. Every incident and resource named on it links to its own page.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from vpnwatch.correlate.entities import EntityKind, Health
from vpnwatch.incidents import Incident, IncidentStatus, Severity
from vpnwatch.service.deps import AgentDep
from vpnwatch.service.fleet import FleetView, incident_detail
from vpnwatch.service.headline import FullOutage, full_outages, headline
from vpnwatch.service.health import fleet_health
from vpnwatch.service.links import Links, entity_label
from vpnwatch.service.schemas import GatewayOut, IncidentDetail
from vpnwatch.service.silenced import silenced
from vpnwatch.service.templating import TEMPLATES
from vpnwatch.service.topology import build_topology

RESOLVED_SHOWN = 10
ZONE_REDUNDANT = "Zone-redundant"
TIMELINE_SHOWN = 25
NOT_UP_SHOWN = 50  # per health; the count says how many there are in all

router = APIRouter(tags=["status page"])

_SEVERITY_ORDER = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}
HTML = {200: {"content": {"text/html": {}}, "description": "An HTML page"}}


@dataclass(slots=True)
class ZoneGroup:
    title: str
    gateways: list[GatewayOut] = field(default_factory=list)


@dataclass(slots=True)
class RegionGroup:
    region: str
    zones: list[ZoneGroup] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NotUp:
    """One entity that is not up, as the "which ones" list shows it."""

    entity_id: str
    kind: str
    label: str
    health: str
    why: str
    url: str | None


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


def _roots(incidents: list[Incident], shown: list[IncidentDetail]) -> list[Incident]:
    """The root incidents among `incidents`: only those are ever sent, so only those are
    silenced."""
    ids = {i.id for i in shown}
    return [i for i in incidents if i.id in ids]


def not_up(view: FleetView, links: Links, limit: int = NOT_UP_SHOWN) -> dict[str, list[NotUp]]:
    """Entities down, degraded or unknown (at most `limit` of each), worst-named first.

    Down and degraded come from the state's index of unhealthy entities; only when something is
    unknown does this walk the fleet, and it stops once it has `limit` of them.
    """
    state, now = view.state, view.now
    found: dict[str, list[NotUp]] = {"down": [], "degraded": [], "unknown": []}

    def add(entity_id: str, health: Health) -> None:
        entity = state.entities.get(entity_id)
        why = ""
        if entity is not None:
            why = entity.unknown_reason or entity.evidence or ""
            if health is Health.UNKNOWN and not entity.unknown_reason:
                why = "no fresh data"
        found[health.value].append(
            NotUp(
                entity_id,
                str(entity.kind) if entity else "",
                entity_label(entity_id),
                health.value,
                why,
                links.resource(entity_id),
            )
        )

    for kind in EntityKind:
        for entity_id in sorted(state.unhealthy(kind)):
            health = state.health_of(entity_id, now)
            if health in (Health.DOWN, Health.DEGRADED) and len(found[health.value]) < limit:
                add(entity_id, health)
    for entity in state.entities.values():
        if len(found["unknown"]) >= limit:
            break
        if state.effective(entity, now) is Health.UNKNOWN:
            add(entity.entity_id, Health.UNKNOWN)
    for rows in found.values():
        rows.sort(key=lambda r: (r.kind, r.label))
    return found


@router.get("/", response_class=HTMLResponse, summary="Status page", responses=HTML)
async def status_page(request: Request, agent: AgentDep) -> HTMLResponse:
    health = fleet_health(agent)
    correlator = agent.correlator
    opened: list[IncidentDetail] = []
    regions: list[RegionGroup] = []
    links = topology = None
    listed: dict[str, list[NotUp]] = {"down": [], "degraded": [], "unknown": []}
    live: list[Incident] = []
    outages: list[FullOutage] = []
    now = agent.clock.now()
    if correlator is not None:
        view = FleetView(correlator.state, now)
        links = Links(correlator.state)
        regions = group_gateways(view.gateways())
        live = [i for i in correlator.open_incidents() if i.status is IncidentStatus.OPEN]
        opened = open_incident_details(live)
        topology = build_topology(view, links)
        listed = not_up(view, links)
        outages = full_outages(view, links)
    resolved: list[Incident] = []
    if agent.store is not None:
        resolved, _ = await asyncio.to_thread(
            agent.store.list_incidents, status=IncidentStatus.RESOLVED, limit=RESOLVED_SHOWN
        )
    # the header counts what the list shows: root incidents (children are inside them)
    roots = Counter(i.severity.value for i in opened)
    demo = getattr(request.app.state, "demo", None)
    return TEMPLATES.TemplateResponse(
        request,
        "status.html",
        {
            "health": health,
            "incidents": opened,
            "root_counts": roots,
            "headline": headline((i.severity for i in opened), outages),
            "silenced": silenced(agent.notifications, _roots(live, opened), now),
            "resolved": resolved,
            "regions": regions,
            "links": links,
            "topo": topology,
            "not_up": listed,
            "label": entity_label,
            "timeline_shown": TIMELINE_SHOWN,
            "gateway_total": sum(len(z.gateways) for r in regions for z in r.zones),
            "demo": demo,
            "oncall": demo.inbox if demo is not None else None,
        },
    )


@router.get(
    "/topology.svg",
    summary="The estate as a picture (SVG), links coloured by health",
    response_class=Response,
    include_in_schema=False,  # a picture for people, like the pages under /incidents, /resources
)
async def topology_svg(request: Request, agent: AgentDep) -> Response:
    correlator = agent.correlator
    if correlator is None:
        return Response(
            '<svg xmlns="http://www.w3.org/2000/svg" width="400" height="30">'
            '<text x="10" y="20">No data yet</text></svg>',
            media_type="image/svg+xml",
        )
    view = FleetView(correlator.state, agent.clock.now())
    topo = build_topology(view, Links(correlator.state))
    body = TEMPLATES.get_template("topology.svg").render(topo=topo)
    return Response(body, media_type="image/svg+xml")
