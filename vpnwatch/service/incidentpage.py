"""`/incidents/<id>`: one incident with its timeline, resources, evidence, children and parent, and
a picture of who was down when.

The incident comes from the store (resolved ones stay visible after a restart); an open one is
taken from the correlator, whose copy is the freshest.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from vpnwatch.agent import Agent
from vpnwatch.incidents import Incident
from vpnwatch.service.deps import AgentDep
from vpnwatch.service.fleet import FleetView
from vpnwatch.service.links import Links, entity_label
from vpnwatch.service.outage import build_outage_picture
from vpnwatch.service.silenced import silences_holding
from vpnwatch.service.statuspage import HTML
from vpnwatch.service.templating import TEMPLATES

PARENT_SEARCH = 500  # recent incidents scanned for a resolved parent

router = APIRouter(tags=["status page"])


def _live(agent: Agent, incident_id: str) -> Incident | None:
    if agent.correlator is None:
        return None
    return next((i for i in agent.correlator.open_incidents() if i.id == incident_id), None)


def _parent(agent: Agent, incident: Incident) -> Incident | None:
    """The incident `incident` is grouped under: same key, and a lifetime that overlaps."""
    if incident.parent_key is None:
        return None
    if agent.correlator is not None:
        for i in agent.correlator.open_incidents():
            if i.key == incident.parent_key:
                return i
    if agent.store is None:
        return None
    recent, _ = agent.store.list_incidents(limit=PARENT_SEARCH)
    for i in recent:
        if i.key != incident.parent_key or i.opened_at > (incident.resolved_at or i.opened_at):
            continue
        if i.resolved_at is None or i.resolved_at >= incident.opened_at:
            return i
    return None


def _lookup(agent: Agent, incident_id: str) -> tuple[Incident, list[Incident], Incident | None]:
    store = agent.store
    incident = _live(agent, incident_id) or (store.get_incident(incident_id) if store else None)
    if incident is None:
        raise LookupError(incident_id)
    children = store.children(incident) if store is not None else []
    return incident, children, _parent(agent, incident)


@router.get(
    "/incidents/{incident_id}",
    response_class=HTMLResponse,
    summary="Incident page",
    include_in_schema=False,  # a page for people; the API has /api/v1
    responses={**HTML, 404: {"content": {"text/html": {}}, "description": "No such incident"}},
)
async def incident_page(
    request: Request,
    agent: AgentDep,
    incident_id: Annotated[str, Path(max_length=128, description="The incident's id.")],
) -> HTMLResponse:
    try:
        incident, children, parent = await asyncio.to_thread(_lookup, agent, incident_id)
    except LookupError:
        return TEMPLATES.TemplateResponse(
            request, "missing.html", {"what": f"incident {incident_id}"}, status_code=404
        )
    now = agent.clock.now()
    correlator = agent.correlator
    links = picture = None
    health: dict[str, str] = {}
    if correlator is not None:
        state = correlator.state
        links = Links(state)
        view = FleetView(state, now)
        health = {r: view.health(r).value for r in incident.resources}
        picture = build_outage_picture(
            incident, children, state, links, now,
            agent.settings.correlator.failover.slo_seconds,
        )  # fmt: skip
    return TEMPLATES.TemplateResponse(
        request,
        "incident_page.html",
        {
            "incident": incident,
            "children": children,
            "parent": parent,
            "links": links,
            "label": entity_label,
            "health": health,
            "pic": picture,
            "now": now,
            "held": silences_holding(agent.notifications, incident, now)
            if incident.parent_key is None
            else [],
            "demo": getattr(request.app.state, "demo", None),
        },
    )
