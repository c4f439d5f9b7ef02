"""Resource Health availability statuses of gateways, connections and circuits.

Served paths (`azure-mgmt-resourcehealth`'s `availability_statuses`):

* `GET /subscriptions/{sub}/providers/Microsoft.ResourceHealth/availabilityStatuses`
  (`list_by_subscription_id`): every gateway, connection and circuit of the subscription, paged
  with an absolute `nextLink` carrying `$skipToken`;
* `GET {rg}/providers/Microsoft.ResourceHealth/availabilityStatuses`, `{rg}` being
  `/subscriptions/{sub}/resourceGroups/{name}`
  (`list_by_resource_group`);
* `GET {resourceId}/providers/Microsoft.ResourceHealth/availabilityStatuses/current`
  (`get_by_resource`).

Bodies have the shape of `AvailabilityStatuses_ListByResourceGroup.json` /
`AvailabilityStatus_GetByResource.json` (Azure/azure-rest-api-specs, resourcehealth
2026-07-01). They are ordinary ARM reads, charged to the subscription's read bucket.

States follow the same timeline as the network: `Unavailable` when nothing carries the
resource (every tunnel of a connection down, every instance of a gateway, both links of a
circuit), `Degraded` when part of it is down (one tunnel or instance of an active/active pair, one
link), `Available` otherwise. Azure documents no bound on how soon Resource Health reflects a
change, so the emulator reports the state `delay` scenario seconds late (`noise:
resource_health_delay`, default 60): nothing may take it as prompter than the resources' own GET.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from vpnwatch.emulator.arm import Reply, error
from vpnwatch.emulator.intervals import EMPTY, Intervals
from vpnwatch.emulator.topology import Circuit, Connection, Gateway, Subscription
from vpnwatch.emulator.world import World

PROVIDER = "/providers/microsoft.resourcehealth/availabilitystatuses"
RECENT_SECONDS = 24 * 3600  # `recentlyResolved` is shown for a day after the resource recovers
Resource = Gateway | Connection | Circuit

_WORDS = {
    "virtualNetworkGateways": "virtual network gateway",
    "connections": "connection",
    "expressRouteCircuits": "ExpressRoute circuit",
}


def serves(path: str) -> bool:
    return PROVIDER in path.lower()


class ResourceHealthApi:
    def __init__(self, world: World, started_at: datetime, page_size: int, delay: float) -> None:
        self.world = world
        self.started_at = started_at
        self.page_size = max(1, page_size)
        self.delay = delay

    def handle(
        self, method: str, path: str, query: dict[str, str], t: float, base_url: str
    ) -> Reply:
        if method != "GET":
            return error(405, "MethodNotAllowed", f"'{method}' is not allowed for '{path}'.")
        low = path.lower()
        scope, _, tail = low.partition(PROVIDER)
        if tail in ("/current", "/current/"):
            return self._one(path[: len(scope)], t)
        if tail not in ("", "/"):
            return error(404, "InvalidResourceType", f"No route for '{path}'.")
        parts = [p for p in scope.split("/") if p]
        if len(parts) not in (2, 4) or parts[0] != "subscriptions":
            return error(404, "InvalidResourceType", f"No route for '{path}'.")
        sub = self.world.topology.subscription(parts[1])
        if sub is None:
            return error(
                404, "SubscriptionNotFound", f"The subscription '{parts[1]}' could not be found."
            )
        group = parts[3] if len(parts) == 4 else None
        items = [
            r for r in self._resources(sub, t) if group is None or r.rg.name.lower() == group
        ]
        return self._page(path, query, base_url, items, lambda r: self.status(r, t))

    # --- bodies ----------------------------------------------------------------------------

    def status(self, resource: Resource, t: float) -> dict[str, Any]:
        seen = t - self.delay
        down_all, down_any = self._down(resource)
        word = _WORDS[resource.resource_id.split("/")[-2]]
        if down_all.contains(seen):
            state, span = "Unavailable", down_all.span_at(seen)
        elif down_any.contains(seen):
            state, span = "Degraded", down_any.span_at(seen)
        else:
            state, span = "Available", None
        properties: dict[str, Any] = {
            "availabilityState": state,
            "title": state,
            "summary": _summary(state, word),
            "reasonType": "Unplanned" if state != "Available" else "",
            "context": "Platform Initiated",
            "category": "Unplanned" if state != "Available" else "",
            "reasonChronicity": "Persistent" if state != "Available" else "",
            "detailedStatus": _detail(state, word),
        }
        if span is not None:
            properties["occuredTime"] = self._utc(span[0])  # sic: Azure's spelling
        else:
            last = down_any.last_end(seen)
            since = last if last is not None else -self.world.initial_age(resource.resource_id)
            properties["occuredTime"] = self._utc(since)
        properties["reportedTime"] = self._utc(t)
        if state == "Unavailable" and span is not None:
            properties["rootCauseAttributionTime"] = self._utc(span[0] + 60)
            properties["resolutionETA"] = self._utc(span[0] + 1800)
        if state == "Available":
            resolved = down_any.last_end(seen)
            if resolved is not None and seen - resolved < RECENT_SECONDS:
                began = down_any.last_start(seen)
                properties["recentlyResolved"] = {
                    "unavailableOccuredTime": self._utc(began if began is not None else resolved),
                    "resolvedTime": self._utc(resolved),
                    "unavailableSummary": f"The {word} was unavailable",
                }
        properties["recommendedActions"] = _actions(state)
        return {
            "id": f"{resource.resource_id}/providers/Microsoft.ResourceHealth/"
            "availabilityStatuses/current",
            "name": "current",
            "type": "Microsoft.ResourceHealth/AvailabilityStatuses",
            "location": resource.location,
            "properties": properties,
        }

    def _down(self, resource: Resource) -> tuple[Intervals, Intervals]:
        """(when all of it is down, when any part of it is down)."""
        world = self.world
        timeline = world.timeline
        if isinstance(resource, Connection):
            if resource.circuit is not None:
                down = world.expressroute_connection_down(resource)
                return down, down
            spans = [
                world.tunnel_down(resource, slot)
                for slot in range(resource.gateway.tunnels_per_connection)
            ]
        elif isinstance(resource, Gateway):
            if resource.is_vpn:
                spans = [
                    timeline.gateway_slot_down(resource.name, slot)
                    for slot in range(resource.tunnels_per_connection)
                ]
            else:
                spans = [timeline.gateway_instance_down(resource.name, i) for i in (0, 1)]
        else:
            whole = timeline.circuit_down.get(resource.name.lower(), EMPTY)
            links = [world.link_down(resource, path) for path in ("primary", "secondary")]
            return whole.union(links[0].intersection(links[1])), whole.union(*links)
        every = spans[0]
        for other in spans[1:]:
            every = every.intersection(other)
        return every, EMPTY.union(*spans)

    def _resources(self, sub: Subscription, t: float) -> list[Resource]:
        topo = self.world.topology
        found: list[Resource] = []
        for items in (topo.gateways, topo.connections, topo.circuits):
            for item in items:
                if item.rg.subscription is sub and self.world.exists(item, t):
                    found.append(item)
        return found

    def _one(self, resource_id: str, t: float) -> Reply:
        parts = [p for p in resource_id.split("/") if p]
        topo = self.world.topology
        found: Resource | None = None
        if len(parts) == 8 and parts[0].lower() == "subscriptions":
            kind, name = parts[6].lower(), parts[7]
            try:
                if kind == "virtualnetworkgateways":
                    found = topo.gateway(name)
                elif kind == "connections":
                    found = topo.connection(name)
                elif kind == "expressroutecircuits":
                    found = topo.circuit(name)
            except KeyError:
                found = None
        if found is None or found.resource_id.lower() != resource_id.lower().rstrip("/"):
            return error(404, "ResourceNotFound", f"The resource '{resource_id}' was not found.")
        if not self.world.exists(found, t):
            return error(404, "ResourceNotFound", f"The resource '{resource_id}' was not found.")
        return Reply(200, self.status(found, t))

    def _page(
        self,
        path: str,
        query: dict[str, str],
        base_url: str,
        items: list[Resource],
        render: Callable[[Resource], dict[str, Any]],
    ) -> Reply:
        try:
            skip = max(0, int(query.get("$skipToken", "0") or 0))
        except ValueError:
            return error(400, "InvalidSkipToken", "The $skipToken is not valid.")
        end = skip + self.page_size
        body: dict[str, Any] = {"value": [render(r) for r in items[skip:end]]}
        if end < len(items):
            api_version = quote(query.get("api-version", ""), safe="-.")
            body["nextLink"] = f"{base_url}{path}?api-version={api_version}&$skipToken={end}"
        return Reply(200, body, kind="list")

    def _utc(self, scenario_seconds: float) -> str:
        moment = self.started_at + timedelta(seconds=scenario_seconds)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _summary(state: str, word: str) -> str:
    if state == "Available":
        return f"Your {word} is available"
    if state == "Degraded":
        return f"Your {word} is running with reduced redundancy"
    return f"We're sorry, your {word} is unavailable"


def _detail(state: str, word: str) -> str:
    if state == "Available":
        return f"There aren't any known Azure platform problems affecting this {word}"
    if state == "Degraded":
        return f"One instance or link of this {word} is down; the other carries it"
    return f"Nothing is carrying this {word}; Azure is working to recover it"


def _actions(state: str) -> list[dict[str, str]]:
    if state == "Available":
        return []
    return [
        {
            "action": "Check the connection's status and its tunnels in the resource blade",
            "actionUrl": "<#ResourceBlade>",
            "actionUrlText": "resource blade",
        },
        {
            "action": "If you are experiencing problems you believe are caused by Azure, "
            "contact support",
            "actionUrl": "<#SupportCase>",
            "actionUrlText": "contact support",
        },
    ]
