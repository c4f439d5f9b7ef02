"""`zone_outage`: unhealthy zonal gateways concentrated in one availability zone of a region.

Why: when a zone fails, every gateway pinned to it (`GatewayObserved.zonal_zone`) loses its
instances within minutes, and each would page on its own: failovers, lost redundancy, dozens of
tunnels. One critical incident naming the region and zone says what happened; the per-gateway
incidents become its children (opened with `parent_key`, so the API shows what the zone took
down), and per-connection symptoms under them stay quiet.

Opens when, within `window_seconds` of each other, at least `min_gateways` zonal gateways of one
region+zone became unhealthy (down or degraded), or at least `min_share` of that zone's zonal
gateways did (and at least two: one gateway failing is that gateway's incident), while the other
zones of the region stay healthy: none of them meets the same threshold, and at least one gateway
there is seen up. Without a healthy zone to compare with, the cause could as well be regional, so
no zone is blamed. Gateways spanning zones do not count either way, but the incidents of those
spanning the failed zone that turned unhealthy with it (a zone-redundant active/standby gateway
failing over, an active/active one losing an instance) become children too. Once open, the
zonal gateways that become unhealthy in that zone are added as they fail; it resolves when
every one of them is up again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from vpnwatch.config import ZoneSettings
from vpnwatch.correlate.entities import EntityKind, EntityState, Health
from vpnwatch.correlate.findings import (
    DetectorContext,
    Finding,
    Resolution,
    all_restored,
    seconds,
    seen,
)
from vpnwatch.correlate.keys import gateway_keys
from vpnwatch.incidents import IncidentType, Severity, incident_key

_UNHEALTHY = frozenset({Health.DOWN, Health.DEGRADED})


def _concentrated(settings: ZoneSettings, unhealthy: int, total: int) -> bool:
    if unhealthy >= settings.min_gateways:
        return True
    return unhealthy >= 2 and total > 0 and unhealthy / total >= settings.min_share


def _explains(ctx: DetectorContext, gateways: list[str]) -> frozenset[str]:
    explains: set[str] = set()
    for g in gateways:
        explains |= gateway_keys(ctx.state, g, sites=True)
    return frozenset(explains)


class ZoneDetector:
    types = frozenset({IncidentType.ZONE_OUTAGE})

    def evaluate(self, ctx: DetectorContext) -> Iterator[Finding | Resolution]:
        state = ctx.state
        zones: set[tuple[str, str]] = set()
        for subject in ctx.subjects(IncidentType.ZONE_OUTAGE):
            region, _, zone = subject.rpartition("/")
            zones.add((region, zone))
        for gid in state.unhealthy(EntityKind.GATEWAY):
            gw = state.gateways.get(gid)
            if gw is not None and gw.zonal_zone:
                zones.add((gw.region.lower(), gw.zonal_zone))
        for region, zone in sorted(zones):
            yield from self._zone(ctx, region, zone)

    def _unhealthy(self, ctx: DetectorContext, members: set[str]) -> list[EntityState]:
        return [ctx.state.entities[g] for g in sorted(members) if ctx.health(g) in _UNHEALTHY]

    def _zone(self, ctx: DetectorContext, region: str, zone: str) -> Iterator[Finding | Resolution]:
        state = ctx.state
        settings = ctx.settings.zone
        key = incident_key(IncidentType.ZONE_OUTAGE, f"{region}/{zone}")
        inc = ctx.open_incidents.get(key)
        members = state.zonal_gateways(region, zone)
        unhealthy = self._unhealthy(ctx, members)
        if inc is None:
            cluster = self._cluster(unhealthy, settings.window_seconds)
            if not _concentrated(settings, len(cluster), len(members)):
                return
            if not self._other_zones_healthy(ctx, region, zone):
                return
            affected = [e.entity_id for e in cluster]
        else:
            earlier = [r for r in inc.resources if r in state.gateways]
            affected = sorted(set(earlier) | {e.entity_id for e in unhealthy})
            if not any(ctx.health(g) in _UNHEALTHY for g in affected):
                if all(ctx.health(g) is Health.UP for g in affected):
                    yield all_restored(
                        key,
                        [state.entities[g] for g in affected],
                        inc,
                        f"all {len(affected)} gateways of the zone up again",
                        None,
                        _explains(ctx, affected),
                    )
                return
        still = [state.entities[g] for g in affected if ctx.health(g) in _UNHEALTHY]
        start = min(e.since for e in still)
        yield Finding(
            key=key,
            type=IncidentType.ZONE_OUTAGE,
            severity=Severity.CRITICAL,
            title=f"Zone outage in {region} zone {zone}: {len(still)} of {len(members)} "
            "zonal gateways unhealthy",
            resources=tuple(affected),
            started_at=start,
            outage_seconds=seconds(start, ctx.now),
            attributes={
                "region": region,
                "zone": zone,
                "gateways_unhealthy": str(len(still)),
                "zonal_gateways": str(len(members)),
            },
            evidence=tuple(
                seen(e, f"gateway {e.attributes.get('name', e.entity_id)}") for e in still
            ),
            explains=_explains(ctx, [*affected, *self._pinned(ctx, region, zone, start)]),
        )

    @staticmethod
    def _pinned(ctx: DetectorContext, region: str, zone: str, start: datetime) -> list[str]:
        """Gateways spanning zones, this one among them, that became unhealthy since the zone
        did (within the window): the zone took their instance too."""
        window = ctx.settings.zone.window_seconds
        related = ctx.state.gateways_with_instance_in(region, zone)
        related -= ctx.state.zonal_gateways(region, zone)
        return [
            g
            for g in sorted(related)
            if ctx.health(g) in _UNHEALTHY
            and seconds(start, ctx.state.entities[g].since) >= -window
        ]

    @staticmethod
    def _cluster(unhealthy: list[EntityState], window: float) -> list[EntityState]:
        """The largest group of gateways that became unhealthy within `window` of each other
        (the latest such group on a tie)."""
        ordered = sorted(unhealthy, key=lambda e: e.since)
        best: list[EntityState] = []
        first = 0
        for last, entity in enumerate(ordered):
            while seconds(ordered[first].since, entity.since) > window:
                first += 1
            if last - first + 1 >= len(best):
                best = ordered[first : last + 1]
        return best

    def _other_zones_healthy(self, ctx: DetectorContext, region: str, zone: str) -> bool:
        seen_up = False
        for other in ctx.state.zones_in_region(region):
            if other == zone:
                continue
            members = ctx.state.zonal_gateways(region, other)
            if _concentrated(ctx.settings.zone, len(self._unhealthy(ctx, members)), len(members)):
                return False
            seen_up = seen_up or any(ctx.health(g) is Health.UP for g in members)
        return seen_up
