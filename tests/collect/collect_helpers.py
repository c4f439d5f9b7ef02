"""Shared pieces of the collector tests: scenario files, settings for the emulator, readers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vpnwatch.config import Settings
from vpnwatch.observations import CollectionRun, Observation
from vpnwatch.replay import emulator_cloud

SCENARIOS = Path(__file__).parent / "scenarios"
TWO_SUBSCRIPTIONS = SCENARIOS / "two-subscriptions.yaml"
READ_QUOTA = SCENARIOS / "read-quota.yaml"

HUB = "0a0a0a0a-0000-4000-8000-000000000001"
SPOKE = "0a0a0a0a-0000-4000-8000-000000000002"
TOKEN = "emulator-token"


@dataclass
class RecordingObserver:
    """A `RequestObserver` that keeps every call, as the service's metrics would see them."""

    calls: list[tuple[str, int | None, float, int | None]] = field(default_factory=list)
    subscriptions: list[str] = field(default_factory=list)  # the one each call named

    def on_request(
        self,
        operation: str,
        status: int | None,
        seconds: float,
        remaining_reads: int | None,
        *,
        subscription: str = "",
    ) -> None:
        self.calls.append((operation, status, seconds, remaining_reads))
        self.subscriptions.append(subscription)

    @property
    def operations(self) -> set[str]:
        return {call[0] for call in self.calls}


def emulator_settings(
    base_url: str,
    *,
    subscriptions: list[str] | None = None,
    discover_all: bool = False,
    resource_groups: list[str] | None = None,
    token: str = TOKEN,
    azure: dict[str, Any] | None = None,
    **collectors: Any,
) -> Settings:
    """Settings for the emulator as a custom cloud, with fast retries and LRO polling."""
    return Settings(
        azure={**emulator_cloud(base_url, token), **(azure or {})},
        targets={
            "subscriptions": subscriptions if subscriptions is not None else [HUB, SPOKE],
            "discover_all": discover_all,
            "resource_groups": resource_groups or [],
        },
        collectors={
            "retry_total": 3,
            "retry_backoff_seconds": 0.01,
            "lro_poll_interval_seconds": 0,
            "timeout_seconds": 5,
            **collectors,
        },
    )


def run_of(observations: list[Observation]) -> CollectionRun:
    """The run record, which must be the last observation and the only one of its kind."""
    runs = [o for o in observations if isinstance(o, CollectionRun)]
    assert len(runs) == 1
    assert observations[-1] is runs[0]
    return runs[0]


def of_type(observations: list[Observation], kind: type[Any]) -> dict[str, Any]:
    """Observations of one type by resource name (or gateway name for BGP)."""
    found: dict[str, Any] = {}
    for o in observations:
        if isinstance(o, kind):
            key = getattr(o, "name", None) or getattr(o, "gateway_id", "").rsplit("/", 1)[-1]
            found[key] = o
    return found
