"""The parts of an Azure resource id: subscription, resource group, name.

Read by azure-mgmt-core's `parse_resource_id`, the parser the management SDKs themselves use
(case-insensitive segment names, child resources such as `.../gw1/ipConfigurations/default`).
Pure string work, so the correlator and the service may use it too. The same few thousand ids
are read on every poll, so each is parsed once.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from azure.mgmt.core.tools import parse_resource_id

__all__ = [
    "name_of",
    "provider_type_of",
    "resource_group_of",
    "resource_type_of",
    "subscription_of",
    "top_level_id",
]


@lru_cache(maxsize=1 << 16)
def _parts(resource_id: str) -> dict[str, Any]:
    return parse_resource_id(resource_id.rstrip("/")) if resource_id else {}


def subscription_of(resource_id: str) -> str:
    """The subscription id, as spelled in the id; "" when the id names none."""
    return _parts(resource_id).get("subscription") or ""


def resource_group_of(resource_id: str) -> str:
    """The resource group, as spelled in the id; "" when the id names none."""
    return _parts(resource_id).get("resource_group") or ""


def resource_type_of(resource_id: str) -> str:
    """The type of the deepest resource the id names (`virtualNetworkGateways`,
    `ipConfigurations`); "" for an id that is not a resource id."""
    return _parts(resource_id).get("resource_type") or ""


def provider_type_of(resource_id: str) -> str:
    """The top-level resource's `namespace/type` (`Microsoft.Network/virtualNetworkGateways`),
    also for an id of one of its children; "" for an id that is not a resource id."""
    parts = _parts(resource_id)
    if not parts.get("namespace"):
        return ""
    return f"{parts['namespace']}/{parts['type']}"


def name_of(resource_id: str) -> str:
    """What people call a resource: the name of the deepest resource the id names (`gw1` for a
    gateway, `default` for one of its ipConfigurations); a bare name is its own name."""
    parts = _parts(resource_id)
    return parts.get("resource_name") or parts.get("name") or ""


def top_level_id(resource_id: str) -> str:
    """The id of the top-level resource an id names or lies under: a gateway's id for one of its
    ipConfigurations, or for vpnwatch's entity ids below it (`.../gw1/instances/default`)."""
    parts = _parts(resource_id)
    if not parts.get("namespace") or "resource_group" not in parts:
        return resource_id
    return (
        f"/subscriptions/{parts['subscription']}/resourceGroups/{parts['resource_group']}"
        f"/providers/{parts['namespace']}/{parts['type']}/{parts['name']}"
    )
