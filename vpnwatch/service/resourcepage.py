"""`/resources/<Azure resource id>`: the page of a gateway (instances, connections, tunnels, BGP
peers), an ExpressRoute circuit (peerings, links, connections) or an on-premises site.

A part of a resource (a tunnel, an instance, a peer, a link) has no page of its own: its URL sends
the browser to its owner's page, at its row.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from vpnwatch.agent import Agent
from vpnwatch.incidents import Incident
from vpnwatch.service.deps import AgentDep
from vpnwatch.service.fleet import FleetView, max_validation_age
from vpnwatch.service.links import RESOURCES, Links, anchor, entity_label
from vpnwatch.service.statuspage import HTML
from vpnwatch.service.templating import TEMPLATES

INCIDENTS_SHOWN = 20

router = APIRouter(tags=["status page"])


def _incidents(agent: Agent, resource_id: str) -> list[Incident]:
    if agent.store is None:
        return []
    found, _ = agent.store.list_incidents(resource=resource_id, limit=INCIDENTS_SHOWN)
    return found


@router.get(
    RESOURCES + "/{resource_path:path}",
    response_class=HTMLResponse,
    summary="Resource page (gateway, circuit or site)",
    include_in_schema=False,  # a page for people; the API has /api/v1
    responses={
        **HTML,
        307: {"description": "A part of a resource: its owner's page, at its row"},
        404: {"content": {"text/html": {}}, "description": "No such resource"},
    },
)
async def resource_page(request: Request, agent: AgentDep, resource_path: str) -> Response:
    entity_id = "/" + resource_path.strip("/")
    correlator = agent.correlator
    owner = None
    if correlator is not None:
        links = Links(correlator.state)
        owner = links.owner(entity_id)
    if correlator is None or owner is None:
        return TEMPLATES.TemplateResponse(
            request, "missing.html", {"what": f"resource {entity_id}"}, status_code=404
        )
    kind, key = owner
    if key != entity_id:
        return RedirectResponse(links.resource(entity_id) or "/", status_code=307)
    state = correlator.state
    view = FleetView(
        state, agent.clock.now(), correlator.monitor, max_validation_age(correlator)
    )
    incidents = await asyncio.to_thread(_incidents, agent, key)
    context: dict[str, object] = {
        "kind": kind,
        "links": links,
        "label": entity_label,
        "anchor": anchor,
        "incidents": incidents,
        "now": view.now,
        "demo": getattr(request.app.state, "demo", None),
    }
    if kind == "gateway":
        gateway = state.gateways[key]
        connections = [
            view.connection_out(c, state.connections[c]) for c in state.connections_of_gateway(key)
        ]
        peers = [view.bgp_peer_out(r) for r in view.bgp_items() if r.status.gateway_id == key]
        context.update(
            gw=view.gateway_out(key, gateway),
            key=key,
            connections=connections,
            peers=peers,
            bgp_rows=[r for r in view.bgp_items() if r.status.gateway_id == key],
            p2s_sessions=state.p2s_sessions.get(gateway.resource_id.lower()),
            title=gateway.name,
        )
    elif kind == "circuit":
        circuit = state.circuits[key]
        connections = [
            view.connection_out(c, state.connections[c]) for c in state.connections_of_peer(key)
        ]
        context.update(
            circuit=view.circuit_out(key, circuit), key=key, connections=connections,
            title=circuit.name,
        )  # fmt: skip
    else:
        site = state.sites[key]
        connections = [
            view.connection_out(c, state.connections[c]) for c in state.connections_of_peer(key)
        ]
        context.update(
            site=view.site_out(key, site), key=key, connections=connections, title=site.name
        )
    return TEMPLATES.TemplateResponse(request, "resource_page.html", context)
