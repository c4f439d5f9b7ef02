"""ARM routing for the resources the emulator serves: lists with paging, gets, and the
long-running POSTs (BGP status, gateway routes, ExpressRoute tables).

Paths are matched case-insensitively, as ARM does (`resourcegroups` and `resourceGroups` are the
same). A long-running POST captures its result when it is made, so the answer reflects the state
at request time, as Azure's does.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from vpnwatch.emulator import p2s, resiliency
from vpnwatch.emulator.render import Body, Renderer
from vpnwatch.emulator.topology import (
    Circuit,
    Gateway,
    Peering,
    ResourceGroup,
    Subscription,
    Topology,
)
from vpnwatch.emulator.world import World

NOT_FOUND_HINT = "For more details please go to https://aka.ms/ARMResourceNotFoundFix"

RESOURCE_TYPES = {
    "virtualnetworkgateways": "virtualNetworkGateways",
    "connections": "connections",
    "localnetworkgateways": "localNetworkGateways",
    "publicipaddresses": "publicIPAddresses",
    "expressroutecircuits": "expressRouteCircuits",
    "virtualnetworks": "virtualNetworks",
}
GATEWAY_ACTIONS = {"getbgppeerstatus", "getlearnedroutes", "getadvertisedroutes"}
CIRCUIT_TABLES = {"arptables", "routetables", "routetablessummary"}
DEVICE_PATHS = {"primary", "secondary"}


@dataclass
class Reply:
    status: int
    body: Body | None = None
    headers: dict[str, str] = field(default_factory=dict)
    kind: str | None = None  # what it counts as (`counters.py`); None: `get` or `post` by method


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message}}, dict(headers or {}))


WRITE_METHODS = frozenset({"PUT", "PATCH", "DELETE"})


def _read_only(call: Call) -> Reply:
    """What a Reader-role principal gets for a write: the emulator changes nothing."""
    return error(
        403,
        "AuthorizationFailed",
        f"The client does not have authorization to perform action '{call.method}' "
        f"over scope '{call.path}' (the emulator is read-only).",
    )


@dataclass
class Operation:
    """A long-running POST: its result is fixed when it is accepted."""

    id: str
    subscription: str
    region: str
    result: Body
    started_at: datetime
    polls_left: int = 1
    location_only: bool = False


class Operations:
    def __init__(self, capacity: int = 20_000) -> None:
        self._ops: OrderedDict[str, Operation] = OrderedDict()
        self._capacity = capacity

    def add(self, op: Operation) -> None:
        self._ops[op.id] = op
        while len(self._ops) > self._capacity:
            self._ops.popitem(last=False)

    def get(self, op_id: str) -> Operation | None:
        return self._ops.get(op_id.lower())


class Inventory:
    """Resources by (subscription, resource group, type), in scenario order."""

    def __init__(self, topo: Topology) -> None:
        self.by_group: dict[tuple[str, str, str], list[Any]] = {}
        self.by_name: dict[tuple[str, str, str, str], Any] = {}
        self.groups: dict[tuple[str, str], ResourceGroup] = {}
        for sub in topo.subscriptions:
            for rg in sub.resource_groups:
                self.groups[(sub.id.lower(), rg.name.lower())] = rg
                for kind in RESOURCE_TYPES:
                    self.by_group[(sub.id.lower(), rg.name.lower(), kind)] = []
        for kind, items in (
            ("virtualnetworkgateways", topo.gateways),
            ("connections", topo.connections),
            ("localnetworkgateways", topo.sites),
            ("publicipaddresses", topo.public_ips),
            ("expressroutecircuits", topo.circuits),
            ("virtualnetworks", topo.vnets),
        ):
            for item in items:
                rg = item.rg
                key = (rg.subscription.id.lower(), rg.name.lower(), kind)
                self.by_group[key].append(item)
                self.by_name[(*key, item.name.lower())] = item

    def in_subscription(self, sub: Subscription, kind: str) -> list[Any]:
        found: list[Any] = []
        for rg in sub.resource_groups:
            found.extend(self.by_group[(sub.id.lower(), rg.name.lower(), kind)])
        return found


@dataclass
class Call:
    """One request as the ARM layer sees it."""

    method: str
    path: str
    query: dict[str, str]
    t: float
    base_url: str


class ArmApi:
    def __init__(
        self,
        world: World,
        renderer: Renderer,
        page_size: int = 50,
        lro_retry_after_ms: int | None = None,
    ) -> None:
        self.world = world
        self.topo = world.topology
        self.render = renderer
        self.page_size = max(1, page_size)
        self.lro_retry_after_ms = lro_retry_after_ms
        self.inventory = Inventory(self.topo)
        self.operations = Operations()

    # --- entry -----------------------------------------------------------------------------

    def handle(self, call: Call) -> Reply:
        if call.method in WRITE_METHODS:
            return _read_only(call)
        segments = [s for s in call.path.split("/") if s]
        low = [s.lower() for s in segments]
        if not low or low[0] != "subscriptions":
            return error(404, "InvalidResourceType", f"No route for '{call.path}'.")
        if len(low) == 1:
            return self._only(call, "GET") or self._page(
                call, self.topo.subscriptions, self.render.subscription, count=True
            )
        sub = self.topo.subscription(segments[1])
        if sub is None:
            return error(
                404, "SubscriptionNotFound", f"The subscription '{segments[1]}' could not be found."
            )
        rest, rest_low = segments[2:], low[2:]
        if not rest:
            return self._only(call, "GET") or Reply(200, self.render.subscription(sub))
        if rest_low[0] == "resourcegroups":
            return self._resource_groups(call, sub, rest, rest_low)
        if rest_low[:2] == ["providers", "microsoft.network"]:
            return self._subscription_network(call, sub, rest[2:], rest_low[2:])
        return error(404, "InvalidResourceType", f"No route for '{call.path}'.")

    # --- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _only(call: Call, method: str) -> Reply | None:
        if call.method == method:
            return None
        if call.method in WRITE_METHODS:
            return _read_only(call)
        return error(
            405,
            "MethodNotAllowed",
            f"The requested method '{call.method}' is not allowed for '{call.path}'.",
        )

    def _page(
        self,
        call: Call,
        items: list[Any],
        render: Callable[[Any], Body] | None = None,
        count: bool = False,
    ) -> Reply:
        """One page of a list, with an absolute `nextLink` back to this emulator. Only the
        requested page is rendered, so a 1,000-gateway fleet stays cheap to poll."""
        try:
            skip = max(0, int(call.query.get("$skipToken", "0") or 0))
        except ValueError:
            return error(400, "InvalidSkipToken", "The $skipToken is not valid.")
        if self.world.changes_over_time:
            items = [i for i in items if self.world.exists(i, call.t)]
        end = skip + self.page_size
        page = items[skip:end]
        body: Body = {"value": [render(i) for i in page] if render else list(page)}
        if end < len(items):
            api_version = quote(call.query.get("api-version", ""), safe="-.")
            body["nextLink"] = (
                f"{call.base_url}{call.path}?api-version={api_version}&$skipToken={end}"
            )
        if count:
            body["count"] = {"type": "Total", "value": len(items)}
        return Reply(200, body, kind="list")

    def _not_found(self, rg: ResourceGroup, kind: str, name: str) -> Reply:
        return error(
            404,
            "ResourceNotFound",
            f"The Resource 'Microsoft.Network/{RESOURCE_TYPES.get(kind, kind)}/{name}' under "
            f"resource group '{rg.name}' was not found. {NOT_FOUND_HINT}",
        )

    def _render_any(self, kind: str, item: Any, t: float, *, listed: bool = False) -> Body:
        if kind == "virtualnetworkgateways":
            return self.render.gateway(item)
        if kind == "connections":
            return self.render.connection(item, t, listed=listed)
        if kind == "localnetworkgateways":
            return self.render.site(item)
        if kind == "publicipaddresses":
            return self.render.public_ip(item)
        if kind == "expressroutecircuits":
            return self.render.circuit(item)
        return self.render.vnet(item)

    # --- subscription scope ----------------------------------------------------------------

    def _subscription_network(
        self, call: Call, sub: Subscription, rest: list[str], low: list[str]
    ) -> Reply:
        if len(low) == 1 and low[0] in RESOURCE_TYPES:
            kind = low[0]
            items = self.inventory.in_subscription(sub, kind)
            return self._only(call, "GET") or self._page(
                call, items, lambda item: self._render_any(kind, item, call.t, listed=True)
            )
        if len(low) == 4 and low[0] == "locations" and low[2] in ("operations", "operationresults"):
            refused = self._only(call, "GET")
            if refused:
                return refused
            op = self.operations.get(rest[3])
            if op is None or op.subscription.lower() != sub.id.lower():
                return error(404, "OperationNotFound", f"The operation '{rest[3]}' was not found.")
            return self._poll(call, op, status_monitor=low[2] == "operations")
        return error(404, "InvalidResourceType", f"No route for '{call.path}'.")

    # --- resource group scope --------------------------------------------------------------

    def _resource_groups(
        self, call: Call, sub: Subscription, rest: list[str], low: list[str]
    ) -> Reply:
        if len(low) == 1:
            return self._only(call, "GET") or self._page(
                call, sub.resource_groups, self.render.resource_group
            )
        rg = self.inventory.groups.get((sub.id.lower(), low[1]))
        if rg is None:
            return error(
                404, "ResourceGroupNotFound", f"Resource group '{rest[1]}' could not be found."
            )
        if len(low) == 2:
            return self._only(call, "GET") or Reply(200, self.render.resource_group(rg))
        if low[2:4] != ["providers", "microsoft.network"] or len(low) < 5:
            return error(404, "InvalidResourceType", f"No route for '{call.path}'.")
        kind = low[4]
        if kind not in RESOURCE_TYPES:
            return error(
                404,
                "InvalidResourceType",
                f"The resource type '{rest[4]}' could not be found in the namespace "
                f"'Microsoft.Network' for api version '{call.query.get('api-version', '')}'.",
            )
        key = (sub.id.lower(), rg.name.lower(), kind)
        if len(low) == 5:
            items = self.inventory.by_group[key]
            return self._only(call, "GET") or self._page(
                call, items, lambda item: self._render_any(kind, item, call.t, listed=True)
            )
        item = self.inventory.by_name.get((*key, low[5]))
        if item is None or not self.world.exists(item, call.t):
            return self._not_found(rg, kind, rest[5])
        if len(low) == 6:
            return self._only(call, "GET") or Reply(200, self._render_any(kind, item, call.t))
        tail, tail_low = rest[6:], low[6:]
        if kind == "virtualnetworkgateways":
            return self._gateway_child(call, sub, item, tail, tail_low)
        if kind == "expressroutecircuits":
            return self._circuit_child(call, sub, item, tail, tail_low)
        return error(404, "InvalidResourceType", f"No route for '{call.path}'.")

    def _gateway_child(
        self, call: Call, sub: Subscription, gw: Gateway, tail: list[str], low: list[str]
    ) -> Reply:
        if low == ["connections"]:
            return self._only(call, "GET") or self._page(
                call, gw.connections, lambda c: self.render.connection(c, call.t, listed=True)
            )
        if len(low) == 1 and low[0] in p2s.GATEWAY_ACTIONS:
            return self._only(call, "POST") or self._read_post(
                call, sub, gw.location, lambda: p2s.sessions(self.world, gw, call.t, self._start)
            )
        if len(low) == 1 and low[0] in resiliency.GATEWAY_ACTIONS:
            return self._only(call, "POST") or self._read_post(
                call, sub, gw.location, lambda: resiliency.gateway_answer(gw, low[0], self._start)
            )
        if len(low) == 1 and low[0] in GATEWAY_ACTIONS:
            refused = self._only(call, "POST")
            if refused:
                return refused
            action = low[0]
            if action == "getbgppeerstatus":
                rows = self.world.bgp_peers(gw, call.t, call.query.get("peer") or None)
                result = self.render.bgp_peer_status(rows)
            elif action == "getlearnedroutes":
                result = self.render.gateway_routes(self.world.learned_routes(gw, call.t))
            else:
                peer = call.query.get("peer")
                if not peer:
                    return error(
                        400,
                        "MissingRequiredQueryParameter",
                        "The query parameter 'peer' is required.",
                    )
                result = self.render.gateway_routes(self.world.advertised_routes(gw, peer, call.t))
            return self._accept(call, sub, gw.location, result, location_only=False)
        return error(404, "InvalidResourceType", f"No route for '{call.path}'.")

    def _circuit_child(
        self, call: Call, sub: Subscription, circuit: Circuit, tail: list[str], low: list[str]
    ) -> Reply:
        if low == ["stats"]:
            return self._only(call, "GET") or Reply(200, self.render.circuit_stats(circuit, call.t))
        if len(low) == 1 and low[0] in resiliency.CIRCUIT_ACTIONS:
            return self._only(call, "POST") or self._read_post(
                call,
                sub,
                circuit.location,
                lambda: resiliency.circuit_answer(circuit, low[0], self._start),
            )
        if not low or low[0] != "peerings":
            return error(404, "InvalidResourceType", f"No route for '{call.path}'.")
        if len(low) == 1:
            return self._only(call, "GET") or self._page(
                call, circuit.peerings, self.render.peering
            )
        peering = circuit.peering(tail[1])
        if peering is None:
            return error(
                404,
                "NotFound",
                f"Peering '{tail[1]}' of circuit '{circuit.name}' was not found. {NOT_FOUND_HINT}",
            )
        if len(low) == 2:
            return self._only(call, "GET") or Reply(200, self.render.peering(peering))
        if low[2:] == ["stats"]:
            return self._only(call, "GET") or Reply(
                200, self.render.circuit_stats(circuit, call.t, peering)
            )
        if len(low) == 4 and low[2] in CIRCUIT_TABLES:
            refused = self._only(call, "POST")
            if refused:
                return refused
            device_path = low[3]
            if device_path not in DEVICE_PATHS:
                return error(
                    400,
                    "InvalidDevicePath",
                    f"Device path '{tail[3]}' must be 'primary' or 'secondary'.",
                )
            result = self._table(low[2], peering, device_path, call.t)
            return self._accept(call, sub, circuit.location, result, location_only=True)
        return error(404, "InvalidResourceType", f"No route for '{call.path}'.")

    def _table(self, table: str, peering: Peering, device_path: str, t: float) -> Body:
        if table == "arptables":
            return self.render.arp_table(peering, device_path, t)
        if table == "routetables":
            return self.render.route_table(peering, device_path, t)
        return self.render.route_table_summary(peering, device_path, t)

    @property
    def _start(self) -> datetime:
        return self.render.started_at

    def _read_post(
        self, call: Call, sub: Subscription, region: str, answer: Callable[[], Any]
    ) -> Reply:
        """A read made by a long-running POST (`resiliency.py`, `p2s.py`): refused at once
        where the feature does not answer, otherwise accepted like the others."""
        try:
            result = answer()
        except resiliency.Refused as refused:
            return error(refused.status, refused.code, refused.message)
        return self._accept(call, sub, region, result, location_only=False)

    # --- long-running operations -----------------------------------------------------------

    def _operation_urls(self, call: Call, op: Operation) -> tuple[str, str]:
        api_version = quote(call.query.get("api-version", ""), safe="-.")
        root = (
            f"{call.base_url}/subscriptions/{op.subscription}/providers/Microsoft.Network/"
            f"locations/{op.region}"
        )
        return (
            f"{root}/operations/{op.id}?api-version={api_version}",
            f"{root}/operationResults/{op.id}?api-version={api_version}",
        )

    def _lro_headers(self, call: Call, op: Operation) -> dict[str, str]:
        status_url, result_url = self._operation_urls(call, op)
        headers = {"Location": result_url}
        if not op.location_only:
            headers["Azure-AsyncOperation"] = status_url
        if self.lro_retry_after_ms is not None:
            headers["retry-after-ms"] = str(self.lro_retry_after_ms)
        return headers

    def _accept(
        self, call: Call, sub: Subscription, region: str, result: Body, *, location_only: bool
    ) -> Reply:
        op = Operation(
            id=str(uuid.uuid4()),
            subscription=sub.id,
            region=region,
            result=result,
            started_at=self.render.started_at + timedelta(seconds=call.t),
            location_only=location_only,
        )
        self.operations.add(op)
        return Reply(202, None, self._lro_headers(call, op), kind="post")

    def _poll(self, call: Call, op: Operation, *, status_monitor: bool) -> Reply:
        running = op.polls_left > 0
        if running:
            op.polls_left -= 1
        if status_monitor:
            body: Body = {
                "name": op.id,
                "status": "InProgress" if running else "Succeeded",
                "startTime": op.started_at.isoformat(),
            }
            headers = {}
            if self.lro_retry_after_ms is not None and running:
                headers["retry-after-ms"] = str(self.lro_retry_after_ms)
            return Reply(200, body, headers, kind="lro_poll")
        if running:
            return Reply(202, None, self._lro_headers(call, op), kind="lro_poll")
        return Reply(200, op.result, kind="lro_poll")
