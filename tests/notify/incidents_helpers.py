"""Incidents as the correlator makes them, for the notifier tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vpnwatch.incidents import (
    Evidence,
    Incident,
    IncidentStatus,
    IncidentType,
    Severity,
    incident_key,
)

T0 = datetime(2026, 5, 2, 1, 0, tzinfo=UTC)
SUB = "00000000-0000-0000-0000-0000000000aa"


def gateway_id(name: str, rg: str = "rg-hub") -> str:
    return (
        f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/"
        f"Microsoft.Network/virtualNetworkGateways/{name}"
    )


def zone_outage(*, at: datetime = T0) -> tuple[Incident, list[Incident]]:
    """A zone outage and the two gateway incidents it explains (its children)."""
    parent = Incident(
        key=incident_key(IncidentType.ZONE_OUTAGE, "westeurope/2"),
        type=IncidentType.ZONE_OUTAGE,
        severity=Severity.CRITICAL,
        title="Zone outage: westeurope zone 2, 2 gateways down",
        resources=(gateway_id("gw-a"), gateway_id("gw-b")),
        opened_at=at,
        attributes={"region": "westeurope", "zone": "2"},
        timeline=[Evidence(at, "gateway gw-a: every instance down", gateway_id("gw-a"))],
    )
    children = [
        Incident(
            key=incident_key(IncidentType.REDUNDANCY_LOST, gateway_id(name)),
            type=IncidentType.REDUNDANCY_LOST,
            severity=Severity.CRITICAL,
            title=f"Gateway {name}: every instance down",
            resources=(gateway_id(name),),
            opened_at=at - timedelta(seconds=10),
            parent_key=parent.key,
            attributes={"gateway": name, "region": "westeurope", "zone": "2"},
        )
        for name in ("gw-a", "gw-b")
    ]
    return parent, children


def failover(
    *, severity: Severity = Severity.WARNING, classification: str = "unplanned", at: datetime = T0
) -> Incident:
    return Incident(
        key=incident_key(IncidentType.FAILOVER, gateway_id("gw-vpn1")),
        type=IncidentType.FAILOVER,
        severity=severity,
        title="Gateway gw-vpn1 failed over: 3 connections interrupted",
        resources=(gateway_id("gw-vpn1"),),
        opened_at=at,
        classification=classification,
        attributes={"gateway": "gw-vpn1", "region": "northeurope", "sku": "VpnGw2"},
        timeline=[Evidence(at, "connection c1 down", gateway_id("gw-vpn1"))],
    )


def resolved(incident: Incident, after: float = 120.0) -> Incident:
    incident.status = IncidentStatus.RESOLVED
    incident.resolved_at = incident.opened_at + timedelta(seconds=after)
    incident.outage_seconds = after
    return incident
