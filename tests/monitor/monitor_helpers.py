"""Shared pieces of the Azure Monitor tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vpnwatch.config import Settings
from vpnwatch.replay import emulator_cloud

SCENARIOS = Path(__file__).parent / "scenarios"
FLEET = SCENARIOS / "monitor-fleet.yaml"
SUB = "6f1d3c2a-0000-4000-8000-00000000d001"
TOKEN = "emulator-token"


def gateway_id(resource_group: str, name: str) -> str:
    return (
        f"/subscriptions/{SUB}/resourceGroups/{resource_group}"
        f"/providers/Microsoft.Network/virtualNetworkGateways/{name}"
    )


P2S_GATEWAY = gateway_id("rg-p2s-weu", "vpngw-p2s-weu")
FAILING_GATEWAY = gateway_id("rg-fleet-weu-westeurope", "fleet-weu-vpngw-0000")


def monitor_settings(base_url: str, **collectors: Any) -> Settings:
    """The emulator as a custom cloud whose ARM, metrics and Log Analytics endpoints it serves."""
    return Settings(
        azure=emulator_cloud(base_url, TOKEN),
        targets={"subscriptions": [SUB]},
        collectors={
            "retry_total": 2,
            "retry_backoff_seconds": 0.01,
            "lro_poll_interval_seconds": 0,
            "timeout_seconds": 5,
            **collectors,
        },
    )
