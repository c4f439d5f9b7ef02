"""The rendered `/health` and `/readyz` answers as one immutable value.

A module of its own with no imports, so that the front process (`vpnwatch.runtime`) can receive
one without importing the agent.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Published:
    """Rendered bodies and their status codes."""

    health: bytes
    health_status: int
    ready: bytes
    ready_status: int
