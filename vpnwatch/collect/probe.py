"""`check-config --probe`: try the configured credential against Azure before running.

Three steps, each reported in one line: a token for ARM; one read per configured subscription
(its resource groups); and, at a resource group of each subscription, the caller's effective
permissions (the permissions API) held against every action vpnwatch needs
(`vpnwatch/permissions.py`), so a missing one is named before a collector trips over it.
"""

from __future__ import annotations

from dataclasses import dataclass

from azure.core.exceptions import AzureError, HttpResponseError

from vpnwatch.collect.clients import AzureClients, token_scope
from vpnwatch.collect.errors import one_line
from vpnwatch.config import Settings
from vpnwatch.permissions import OPERATIONS, allowed_by_any, needed


@dataclass(frozen=True, slots=True)
class ProbeLine:
    ok: bool
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{'OK     ' if self.ok else 'MISSING'} {self.subject}: {self.detail}"


async def probe(settings: Settings) -> list[ProbeLine]:
    """Every line of the probe's report; the probe passed when every line is ok."""
    lines: list[ProbeLine] = []
    kind = settings.azure.credential.kind.value
    async with AzureClients(settings) as clients:
        try:
            await clients.credential.get_token(token_scope(settings))
        except Exception as exc:  # any credential failure ends the probe, in one line
            lines.append(ProbeLine(False, "credential", f"{kind}: {one_line(exc)}"))
            return lines
        lines.append(ProbeLine(True, "credential", f"{kind}: got a token for ARM"))
        subscriptions = list(settings.targets.subscriptions)
        if settings.targets.discover_all:
            try:
                found = [s async for s in clients.subscriptions.subscriptions.list()]
            except AzureError as exc:
                lines.append(ProbeLine(False, "subscriptions", one_line(exc)))
                return lines
            subscriptions += [s.subscription_id for s in found if s.subscription_id]
            lines.append(ProbeLine(True, "subscriptions", f"{len(found)} visible"))
        for subscription in dict.fromkeys(subscriptions):
            lines += await _probe_subscription(clients, settings, subscription)
    return lines


async def _probe_subscription(
    clients: AzureClients, settings: Settings, subscription: str
) -> list[ProbeLine]:
    where = f"subscription {subscription}"
    try:
        groups = [g.name async for g in clients.resources(subscription).resource_groups.list()]
    except AzureError as exc:
        return [ProbeLine(False, where, f"cannot list resource groups: {one_line(exc)}")]
    wanted = settings.targets.resource_groups
    names = [g for g in groups if g and (not wanted or g.lower() in {w.lower() for w in wanted})]
    lines = [ProbeLine(True, where, f"read {len(groups)} resource group(s)")]
    if not names:
        lines.append(ProbeLine(False, where, "no resource group to check permissions at"))
        return lines
    group = names[0]
    try:
        entries = [
            (list(p.actions or []), list(p.not_actions or []))
            async for p in clients.authorization(subscription).permissions.list_for_resource_group(
                group
            )
        ]
    except HttpResponseError as exc:
        lines.append(
            ProbeLine(False, where, f"cannot read permissions at {group}: {one_line(exc)}")
        )
        return lines
    enabled = [
        name
        for name, block in settings.collectors
        if getattr(block, "enabled", False) is True
    ]
    wanted_ops = [op for op in OPERATIONS if needed(op, enabled)]
    missing = [op for op in wanted_ops if not allowed_by_any(op.action, entries)]
    for op in {op.action: op for op in missing}.values():
        lines.append(ProbeLine(False, f"{where} ({group})", f"{op.action} — {op.used_for}"))
    if not missing:
        count = len({op.action for op in wanted_ops})
        lines.append(ProbeLine(True, f"{where} ({group})", f"all {count} permissions granted"))
    return lines
