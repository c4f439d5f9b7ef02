"""Every Azure operation vpnwatch calls, with the RBAC action that allows it: one list.

The custom role shipped in `deploy/azure/vpnwatch-monitoring-reader.json` is generated from it
(`vpnwatch role-definition`), `check-config --probe` checks the credential's permissions against
it, and a test runs the agent against the emulator and holds every request it made to an
operation listed here. A collector that starts calling something new adds a line here.

Action names are those of Azure's resource provider operations pages ("Azure permissions for
Networking", for Microsoft.Network; "for Monitor" for Insights and OperationalInsights). Two
of them are POST requests: `getBgpPeerStatus` needs `.../getBgpPeerStatus/action`, which the
built-in Reader role (`*/read`) does not grant; ExpressRoute's `routeTablesSummary` POST is
authorized as `.../peerings/routeTablesSummary/read`.

The ExpressRoute resiliency reads (long-running POSTs, only with `collectors.resiliency`) are not
on that page yet; their action names follow its pattern for a POST operation
(`<resource type>/<operation>/action`, as `getBgpPeerStatus` and `getVpnClientConnectionHealth`).
`check-config --probe` checks an operation tied to a collector only when that collector is on.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

ROLE_NAME = "vpnwatch monitoring reader"
ROLE_DESCRIPTION = (
    "Reads Azure VPN gateways, connections, BGP peer status, ExpressRoute circuits and their "
    "metrics for vpnwatch. Least privilege: exactly the operations vpnwatch calls."
)

_SUB = r"/subscriptions/[^/]+"
_RG = _SUB + r"/resourcegroups/[^/]+"
_NET = r"/providers/microsoft\.network"


@dataclass(frozen=True, slots=True)
class Operation:
    """One REST operation vpnwatch calls (`method` + path pattern) and its RBAC action."""

    action: str
    method: str
    path: str  # a regular expression over the lower-cased request path
    used_for: str
    collector: str | None = None  # called only when this `collectors:` block is enabled

    def matches(self, method: str, path: str) -> bool:
        return method.upper() == self.method and re.fullmatch(self.path, path.lower()) is not None


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "Microsoft.Resources/subscriptions/read", "GET", r"/subscriptions(/[^/]+)?",
        "discovery: the subscriptions the credential can see",
    ),
    Operation(
        "Microsoft.Resources/subscriptions/resourceGroups/read", "GET",
        _SUB + r"/resourcegroups(/[^/]+)?",
        "discovery: resource groups of each subscription (where Resource Graph cannot answer)",
    ),
    Operation(
        "Microsoft.ResourceGraph/resources/read", "POST",
        r"/providers/microsoft\.resourcegraph/resources",
        "discovery: the resource groups that hold gateways, connections, sites and circuits",
    ),
    Operation(
        "Microsoft.Network/virtualNetworkGateways/read", "GET",
        _RG + _NET + r"/virtualnetworkgateways(/[^/]+)?",
        "gateways: SKU, instances, zones, BGP settings",
    ),
    Operation(
        "Microsoft.Network/virtualNetworkGateways/getBgpPeerStatus/action", "POST",
        _RG + _NET + r"/virtualnetworkgateways/[^/]+/getbgppeerstatus",
        "bgp: the BGP peer status of each gateway (a POST, not covered by Reader)",
    ),
    Operation(
        "Microsoft.Network/virtualNetworkGateways/getVpnClientConnectionHealth/action", "POST",
        _RG + _NET + r"/virtualnetworkgateways/[^/]+/getvpnclientconnectionhealth",
        "p2s: a gateway's point-to-site sessions, on demand (a POST; when enabled)",
        "vpn_client_health",
    ),
    Operation(
        "Microsoft.Network/connections/read", "GET", _RG + _NET + r"/connections(/[^/]+)?",
        "connections: status and per-instance tunnels",
    ),
    Operation(
        "Microsoft.Network/localNetworkGateways/read", "GET",
        _RG + _NET + r"/localnetworkgateways(/[^/]+)?",
        "sites: on-premises address and BGP settings",
    ),
    Operation(
        "Microsoft.Network/publicIPAddresses/read", "GET",
        _RG + _NET + r"/publicipaddresses(/[^/]+)?",
        "gateways: the address and zones of each instance's public IP (listed per group)",
    ),
    Operation(
        "Microsoft.Network/expressRouteCircuits/read", "GET",
        _RG + _NET + r"/expressroutecircuits(/[^/]+)?",
        "expressroute: circuits, their provisioning state and their peerings",
    ),
    Operation(
        "Microsoft.Network/expressRouteCircuits/stats/read", "GET",
        _RG + _NET + r"/expressroutecircuits/[^/]+/stats",
        "expressroute: primary and secondary link traffic",
    ),
    Operation(
        "Microsoft.Network/expressRouteCircuits/peerings/routeTablesSummary/read", "POST",
        _RG + _NET + r"/expressroutecircuits/[^/]+/peerings/[^/]+/routetablessummary/[^/]+",
        "expressroute: BGP state and prefixes per link (a POST authorized as read)",
    ),
    Operation(
        "Microsoft.Network/expressRouteCircuits/getCircuitLinkFailoverAllTestsDetails/action",
        "POST",
        _RG + _NET + r"/expressroutecircuits/[^/]+/getcircuitlinkfailoveralltestsdetails",
        "resiliency: the circuit's link failover test history (a POST; when enabled)",
        "resiliency",
    ),
    Operation(
        "Microsoft.Network/virtualNetworkGateways/getFailoverAllTestsDetails/action", "POST",
        _RG + _NET + r"/virtualnetworkgateways/[^/]+/getfailoveralltestsdetails",
        "resiliency: an ExpressRoute gateway's site failover test history (when enabled)",
        "resiliency",
    ),
    Operation(
        "Microsoft.Network/virtualNetworkGateways/getResiliencyInformation/action", "POST",
        _RG + _NET + r"/virtualnetworkgateways/[^/]+/getresiliencyinformation",
        "resiliency: an ExpressRoute gateway's Resiliency Insights score (when enabled)",
        "resiliency",
    ),
    Operation(
        "Microsoft.Network/locations/operations/read", "GET",
        _SUB + _NET + r"/locations/[^/]+/operations/[^/]+",
        "long-running operations that name a status monitor: polling their status",
    ),
    Operation(
        "Microsoft.Network/locations/operationResults/read", "GET",
        _SUB + _NET + r"/locations/[^/]+/operationresults/[^/]+",
        "long-running operations: reading their result",
    ),
    Operation(
        "Microsoft.Maintenance/maintenanceConfigurations/read", "GET",
        _SUB + r"/providers/microsoft\.maintenance/maintenanceconfigurations",
        "maintenance: customer-controlled gateway maintenance windows (when enabled)",
    ),
    Operation(
        "Microsoft.Maintenance/configurationAssignments/read", "GET",
        _SUB + r"/providers/microsoft\.maintenance/configurationassignments",
        "maintenance: which gateways each maintenance configuration holds",
    ),
    Operation(
        "Microsoft.ResourceHealth/availabilityStatuses/read", "GET",
        _SUB + r"/providers/microsoft\.resourcehealth/availabilitystatuses",
        "resourcehealth: availability of every gateway, connection and circuit (a hint)",
    ),
    Operation(
        "Microsoft.Insights/metrics/read", "POST", _SUB + r"/metrics:getbatch",
        "metrics: gateway and circuit platform metrics (batch API)",
    ),
    Operation(
        "Microsoft.OperationalInsights/workspaces/query/read", "POST",
        r"/v1/workspaces/[^/]+/query",
        "logs: gateway diagnostic logs from the Log Analytics workspace (when configured)",
    ),
)  # fmt: skip


def needed(op: Operation, enabled: Iterable[str]) -> bool:
    """Whether `op` is called with these `collectors:` blocks enabled."""
    return op.collector is None or op.collector in set(enabled)


def required_actions() -> list[str]:
    """The RBAC actions vpnwatch needs, each once, in the order of `OPERATIONS`."""
    return list(dict.fromkeys(op.action for op in OPERATIONS))


def operation_for(method: str, path: str) -> Operation | None:
    """The listed operation a request is, or None when vpnwatch does not list it."""
    return next((op for op in OPERATIONS if op.matches(method, path)), None)


def _granted_by(pattern: str, action: str) -> bool:
    # Azure matches actions case-insensitively, `*` standing for any characters
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def allowed(action: str, actions: Iterable[str], not_actions: Iterable[str] = ()) -> bool:
    """Whether one permission entry (`actions` minus `notActions`) allows `action`."""
    return any(_granted_by(a, action) for a in actions) and not any(
        _granted_by(n, action) for n in not_actions
    )


def allowed_by_any(action: str, permissions: Iterable[tuple[list[str], list[str]]]) -> bool:
    """Whether any of several permission entries (one per role assignment) allows `action`."""
    return any(allowed(action, actions, not_actions) for actions, not_actions in permissions)


def role_definition(scopes: Iterable[str] = ()) -> dict[str, Any]:
    """An Azure custom role definition (the JSON `az role definition create` takes)."""
    return {
        "Name": ROLE_NAME,
        "IsCustom": True,
        "Description": ROLE_DESCRIPTION,
        "Actions": required_actions(),
        "NotActions": [],
        "DataActions": [],
        "NotDataActions": [],
        "AssignableScopes": list(scopes) or ["/subscriptions/00000000-0000-0000-0000-000000000000"],
    }
