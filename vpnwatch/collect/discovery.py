"""Which subscriptions and resource groups to watch, as `Scope`s for the collectors.

Resource groups are resolved here, once per discovery interval, rather than by every collector
run: VPN gateways and connections can only be listed per resource group, so a scope that names
its groups saves one ARM read per collector run.
"""

from __future__ import annotations

from vpnwatch.collect.base import Scope
from vpnwatch.collect.clients import AzureClients
from vpnwatch.collect.errors import classify
from vpnwatch.collect.lanes import in_lane
from vpnwatch.config import TargetSettings
from vpnwatch.observations import FailureCause

DISCOVERY_LANE = "discovery"

# Subscriptions in these states can still be read; "Disabled" and "Deleted" cannot.
_READABLE_STATES = {"enabled", "warned", "pastdue"}


class DiscoveryError(Exception):
    """Discovery could not finish. `scopes` holds what was found before the failure, so the
    agent can keep watching those while it reports the rest as a failed collection run."""

    def __init__(
        self,
        cause: FailureCause,
        reason: str,
        subscription_id: str | None = None,
        scopes: tuple[Scope, ...] = (),
    ) -> None:
        super().__init__(reason)
        self.cause = cause
        self.reason = reason
        self.subscription_id = subscription_id
        self.scopes = scopes


async def discover(clients: AzureClients, targets: TargetSettings) -> list[Scope]:
    """Scopes for the listed subscriptions (or every readable one with `discover_all`), each
    naming its resource groups (filtered by `targets.resource_groups`, case-insensitively).

    A subscription with no matching resource group yields no scope: `()` would mean "all".
    """
    listed = list(targets.subscriptions)
    if targets.discover_all:
        listed.extend(await _visible_subscriptions(clients))
    subscriptions: dict[str, str] = {}  # lower-cased id -> first spelling seen
    for subscription_id in listed:
        subscriptions.setdefault(subscription_id.lower(), subscription_id)
    wanted = {g.lower() for g in targets.resource_groups}
    scopes: list[Scope] = []
    for subscription_id in subscriptions.values():
        try:
            groups = await _resource_groups(clients, subscription_id)
        except Exception as exc:
            failure = classify(exc, f"list resource groups of subscription {subscription_id}")
            raise DiscoveryError(
                failure.cause, failure.reason, subscription_id, tuple(scopes)
            ) from exc
        if wanted:
            groups = [g for g in groups if g.lower() in wanted]
        if groups:
            scopes.append(Scope(subscription_id, tuple(sorted(groups, key=str.lower))))
    return scopes


async def _visible_subscriptions(clients: AzureClients) -> list[str]:
    try:
        with in_lane(DISCOVERY_LANE):
            found = [s async for s in clients.subscriptions.subscriptions.list()]
    except Exception as exc:
        failure = classify(exc, "list subscriptions visible to the credential")
        raise DiscoveryError(failure.cause, failure.reason) from exc
    return [
        s.subscription_id
        for s in found
        if s.subscription_id and _state(s.state).lower() in _READABLE_STATES
    ]


async def _resource_groups(clients: AzureClients, subscription_id: str) -> list[str]:
    client = clients.resources(subscription_id)
    with in_lane(DISCOVERY_LANE):
        return [g.name async for g in client.resource_groups.list() if g.name]


def _state(value: object) -> str:
    raw = getattr(value, "value", value)
    return str(raw) if raw is not None else "Enabled"
