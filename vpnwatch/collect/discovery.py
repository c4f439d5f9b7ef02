"""Which subscriptions and resource groups to watch, as `Scope`s for the collectors.

Resource groups are resolved here, once per discovery interval, rather than by every collector
run: VPN gateways and connections can only be listed per resource group, so every group a scope
names costs each collector one ARM read per pass.

Azure Resource Graph first: one query (paged, under Graph's own quota, not the subscriptions'
ARM buckets) finds the groups that hold a gateway, connection, local network gateway or circuit,
so the collectors list only those instead of every group of the subscription. Where Graph cannot
answer (forbidden, throttled, down) discovery falls back to the ARM listings: the subscriptions,
then every resource group of each. A listed subscription in which Graph finds nothing is also
listed the ARM way, because Graph leaves out what the caller cannot read, and lags behind
creations; so is one that held resources at the last discovery, so that its deleted resources
are seen gone. Why this saves reads: docs/read-budget.md.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from vpnwatch.collect.base import Scope
from vpnwatch.collect.clients import AzureClients
from vpnwatch.collect.errors import classify
from vpnwatch.collect.lanes import in_lane
from vpnwatch.collect.resourcegraph import (
    READABLE_STATES,
    readable_subscriptions,
    watched_resources,
)
from vpnwatch.config import TargetSettings
from vpnwatch.observations import FailureCause
from vpnwatch.resourceids import resource_group_of

log = logging.getLogger(__name__)

DISCOVERY_LANE = "discovery"


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


class Discoverer:
    """Discovery that remembers, between runs, where Resource Graph last found resources: a
    subscription emptied since is listed the ARM way once more (its collectors then see its
    last resources gone), and dropped after that unless it is listed in the targets."""

    def __init__(
        self, clients: AzureClients, targets: TargetSettings, *, resource_graph: bool = False
    ) -> None:
        self.clients = clients
        self.targets = targets
        self.resource_graph = resource_graph
        self._had_resources: set[str] = set()  # lower-cased subscription ids, last Graph run

    async def discover(self) -> list[Scope]:
        """Scopes for the listed subscriptions (or every readable one with `discover_all`),
        each naming its resource groups (filtered by `targets.resource_groups`,
        case-insensitively).

        With `resource_graph`, the groups are those Resource Graph finds watched resources in,
        and the ARM listings are the fallback. A subscription with no matching resource group
        yields no scope: `()` would mean "all".
        """
        if self.resource_graph:
            try:
                return await self._by_graph()
            except DiscoveryError:
                raise
            except Exception as exc:
                failure = classify(exc, "query Azure Resource Graph")
                log.warning(
                    "discovery through Resource Graph failed (%s); listing resource groups "
                    "instead",
                    failure.reason,
                )
        return await _discover_by_arm(self.clients, self.targets)

    async def _by_graph(self) -> list[Scope]:
        clients, targets = self.clients, self.targets
        listed = _unique(targets.subscriptions)
        candidates = dict(listed)
        if targets.discover_all:
            for sub in await readable_subscriptions(clients):
                candidates.setdefault(sub.lower(), sub)
        found = await watched_resources(
            clients, list(candidates.values()), targets.resource_groups
        )
        groups: dict[str, dict[str, str]] = {}  # subscription -> lower-cased group -> spelling
        for resource in found:
            group = resource_group_of(resource.id)
            if group:
                by_key = groups.setdefault(resource.subscription_id.lower(), {})
                by_key.setdefault(group.lower(), group)
        wanted = {g.lower() for g in targets.resource_groups}
        scopes: list[Scope] = []
        for key, subscription_id in candidates.items():
            in_graph = groups.get(key)
            if in_graph:
                named = [g for k, g in in_graph.items() if not wanted or k in wanted]
                scopes.append(Scope(subscription_id, tuple(sorted(named, key=str.lower))))
            elif key in listed or key in self._had_resources:
                scope = await _subscription_by_arm(clients, subscription_id, wanted, scopes)
                if scope is not None:
                    scopes.append(scope)
        self._had_resources = set(groups)
        return scopes


async def discover(
    clients: AzureClients, targets: TargetSettings, *, resource_graph: bool = False
) -> list[Scope]:
    """One discovery with nothing remembered from an earlier one (see `Discoverer`)."""
    return await Discoverer(clients, targets, resource_graph=resource_graph).discover()


async def _discover_by_arm(clients: AzureClients, targets: TargetSettings) -> list[Scope]:
    subscriptions = _unique(targets.subscriptions)
    if targets.discover_all:
        for sub in await _visible_subscriptions(clients):
            subscriptions.setdefault(sub.lower(), sub)
    wanted = {g.lower() for g in targets.resource_groups}
    scopes: list[Scope] = []
    for subscription_id in subscriptions.values():
        scope = await _subscription_by_arm(clients, subscription_id, wanted, scopes)
        if scope is not None:
            scopes.append(scope)
    return scopes


async def _subscription_by_arm(
    clients: AzureClients, subscription_id: str, wanted: set[str], found: list[Scope]
) -> Scope | None:
    try:
        groups = await _resource_groups(clients, subscription_id)
    except Exception as exc:
        failure = classify(exc, f"list resource groups of subscription {subscription_id}")
        raise DiscoveryError(failure.cause, failure.reason, subscription_id, tuple(found)) from exc
    if wanted:
        groups = [g for g in groups if g.lower() in wanted]
    if not groups:
        return None
    return Scope(subscription_id, tuple(sorted(groups, key=str.lower)))


def _unique(subscription_ids: Sequence[str]) -> dict[str, str]:
    """Lower-cased id -> first spelling seen, in order."""
    unique: dict[str, str] = {}
    for subscription_id in subscription_ids:
        unique.setdefault(subscription_id.lower(), subscription_id)
    return unique


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
        if s.subscription_id and _state(s.state).lower() in READABLE_STATES
    ]


async def _resource_groups(clients: AzureClients, subscription_id: str) -> list[str]:
    client = clients.resources(subscription_id)
    with in_lane(DISCOVERY_LANE):
        return [g.name async for g in client.resource_groups.list() if g.name]


def _state(value: object) -> str:
    raw = getattr(value, "value", value)
    return str(raw) if raw is not None else "Enabled"
