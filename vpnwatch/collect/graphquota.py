"""Resource Graph's own quota, kept like an ARM bucket so discovery never meets its 429.

Resource Graph is not charged to any subscription's ARM buckets; it throttles each caller on its
own: "a user can send at most 15 queries within every 5-second window", with what is left in
`x-ms-user-quota-remaining` (learn.microsoft.com, "Guidance for throttled requests in Azure
Resource Graph", governance/resource-graph/concepts/guidance-for-throttled-requests). vpnwatch's
`RequestBudget` keeps it as one more kind of bucket (`GRAPH`, under the key `GRAPH_KEY`), spent
at the same share as ARM's.

The quota is a fixed window, not a bucket: a bucket of 15 refilled at 3/s could send 15 at the
end of one window's spending and 15 more before the window resets. A bucket never sends more than
`capacity + refill * 5 s` in any 5 seconds, so half of each (7.5, refilled at 1.5/s) keeps even a
100 % share inside the window's 15.
"""

from __future__ import annotations

from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import AsyncHTTPPolicy

from vpnwatch.collect.budget import BucketModel, RequestBudget
from vpnwatch.collect.lanes import Lanes, current_lane, retry_after_seconds
from vpnwatch.collect.telemetry import header_int

GRAPH = "graph"
GRAPH_KEY = "resourcegraph"  # per caller: one principal per agent
GRAPH_QUOTA = BucketModel(7.5, 1.5, "graph")  # 7.5 + 1.5/s * 5 s = 15 per window
REMAINING_HEADER = "x-ms-user-quota-remaining"


class GraphQuotaPolicy(AsyncHTTPPolicy):  # type: ignore[type-arg]
    """Per-retry policy of the Resource Graph client: waits for the quota and the lane's slot,
    sends, then tells the budget what Resource Graph said is left."""

    def __init__(self, budget: RequestBudget, lanes: Lanes) -> None:
        super().__init__()
        self.budget = budget
        self.lanes = lanes
        budget.define(GRAPH, GRAPH_QUOTA)

    async def send(self, request: PipelineRequest) -> PipelineResponse:  # type: ignore[type-arg]
        lane_name = current_lane()
        await self.budget.acquire(GRAPH_KEY, GRAPH, lane_name)
        response: PipelineResponse | None = None  # type: ignore[type-arg]
        try:
            async with self.lanes.get(lane_name).slots:
                response = await self.next.send(request)
        finally:
            if response is None:
                self.budget.observe(GRAPH_KEY, GRAPH)
            else:
                headers = response.http_response.headers
                status = response.http_response.status_code
                self.budget.observe(
                    GRAPH_KEY,
                    GRAPH,
                    remaining=header_int(headers, REMAINING_HEADER),
                    status=status,
                    retry_after=retry_after_seconds(headers, self.budget.clock.speed)
                    if status == 429
                    else None,
                )
        return response
