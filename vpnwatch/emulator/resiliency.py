"""ExpressRoute resiliency, read-only: the circuit's link failover test history, the gateway's
site failover test history (Resiliency Validation) and its Resiliency Insights.

All three are long-running POSTs (202, then polls; charged as a write, each poll as a read):

* `POST .../expressRouteCircuits/{c}/getCircuitLinkFailoverAllTestsDetails` (api-version
  2025-07-01 and later) → `ExpressRouteLinkFailoverAllTestsDetails[]`. Shape from
  Azure/azure-rest-api-specs `specification/network/resource-manager/Microsoft.Network/stable/
  2025-07-01/examples/ExpressRouteCircuitGetCircuitLinkFailoverAllTestsDetails.json` (status,
  startTime, endTime, testGuid, testType, issues, wasSimulationSuccessful, circuitTestCategory,
  linkType, bgpStatus[] with type, link, status, checkTimeUtc; times as "2025-01-01T00:00:00Z").
* `POST .../virtualNetworkGateways/{gw}/getFailoverAllTestsDetails?type=&fetchLatest=` →
  `ExpressRouteFailoverTestDetails[]`; the example (`VirtualNetworkGatewayGetFailoverAllTests
  Details.json`, 2025-03-01) answers `[]`, the fields are the swagger definition's
  (peeringLocation, circuits[], status, startTime, endTime, connections[], testGuid, testType,
  issues).
* `POST .../virtualNetworkGateways/{gw}/getResiliencyInformation?attemptRefresh=` →
  `GatewayResiliencyInformation`; the example (`VirtualNetworkGatewayGetResiliencyInformation
  .json`) answers `{}` (nothing computed yet), the fields are the swagger definition's
  (overallScore, scoreChange, min/maxScoreFromRecommendations, lastComputedTime,
  nextEligibleComputeTime, components[] with recommendations[]).

Both gateway operations exist for ExpressRoute gateways only ("retrieves the resiliency
information for an Express Route Gateway", the operation's description). A VPN gateway, or an
ExpressRoute gateway or circuit the scenario marks `supported: false`, gets a 400. No verbatim
body of that refusal is published; the code below follows ARM's error format with a code that
says what it is. Nothing here starts or stops a simulation: the emulator has no route for
`startSiteFailoverTest`, `stopSiteFailoverTest`, `startCircuitLinkFailoverTest` or
`stopCircuitLinkFailoverTest` (404), so a test can hold that none was asked for.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from vpnwatch.emulator.scenario import ResiliencySpec
from vpnwatch.emulator.topology import Circuit, Gateway

GATEWAY_ACTIONS = frozenset({"getfailoveralltestsdetails", "getresiliencyinformation"})
CIRCUIT_ACTIONS = frozenset({"getcircuitlinkfailoveralltestsdetails"})
SIMULATION_ACTIONS = frozenset(
    {
        "startsitefailovertest",
        "stopsitefailovertest",
        "startcircuitlinkfailovertest",
        "stopcircuitlinkfailovertest",
    }
)
NOT_SUPPORTED = "ResiliencyFeatureNotSupported"
TEST_HOURS = 1.0  # how long a completed failover test ran


class Refused(Exception):
    """The feature does not answer for this resource: an ARM error with `status` and `code`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _guid(resource_id: str, salt: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{resource_id.lower()}#{salt}"))


def _spec(spec: ResiliencySpec | None) -> ResiliencySpec:
    return spec or ResiliencySpec()


def _last_test(spec: ResiliencySpec, started_at: datetime) -> tuple[datetime, datetime] | None:
    if spec.validated_days_ago is None:
        return None
    end = started_at - timedelta(days=spec.validated_days_ago)
    return end - timedelta(hours=TEST_HOURS), end


def circuit_answer(circuit: Circuit, action: str, started_at: datetime) -> Any:
    """The result of a circuit's resiliency POST; raises `Refused` where it does not answer."""
    spec = _spec(circuit.spec.resiliency)
    if not spec.supported:
        raise Refused(
            400,
            NOT_SUPPORTED,
            f"Link failover tests are not supported for circuit '{circuit.name}'.",
        )
    window = _last_test(spec, started_at)
    if window is None:
        return []
    start, end = window
    return [
        {
            "status": "Completed",
            "startTime": _stamp(start),
            "endTime": _stamp(end),
            "testGuid": _guid(circuit.resource_id, "link-test"),
            "testType": "SingleSiteFailover",
            "issues": [] if spec.validation_succeeded else ["BGP did not fail over to Secondary"],
            "wasSimulationSuccessful": spec.validation_succeeded,
            "circuitTestCategory": "BgpDisconnect",
            "linkType": "Primary",
            "bgpStatus": [
                {
                    "type": "IPv4",
                    "link": "Primary",
                    "status": "Connected",
                    "checkTimeUtc": _stamp(start + (end - start) / 2),
                }
            ],
        }
    ]


def gateway_answer(gateway: Gateway, action: str, started_at: datetime) -> Any:
    """The result of a gateway's resiliency POST; raises `Refused` where it does not answer."""
    spec = _spec(gateway.resiliency)
    if gateway.is_vpn or not spec.supported:
        raise Refused(
            400,
            NOT_SUPPORTED,
            "Resiliency information and failover tests are available for ExpressRoute "
            f"gateways only; gateway '{gateway.name}' does not support them.",
        )
    if action == "getresiliencyinformation":
        return _insights(gateway, spec, started_at)
    window = _last_test(spec, started_at)
    if window is None:
        return []
    start, end = window
    circuits = [c.circuit for c in gateway.connections if c.circuit is not None]
    return [
        {
            "peeringLocation": circuits[0].spec.peering_location if circuits else "",
            "circuits": [
                {"name": c.name, "nrpResourceUri": c.resource_id, "connectionName": conn.name}
                for conn in gateway.connections
                if (c := conn.circuit) is not None
            ],
            "status": "Completed",
            "startTime": _stamp(start),
            "endTime": _stamp(end),
            "connections": [
                {"name": conn.name, "nrpResourceUri": conn.resource_id, "status": "Succeeded",
                 "lastUpdatedTime": _stamp(end)}
                for conn in gateway.connections
            ],
            "testGuid": _guid(gateway.resource_id, "site-test"),
            "testType": "SingleSiteFailover",
            "issues": [] if spec.validation_succeeded else ["Traffic did not fail over"],
        }
    ]  # fmt: skip


def _insights(gateway: Gateway, spec: ResiliencySpec, started_at: datetime) -> Any:
    if spec.score is None:
        return {}  # as the example: nothing computed for this gateway yet
    missing = 100 - spec.score
    recommendations = []
    if missing:
        recommendations.append(
            {
                "recommendationTitle": "Connect to a second circuit in another peering location",
                "recommendationId": _guid(gateway.resource_id, "multi-site"),
                "severity": "High",
                "recommendationText": "A single peering location is a single point of failure.",
                "callToActionText": "Add a connection",
                "callToActionLink": "https://learn.microsoft.com/azure/expressroute/",
            }
        )
    return {
        "overallScore": str(spec.score),
        "scoreChange": "0",
        "minScoreFromRecommendations": str(spec.score),
        "maxScoreFromRecommendations": "100",
        "lastComputedTime": _stamp(started_at - timedelta(hours=1)),
        "nextEligibleComputeTime": _stamp(started_at + timedelta(hours=1)),
        "components": [
            {
                "name": "Multi-site redundancy",
                "currentScore": str(spec.score),
                "maxScore": "100",
                "recommendations": recommendations,
            }
        ],
    }
