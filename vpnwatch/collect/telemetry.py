"""What every HTTP attempt to Azure Resource Manager reports, and to whom.

ARM throttles per subscription, so an operator needs to see each attempt (retries and 429s
included), not just the calls that finally succeeded. A per-retry pipeline policy records every
attempt under a bounded operation name (never a resource id, so metric cardinality stays flat),
hands it to the service's `RequestObserver`, and adds it to the tally of the collector run that
made it (found through a context variable, because one set of SDK clients serves every collector).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import AsyncHTTPPolicy

log = logging.getLogger(__name__)

REMAINING_READS_HEADER = "x-ms-ratelimit-remaining-subscription-reads"
REMAINING_WRITES_HEADER = "x-ms-ratelimit-remaining-subscription-writes"


class RequestObserver(Protocol):
    """Receives one call per HTTP attempt (the service turns these into metrics)."""

    def on_request(
        self,
        operation: str,
        status: int | None,
        seconds: float,
        remaining_reads: int | None,
        *,
        subscription: str = "",
    ) -> None:
        """`status` is None when no response arrived (connection refused, timeout);
        `subscription` is the (lower-cased) subscription the URL names, "" when none."""
        ...


@dataclass
class RequestTally:
    """The HTTP attempts of one collector run: what ends up in its `CollectionRun`."""

    requests: int = 0
    throttled: int = 0
    remaining_reads: int | None = None

    def record(self, status: int | None, remaining_reads: int | None) -> None:
        self.requests += 1
        if status == 429:
            self.throttled += 1
        if remaining_reads is not None:
            self.remaining_reads = remaining_reads


_current_tally: ContextVar[RequestTally | None] = ContextVar("vpnwatch_request_tally", default=None)


@contextmanager
def tally_requests() -> Iterator[RequestTally]:
    """Count every attempt made by this task (and the tasks it starts) until the block ends."""
    tally = RequestTally()
    token = _current_tally.set(tally)
    try:
        yield tally
    finally:
        _current_tally.reset(token)


# The resource types and actions vpnwatch calls; anything else is reported as "other" so an
# unexpected URL can never create a new metric series per resource.
_KNOWN_SEGMENTS = {
    "subscriptions": "subscriptions",
    "resourcegroups": "resourceGroups",
    "virtualnetworkgateways": "virtualNetworkGateways",
    "localnetworkgateways": "localNetworkGateways",
    "connections": "connections",
    "publicipaddresses": "publicIPAddresses",
    "expressroutecircuits": "expressRouteCircuits",
    "peerings": "peerings",
    "stats": "stats",
    "routetablessummary": "routeTablesSummary",
    "routetables": "routeTables",
    "arptables": "arpTables",
    "getbgppeerstatus": "getBgpPeerStatus",
    "getlearnedroutes": "getLearnedRoutes",
    "getadvertisedroutes": "getAdvertisedRoutes",
    "operations": "operationStatus",
    "operationstatus": "operationStatus",
    "operationstatuses": "operationStatus",
    "asyncoperations": "operationStatus",
    "operationresults": "operationResults",
    "availabilitystatuses": "availabilityStatuses",  # Resource Health
    "resources": "resources",  # Resource Graph queries
}


def operation_name(method: str, url: str) -> str:
    """A bounded name for an ARM call: "GET virtualNetworkGateways", "POST getBgpPeerStatus".

    ARM paths alternate type/name after the provider namespace, so an odd number of segments
    ends in an action (`.../gw1/getBgpPeerStatus`) and an even number in a name (`.../gw1`).
    Long-running-operation polls (`.../locations/<region>/operations/<id>`) map to
    "operationStatus" whatever their exact spelling.
    """
    parts = [p for p in urlsplit(url).path.split("/") if p]
    lowered = [p.lower() for p in parts]
    verb = method.upper()
    for poll in ("operations", "operationstatus", "operationstatuses", "operationresults"):
        if poll in lowered and "locations" in lowered:
            return f"{verb} {_KNOWN_SEGMENTS[poll]}"
    if "providers" in lowered:
        start = len(lowered) - 1 - lowered[::-1].index("providers")
        tail = lowered[start + 2 :]  # after "providers/<Namespace>"
    else:
        tail = lowered
    if not tail:
        segment = lowered[-1] if lowered else ""
    elif len(tail) % 2 == 1:
        segment = tail[-1]
    else:
        segment = tail[-2]
    return f"{verb} {_KNOWN_SEGMENTS.get(segment, 'other')}"


def url_subscription(url: str) -> str:
    """The subscription an ARM or Azure Monitor URL names (lower-cased), "" when none."""
    parts = urlsplit(url).path.split("/")
    for i, part in enumerate(parts[:-1]):
        if part.lower() == "subscriptions" and parts[i + 1]:
            return parts[i + 1].lower()
    return ""


def header_int(headers: Any, name: str) -> int | None:
    """A whole-number response header such as ARM's remaining-requests counts; None when it is
    absent or not a number."""
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


class RequestRecordingPolicy(AsyncHTTPPolicy):  # type: ignore[type-arg]
    """Per-retry policy: runs once per attempt, so 429s that the retry policy absorbs count too."""

    def __init__(self, observer: RequestObserver | None = None) -> None:
        super().__init__()
        self._observer = observer

    async def send(self, request: PipelineRequest) -> PipelineResponse:  # type: ignore[type-arg]
        http_request = request.http_request
        operation = operation_name(http_request.method, http_request.url)
        subscription = url_subscription(http_request.url)
        started = time.monotonic()
        status: int | None = None
        remaining: int | None = None
        try:
            response = await self.next.send(request)
            status = response.http_response.status_code
            remaining = header_int(response.http_response.headers, REMAINING_READS_HEADER)
            return response
        finally:
            self._report(operation, subscription, status, time.monotonic() - started, remaining)

    def _report(
        self,
        operation: str,
        subscription: str,
        status: int | None,
        seconds: float,
        remaining: int | None,
    ) -> None:
        tally = _current_tally.get()
        if tally is not None:
            tally.record(status, remaining)
        if self._observer is None:
            return
        try:
            self._observer.on_request(
                operation, status, seconds, remaining, subscription=subscription
            )
        except Exception:  # an observer bug must not fail the Azure call it observes
            log.exception("request observer failed for %s", operation)
