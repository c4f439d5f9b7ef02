"""Azure Resource Graph queries for discovery: where the watched resources are.

One query lists the gateways, connections, local network gateways and circuits of up to 1,000
subscriptions at once, 1,000 rows a page (`$top`), paged with `$skipToken` (the client has no
pager; `QueryResponse.skip_token` is absent on the last page). Rows carry the resource as
Resource Manager lists it: no connection status, so Graph is inventory, never health
(docs/read-budget.md). Queries are paced under Resource Graph's own quota (`graphquota.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions, ResultFormat

from vpnwatch.collect.clients import AzureClients
from vpnwatch.collect.lanes import in_lane

PAGE_ROWS = 1000  # Resource Graph's largest `$top`
SUBSCRIPTIONS_PER_QUERY = 1000  # a query names at most this many subscriptions
GRAPH_LANE = "discovery"

WATCHED_TYPES = (
    "microsoft.network/virtualnetworkgateways",
    "microsoft.network/connections",
    "microsoft.network/localnetworkgateways",
    "microsoft.network/expressroutecircuits",
)

# Subscriptions in these states can still be read; "Disabled" and "Deleted" cannot.
READABLE_STATES = {"enabled", "warned", "pastdue"}


@dataclass(frozen=True, slots=True)
class GraphResource:
    id: str
    type: str
    subscription_id: str


def resources_query(resource_groups: Sequence[str] = ()) -> str:
    types = ", ".join(f"'{t}'" for t in WATCHED_TYPES)
    query = f"resources | where type in~ ({types})"
    if resource_groups:
        groups = ", ".join(f"'{_quoted(g)}'" for g in resource_groups)
        query += f" | where resourceGroup in~ ({groups})"
    return query + " | project id, type, subscriptionId | order by id asc"


SUBSCRIPTIONS_QUERY = (
    "resourcecontainers | where type =~ 'microsoft.resources/subscriptions' "
    "| project subscriptionId, properties | order by subscriptionId asc"
)


async def watched_resources(
    clients: AzureClients, subscriptions: Sequence[str], resource_groups: Sequence[str] = ()
) -> list[GraphResource]:
    """Every watched resource of `subscriptions` (in `resource_groups`, when given)."""
    query = resources_query(resource_groups)
    found: list[GraphResource] = []
    for batch in _batches(subscriptions, SUBSCRIPTIONS_PER_QUERY):
        for row in await _rows(clients, query, batch):
            rid, sub = str(row.get("id") or ""), str(row.get("subscriptionId") or "")
            if rid and sub:
                found.append(GraphResource(rid, str(row.get("type") or "").lower(), sub))
    return found


async def readable_subscriptions(clients: AzureClients) -> list[str]:
    """The subscriptions the credential can see (tenant scope), in a readable state."""
    rows = await _rows(clients, SUBSCRIPTIONS_QUERY, None)
    readable = []
    for row in rows:
        properties = row.get("properties") or {}
        state = str(properties.get("state") or "Enabled") if isinstance(properties, dict) else ""
        if row.get("subscriptionId") and state.lower() in READABLE_STATES:
            readable.append(str(row["subscriptionId"]))
    return readable


async def _rows(
    clients: AzureClients, query: str, subscriptions: Sequence[str] | None
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    skip: str | None = None
    with in_lane(GRAPH_LANE):
        while True:
            response = await clients.resource_graph.resources(
                QueryRequest(
                    subscriptions=list(subscriptions) if subscriptions is not None else None,
                    query=query,
                    options=QueryRequestOptions(
                        top=PAGE_ROWS, skip_token=skip, result_format=ResultFormat.OBJECT_ARRAY
                    ),
                )
            )
            data = response.data or []
            if not isinstance(data, list):
                raise ValueError("Resource Graph answered a table, not an object array")
            rows.extend(r for r in data if isinstance(r, dict))
            skip = response.skip_token
            if not skip:
                return rows


def _batches(items: Sequence[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")
