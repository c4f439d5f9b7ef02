"""Where the pages link to: an incident's page, and the page that shows a resource or a part of it.

Resource pages exist for gateways, circuits and sites. A connection, tunnel, instance or BGP peer
is shown on its gateway's page, a peering or link on its circuit's page, so an entity id links to
its owner's page with an anchor on the row (`#tunnel-...`).
"""

from __future__ import annotations

import re
from urllib.parse import quote

from vpnwatch.correlate import FleetState
from vpnwatch.resourceids import name_of

RESOURCES = "/resources"
INCIDENTS = "/incidents"

# entity id = owner resource id + one of these parts (see correlate/entities.py)
_PARTS = re.compile(r"/(instances|tunnels|bgpPeers|peerings)/", re.IGNORECASE)


def incident_url(incident_id: str) -> str:
    return f"{INCIDENTS}/{quote(incident_id, safe='')}"


def resource_path_url(resource_id: str) -> str:
    """The page URL of a gateway, circuit or site id (Azure ids start with `/subscriptions`)."""
    return RESOURCES + quote(resource_id, safe="/")


def anchor(entity_id: str) -> str:
    """The HTML id of the row showing `entity_id` on its owner's page."""
    return "e-" + re.sub(r"[^A-Za-z0-9]+", "-", entity_id.lower()).strip("-")


def split_entity(entity_id: str) -> tuple[str, str | None]:
    """(the resource id an entity belongs to, the part below it or None)."""
    found = _PARTS.search(entity_id)
    if found is None:
        return entity_id, None
    return entity_id[: found.start()], entity_id[found.start() :]


class Links:
    """Turns entity ids into page URLs, using the fleet state to find each one's owner."""

    def __init__(self, state: FleetState) -> None:
        self.state = state

    def incident(self, incident_id: str) -> str:
        return incident_url(incident_id)

    def owner(self, entity_id: str) -> tuple[str, str] | None:
        """(kind of page: gateway | circuit | site, the owner's key in the state) or None."""
        resource_id, _ = split_entity(entity_id)
        key = self.state.key_of(resource_id)
        if key is None:
            return None
        if key in self.state.gateways:
            return "gateway", key
        if key in self.state.circuits:
            return "circuit", key
        if key in self.state.sites:
            return "site", key
        connection = self.state.connections.get(key)
        if connection is not None:
            gateway = self.state.key_of(connection.gateway_id)
            if gateway is not None and gateway in self.state.gateways:
                return "gateway", gateway
        return None

    def resource(self, entity_id: str | None) -> str | None:
        """The URL showing `entity_id`, or None when vpnwatch has no page for it."""
        if not entity_id:
            return None
        owner = self.owner(entity_id)
        if owner is None:
            return None
        url = resource_path_url(owner[1])
        return url if owner[1] == entity_id else f"{url}#{anchor(entity_id)}"


def entity_label(entity_id: str) -> str:
    """What a person calls an entity: `cn-paris · tunnel 0`, `vgw-1 · instance default`."""
    resource_id, part = split_entity(entity_id)
    name = name_of(resource_id)
    if part is None:
        return name
    bits = part.strip("/").split("/")
    kind = bits[0].lower()
    if kind == "instances":
        return f"{name} · instance {'/'.join(bits[1:])}"
    if kind == "tunnels":
        return f"{name} · tunnel {'/'.join(bits[1:])}"
    if kind == "bgppeers" and len(bits) >= 3:
        return f"{name} · BGP peer {bits[2]} (from {bits[1]})"
    if kind == "peerings" and len(bits) >= 4:
        return f"{name} · {bits[1]} {bits[3]} link"
    if kind == "peerings":
        return f"{name} · {bits[1]}"
    return f"{name} · {'/'.join(bits)}"
