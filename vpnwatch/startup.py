"""What `vpnwatch run` says when it starts, or cannot: one line each.

Kept apart from the app, so the front process (`vpnwatch.runtime`) says it without importing the
agent."""

from __future__ import annotations

from vpnwatch import __version__
from vpnwatch.config import Settings


def startup_line(settings: Settings) -> str:
    """Everything someone reading the log first needs, in one line."""
    azure, targets = settings.azure, settings.targets
    cloud = azure.cloud.value
    if azure.cloud.value == "custom":
        cloud += f" ({azure.resolved_endpoints().resource_manager})"
    if targets.discover_all:
        watched = "every subscription the credential can see"
    else:
        watched = f"{len(targets.subscriptions)} subscription(s) " + ", ".join(
            targets.subscriptions
        )
    if targets.resource_groups:
        watched += f" (resource groups {', '.join(targets.resource_groups)})"
    return (
        f"vpnwatch {__version__} starting: cloud {cloud}, credential {azure.credential.kind.value},"
        f" watching {watched}, state {settings.store.path},"
        f" listening on http://{settings.service.host}:{settings.service.port}/"
    )


class StartupError(Exception):
    """`vpnwatch run` could not start; the message says why, in one line."""


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
