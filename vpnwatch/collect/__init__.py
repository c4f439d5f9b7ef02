"""Receivers that poll Azure Resource Manager and emit typed observations.

This package is the only place that imports the Azure SDKs; everything it returns is a record
from `vpnwatch.observations`, stamped with the agent's clock.
"""

from __future__ import annotations

from vpnwatch.clock import Clock
from vpnwatch.collect.base import Collector, Scope
from vpnwatch.collect.bgp import BgpCollector
from vpnwatch.collect.clients import AzureClients
from vpnwatch.collect.connections import ConnectionCollector
from vpnwatch.collect.discovery import DiscoveryError, discover
from vpnwatch.collect.expressroute import ExpressRouteCollector
from vpnwatch.collect.gateways import GatewayCollector
from vpnwatch.collect.logs import DiagnosticLogCollector, WatermarkStore
from vpnwatch.collect.maintenance import MaintenanceCollector
from vpnwatch.collect.metrics import MetricsCollector
from vpnwatch.collect.resiliency import ResiliencyCollector
from vpnwatch.collect.resourcehealth import ResourceHealthCollector
from vpnwatch.collect.telemetry import RequestObserver
from vpnwatch.config import Settings

__all__ = [
    "AzureClients",
    "BgpCollector",
    "Collector",
    "ConnectionCollector",
    "DiagnosticLogCollector",
    "DiscoveryError",
    "ExpressRouteCollector",
    "GatewayCollector",
    "MaintenanceCollector",
    "MetricsCollector",
    "RequestObserver",
    "ResiliencyCollector",
    "ResourceHealthCollector",
    "Scope",
    "build_collectors",
    "discover",
]


def build_collectors(
    settings: Settings,
    clients: AzureClients,
    clock: Clock,
    watermarks: WatermarkStore | None = None,
) -> list[Collector]:
    """The enabled collectors, each with its configured interval. `watermarks` keeps how far
    the diagnostic-log collector has read (the store; in memory only without it)."""
    config = settings.collectors
    candidates: list[tuple[bool, Collector]] = [
        (
            config.gateways.enabled,
            GatewayCollector(clients, clock, config.gateways.interval_seconds),
        ),
        (
            config.connections.enabled,
            ConnectionCollector(clients, clock, config.connections.interval_seconds),
        ),
        (config.bgp.enabled, BgpCollector(clients, clock, config.bgp.interval_seconds)),
        (
            config.expressroute.enabled,
            ExpressRouteCollector(clients, clock, config.expressroute.interval_seconds),
        ),
        (
            config.metrics.enabled,
            MetricsCollector(clients, clock, config.metrics.interval_seconds),
        ),
        (
            config.logs.enabled,
            DiagnosticLogCollector(clients, clock, config.logs.interval_seconds, watermarks),
        ),
        (
            config.maintenance.enabled,
            MaintenanceCollector(clients, clock, config.maintenance.interval_seconds),
        ),
        (
            config.resiliency.enabled,
            ResiliencyCollector(clients, clock, config.resiliency.interval_seconds),
        ),
        (
            config.resourcehealth.enabled,
            ResourceHealthCollector(clients, clock, config.resourcehealth.interval_seconds),
        ),
    ]
    return [collector for enabled, collector in candidates if enabled]
