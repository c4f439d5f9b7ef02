"""The one line at the top of every status page: how bad is it, and where.

The worst open root incident sets it, with one exception: a gateway with every connection down
is a full outage, and reads critical whatever its incident says. An active/standby gateway's
failover is `info` while Azure still has time to finish it (`correlate/failover.py`), which is
right for paging but wrong for a header: for those seconds nothing gets through the gateway.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from vpnwatch.correlate.entities import EntityKind, Health
from vpnwatch.incidents import Severity
from vpnwatch.service.fleet import FleetView, resource_name
from vpnwatch.service.links import Links

FULL_OUTAGES_SHOWN = 10
_RANK = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}


@dataclass(frozen=True, slots=True)
class FullOutage:
    name: str
    why: str
    url: str | None


@dataclass(frozen=True, slots=True)
class Headline:
    severity: Severity | None  # None: nothing open and nothing fully down
    outages: list[FullOutage]  # at most FULL_OUTAGES_SHOWN, by name
    outage_count: int


def worst(severities: Iterable[Severity | str]) -> Severity | None:
    ranked = sorted((Severity(s) for s in severities), key=lambda s: _RANK[s])
    return ranked[0] if ranked else None


def full_outages(view: FleetView, links: Links | None) -> list[FullOutage]:
    """Gateways that are down: every connection down. Read from the state's index of unhealthy
    entities, so this costs what is broken, not the size of the fleet."""
    state = view.state
    found = []
    for gateway_id in state.unhealthy(EntityKind.GATEWAY):
        if state.health_of(gateway_id, view.now) is not Health.DOWN:
            continue
        entity = state.entities.get(gateway_id)
        gateway = state.gateways.get(gateway_id)
        found.append(
            FullOutage(
                name=gateway.name if gateway is not None else resource_name(gateway_id),
                why=entity.evidence if entity is not None else "",
                url=links.resource(gateway_id) if links is not None else None,
            )
        )
    return sorted(found, key=lambda o: o.name)


def headline(root_severities: Iterable[Severity | str], outages: list[FullOutage]) -> Headline:
    severity = worst(root_severities)
    if outages:
        severity = Severity.CRITICAL
    return Headline(severity, outages[:FULL_OUTAGES_SHOWN], len(outages))
