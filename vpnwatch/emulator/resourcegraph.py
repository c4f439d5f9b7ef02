"""Azure Resource Graph: `POST /providers/Microsoft.ResourceGraph/resources`, for discovery.

`azure-mgmt-resourcegraph`'s `ResourceGraphClient.resources(QueryRequest(...))` sends
`{"subscriptions": [...], "query": "<KQL>", "options": {"$top": n, "$skipToken": "...",
"resultFormat": "objectArray"}}` and gets `{"totalRecords", "count", "resultTruncated", "data",
"facets"[, "$skipToken"]}` (the SDK notes in ../shared/azure-wire/SDK-NOTES.md, Q7).

The emulator understands the queries vpnwatch's discovery sends, not KQL at large; anything else
is a 400 `BadRequest` naming what is supported:

    resources | where type in~ ('microsoft.network/virtualnetworkgateways', ...)
              [| where subscriptionId =~ '...' | where resourceGroup in~ (...)]
              [| project id, name, type, subscriptionId, resourceGroup, location, properties, ...]
              [| order by id asc] [| take N]
    resourcecontainers | where type =~ 'microsoft.resources/subscriptions' [| project ...]

`where` conditions are `field op value` joined by `and`, with `==`, `=~`, `!=`, `in`, `in~`.
Rows carry what Resource Graph carries: the resource as Resource Manager lists it (a connection
without its status, as the connections list; see docs/read-budget.md), with `type` in lower case
and `subscriptionId`, `resourceGroup`, `tenantId` at the top. Resources created or deleted on the
timeline appear and disappear with it.

Paging: `$top` rows per page (default 100, at most 1,000) and an opaque `$skipToken` while rows
remain, except when the query ends with `take`/`limit`, as Resource Graph does.

Quota: Resource Graph's own, per caller: "a user can send at most 15 queries within every
5-second window" ("Guidance for throttled requests in Azure Resource Graph",
https://learn.microsoft.com/azure/governance/resource-graph/concepts/guidance-for-throttled-requests),
reported in `x-ms-user-quota-remaining` and `x-ms-user-quota-resets-after` (hh:mm:ss); an
exhausted quota answers 429 `RateLimiting`. Scenario-configurable (`throttling: resource_graph`).
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vpnwatch.emulator.arm import Reply, error
from vpnwatch.emulator.render import Renderer
from vpnwatch.emulator.scenario import GraphQuotaSpec
from vpnwatch.emulator.topology import TENANT_ID
from vpnwatch.emulator.world import World

PATH = "/providers/microsoft.resourcegraph/resources"
MAX_TOP = 1000
DEFAULT_TOP = 100
FIELDS = (
    "id",
    "name",
    "type",
    "tenantId",
    "kind",
    "location",
    "resourceGroup",
    "subscriptionId",
    "managedBy",
    "sku",
    "plan",
    "properties",
    "tags",
    "identity",
    "zones",
    "extendedLocation",
)
SUPPORTED = (
    "supported: `resources` or `resourcecontainers`, then `| where <field> (==|=~|!=|in|in~) "
    "<value>` joined by `and`, `| project <fields>`, `| order by <field> [asc|desc]`, "
    "`| take N` / `| limit N`"
)


def serves(path: str) -> bool:
    return path.lower().rstrip("/") == PATH


class QueryError(ValueError):
    pass


@dataclass(frozen=True)
class Condition:
    field: str
    op: str  # "==", "=~", "!=", "in", "in~"
    values: tuple[str, ...]

    def matches(self, row: dict[str, Any]) -> bool:
        value = row.get(self.field)
        text = "" if value is None else str(value)
        if self.op in ("=~", "in~"):
            return text.lower() in {v.lower() for v in self.values}
        if self.op == "!=":
            return text != self.values[0]
        return text in self.values


@dataclass(frozen=True)
class Query:
    table: str
    conditions: tuple[Condition, ...] = ()
    project: tuple[str, ...] | None = None
    order: tuple[str, bool] | None = None  # (field, descending)
    take: int | None = None


_CONDITION = re.compile(
    r"^\s*(?P<field>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>==|=~|!=|in~|in)\s*(?P<value>.+?)\s*$",
    re.IGNORECASE,
)
_STRING = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"")


def _strings(text: str) -> tuple[str, ...]:
    found = [a if a or not b else b for a, b in _STRING.findall(text)]
    if not found:
        raise QueryError(f"expected a quoted string in {text!r}")
    return tuple(found)


def _field(name: str) -> str:
    for known in FIELDS:
        if known.lower() == name.lower():
            return known
    raise QueryError(f"unknown column {name!r}; columns: {', '.join(FIELDS)}")


def parse_query(text: str) -> Query:
    """The subset of KQL above, or `QueryError`."""
    stages = [s.strip() for s in _split_pipes(text)]
    if not stages or stages[0].lower() not in ("resources", "resourcecontainers"):
        raise QueryError("a query starts with the table `resources` or `resourcecontainers`")
    table, conditions = stages[0].lower(), []
    project: tuple[str, ...] | None = None
    order: tuple[str, bool] | None = None
    take: int | None = None
    for stage in stages[1:]:
        verb, _, rest = stage.partition(" ")
        verb = verb.lower()
        if verb == "where":
            for part in re.split(r"\s+and\s+", rest, flags=re.IGNORECASE):
                match = _CONDITION.match(part)
                if match is None:
                    raise QueryError(f"cannot read the condition {part.strip()!r}")
                op = match["op"].lower()
                values = _strings(match["value"])
                if op in ("==", "=~", "!=") and len(values) != 1:
                    raise QueryError(f"{op} takes one value: {part.strip()!r}")
                conditions.append(Condition(_field(match["field"]), op, values))
        elif verb == "project":
            project = tuple(_field(f.strip()) for f in rest.split(",") if f.strip())
        elif verb in ("order", "sort"):
            words = rest.split()
            if len(words) < 2 or words[0].lower() != "by" or len(words) > 3:
                raise QueryError(f"cannot read {stage!r}")
            descending = len(words) == 3 and words[2].lower() == "desc"
            if len(words) == 3 and words[2].lower() not in ("asc", "desc"):
                raise QueryError(f"cannot read {stage!r}")
            order = (_field(words[1]), descending)
        elif verb in ("take", "limit"):
            try:
                take = int(rest.strip())
            except ValueError:
                raise QueryError(f"cannot read {stage!r}") from None
        else:
            raise QueryError(f"the operator {verb!r} is not supported")
    return Query(table, tuple(conditions), project, order, take)


def _split_pipes(text: str) -> list[str]:
    """Split on `|` outside quotes."""
    parts, current, quote = [], [], ""
    for char in text:
        if quote:
            current.append(char)
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
            current.append(char)
        elif char == "|":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


class GraphQuota:
    """A fixed window per caller: `queries` per `window_seconds`, the window starting with the
    first query after the last one ended."""

    def __init__(self, spec: GraphQuotaSpec) -> None:
        self.spec = spec
        self._windows: dict[str, tuple[float, int]] = {}

    def take(self, caller: str, t: float) -> tuple[int, float, bool]:
        """(remaining, seconds until the window resets, allowed)."""
        start, used = self._windows.get(caller, (t, 0))
        if t >= start + self.spec.window_seconds:
            start, used = t, 0
        allowed = used < self.spec.queries
        if allowed:
            used += 1
        self._windows[caller] = (start, used)
        return self.spec.queries - used, start + self.spec.window_seconds - t, allowed


class ResourceGraphApi:
    def __init__(self, world: World, renderer: Renderer, quota: GraphQuotaSpec) -> None:
        self.world = world
        self.render = renderer
        self.quota = GraphQuota(quota)

    def handle(
        self,
        method: str,
        body: bytes,
        t: float,
        caller: str,
        retry_headers: Callable[[float], dict[str, str]],
    ) -> Reply:
        if method != "POST":
            return error(405, "MethodNotAllowed", f"'{method}' is not allowed here.")
        remaining, resets, allowed = self.quota.take(caller, t)
        headers = {
            "x-ms-user-quota-remaining": str(max(0, remaining)),
            "x-ms-user-quota-resets-after": _hhmmss(resets),
        }
        if not allowed:
            reply = error(
                429,
                "RateLimiting",
                "Please provide below info when asking for support: ... The request was "
                "throttled: too many Resource Graph queries in this time window.",
                {**headers, **retry_headers(resets)},
            )
            return reply
        try:
            request = json.loads(body or b"{}")
            query = parse_query(str(request.get("query", "")))
            options = request.get("options") or {}
            top = int(options.get("$top", DEFAULT_TOP))
            skip = _decode_skip(options.get("$skipToken"))
            if not 1 <= top <= MAX_TOP:
                raise QueryError(f"$top must be between 1 and {MAX_TOP}")
        except (QueryError, ValueError, TypeError, AttributeError) as exc:
            return error(400, "BadRequest", f"Query is invalid: {exc}. {SUPPORTED}", headers)
        subscriptions = {s.lower() for s in request.get("subscriptions") or []}
        rows = [r for r in self._table(query.table, t) if _in_scope(r, subscriptions)]
        rows = [r for r in rows if all(c.matches(r) for c in query.conditions)]
        if query.order is not None:
            key, descending = query.order
            rows.sort(key=lambda r: str(r.get(key) or "").lower(), reverse=descending)
        if query.take is not None:
            rows = rows[: query.take]
        total = len(rows)
        page = rows[skip : skip + top]
        if query.project is not None:
            page = [{f: r.get(f) for f in query.project} for r in page]
        result: dict[str, Any] = {
            "totalRecords": total,
            "count": len(page),
            "resultTruncated": "false",
            "data": page,
            "facets": [],
        }
        if query.take is None and skip + top < total:
            result["$skipToken"] = _encode_skip(skip + top)
        return Reply(200, result, headers, kind="graph")

    # --- tables ----------------------------------------------------------------------------

    def _table(self, table: str, t: float) -> list[dict[str, Any]]:
        topo = self.world.topology
        if table == "resourcecontainers":
            return [
                {
                    "id": sub.resource_id,
                    "name": sub.name,
                    "type": "microsoft.resources/subscriptions",
                    "tenantId": TENANT_ID,
                    "kind": "",
                    "location": "",
                    "resourceGroup": "",
                    "subscriptionId": sub.id,
                    "managedBy": "",
                    "sku": None,
                    "plan": None,
                    "properties": {"state": "Enabled", "displayName": sub.name},
                    "tags": {},
                    "identity": None,
                    "zones": None,
                    "extendedLocation": None,
                }
                for sub in topo.subscriptions
            ]
        rows: list[dict[str, Any]] = []
        sources: list[tuple[list[Any], Callable[[Any], dict[str, Any]]]] = [
            (topo.gateways, self.render.gateway),
            (topo.connections, lambda c: self.render.connection(c, t, listed=True)),
            (topo.sites, self.render.site),
            (topo.circuits, self.render.circuit),
            (topo.public_ips, self.render.public_ip),
            (topo.vnets, self.render.vnet),
        ]
        for items, render in sources:
            for item in items:
                if self.world.exists(item, t):
                    rows.append(_row(render(item), item.rg))
        return rows


def _row(body: dict[str, Any], rg: Any) -> dict[str, Any]:
    row = {f: None for f in FIELDS}
    row.update(
        {
            "tags": {},
            "kind": "",
            "managedBy": "",
            **{k: v for k, v in body.items() if k in FIELDS},
            "type": str(body.get("type", "")).lower(),
            "tenantId": TENANT_ID,
            "resourceGroup": rg.name.lower(),
            "subscriptionId": rg.subscription.id,
        }
    )
    return row


def _in_scope(row: dict[str, Any], subscriptions: set[str]) -> bool:
    return not subscriptions or str(row["subscriptionId"]).lower() in subscriptions


def _encode_skip(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"$skip": offset}).encode()).decode()


def _decode_skip(token: Any) -> int:
    if not token:
        return 0
    try:
        return max(0, int(json.loads(base64.urlsafe_b64decode(str(token)))["$skip"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise QueryError("the $skipToken is not one this service issued") from exc


def _hhmmss(seconds: float) -> str:
    whole = max(0, math.ceil(seconds))
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
