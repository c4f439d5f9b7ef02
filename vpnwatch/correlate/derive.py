"""Health derived at the end of a step: a gateway instance from its tunnels and BGP sessions, a
gateway from its connections and instances, a site from its connections (the rules are in
`health.py`). Only what the step changed is derived again; what was only observed again unchanged
keeps its health and takes the newer data time (`_freshen_gateway`, `_freshen_site`).

`DerivedHealth` is the part of `FleetState` that does this (mixed into it, as `ObservationRules`
is); the bookkeeping it calls (`_set_health`, `_note`, `_records`, `_tally`) lives in `state.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from itertools import chain
from typing import TYPE_CHECKING

from vpnwatch.correlate.entities import EntityState, Health, instance_id
from vpnwatch.correlate.health import gateway_health, instance_health, site_health
from vpnwatch.observations import GatewayObserved, LocalNetworkGatewayObserved

if TYPE_CHECKING:
    from vpnwatch.correlate.state import FleetState

UNKNOWN_INPUTS = "unknown: nothing it is derived from is known"


def _all_unknown(*inputs: EntityState) -> bool:
    return bool(inputs) and all(
        e.unknown_reason is not None or e.health is Health.UNKNOWN for e in inputs
    )


def _newest(entities: Mapping[str, EntityState], ids: Iterable[str]) -> datetime | None:
    """The latest data time among the entities `ids` that exist (None if none has one)."""
    newest = None
    for eid in ids:
        e = entities.get(eid)
        if e is not None:
            last = e.last_observed
            if last is not None and (newest is None or last > newest):
                newest = last
    return newest


def _later_of(a: datetime, b: datetime | None) -> datetime:
    return a if b is None or a >= b else b


class DerivedHealth:
    """Derives instance, gateway and site health for a `FleetState` (mixed into it)."""

    def _derive_gateway(self: FleetState, gid: str, gw: GatewayObserved, at: datetime) -> None:
        gateway = self.entities.get(gid)
        if gateway is None:
            return
        instance_down: list[str] = []
        for name, members in self.instance_members(gid).items():
            tunnels = [self.entities[t] for t in members.tunnels if t in self.entities]
            peers = [self.entities[p] for p in members.peers if p in self.entities]
            for te in tunnels:
                if te.attributes.get("instance") != name:
                    te.attributes["instance"] = name
                    self._records.touch_entity(te.entity_id)
            health, evidence = instance_health(tunnels, peers)
            if health is Health.DOWN:
                instance_down.append(name)
            inputs = [e.last_observed for e in (*tunnels, *peers) if e.last_observed]
            last = max(inputs, default=gateway.last_observed or gw.observed_at)
            ie = self.entities.get(instance_id(gid, name))
            if ie is not None:
                self._derive(ie, health, at, last, evidence, _all_unknown(*tunnels, *peers))
        connections = [self.entities[c] for c in self.connections_of_gateway(gid)]
        health, evidence = gateway_health(connections, instance_down)
        status = self.bgp_of(gid)
        inputs = [gw.observed_at, *(e.last_observed for e in connections if e.last_observed)]
        if status is not None:
            inputs.append(status.observed_at)
        self._derive(gateway, health, at, max(inputs), evidence, _all_unknown(*connections))

    def _tunnels_back_since(self: FleetState, gid: str, at: datetime) -> bool:
        """Whether a tunnel of the gateway changed health after `at`. A BGP status observed
        again unchanged leaves the gateway's health as it was unless so: only then can its age
        against the tunnels' decide whether its sessions count (`bgp_predates_tunnels`)."""
        entities = self.entities
        for members in self.instance_members(gid).values():
            for tid in members.tunnels:
                tunnel = entities.get(tid)
                if tunnel is not None and tunnel.since > at:
                    return True
        return False

    def _freshen_gateway(self: FleetState, gid: str, gw: GatewayObserved, at: datetime) -> None:
        """What `_derive_gateway` does when the tunnels, connections and BGP sessions feeding
        the gateway were only observed again unchanged: health and evidence hold, data times
        move. (A BGP status observed again after a tunnel came back is not this: see
        `_tunnels_back_since`.)"""
        gateway = self.entities.get(gid)
        if gateway is None:
            return
        if gateway.unknown_reason is not None:
            return self._derive_gateway(gid, gw, at)
        entities = self.entities
        derived: list[tuple[EntityState, datetime]] = []
        for name, members in self.instance_members(gid).items():
            ie = entities.get(instance_id(gid, name))
            if ie is None:
                continue
            if ie.unknown_reason is not None:
                return self._derive_gateway(gid, gw, at)
            newest = _newest(entities, chain(members.tunnels, members.peers))
            if newest is not None:
                derived.append((ie, newest))
        connections = self._gateway_connections.get(gid.lower(), ())
        newest = _later_of(gw.observed_at, _newest(entities, connections))
        status = self.bgp_of(gid)
        if status is not None and status.observed_at > newest:
            newest = status.observed_at
        derived.append((gateway, newest))
        for e, last in derived:
            self._later(e, last)

    def _freshen_site(
        self: FleetState, sid: str, site: LocalNetworkGatewayObserved, at: datetime
    ) -> None:
        """`_derive_site` when its connections were only observed again unchanged."""
        entity = self.entities[sid]
        if entity.unknown_reason is not None:
            return self._derive_site(sid, site, at)
        connections = self._peer_connections.get(sid.lower(), ())
        self._later(entity, _later_of(site.observed_at, _newest(self.entities, connections)))

    def _later(self: FleetState, e: EntityState, last: datetime) -> None:
        """A derived entity whose health holds takes a newer data time."""
        if e.last_observed is None or last > e.last_observed:
            e.last_observed = last
            self._tally.observed_again((e,))
            self._records.fresh(self._records.record_of[e.entity_id], last, recount=False)

    def _derive_site(
        self: FleetState, sid: str, site: LocalNetworkGatewayObserved, at: datetime
    ) -> None:
        entity = self.entities[sid]
        connections = [self.entities[c] for c in self.connections_of_peer(sid)]
        health, evidence = site_health(connections)
        inputs = [site.observed_at, *(e.last_observed for e in connections if e.last_observed)]
        self._derive(entity, health, at, max(inputs), evidence, _all_unknown(*connections))

    def _derive(
        self: FleetState,
        e: EntityState,
        health: Health,
        at: datetime,
        last: datetime,
        evidence: str,
        inputs_unknown: bool = False,
    ) -> None:
        """Set a derived health. When every entity it derives from is unknown, it is unknown
        too (with its last health kept), rather than `up` from nothing."""
        if inputs_unknown:
            if e.unknown_reason is None:
                e.unknown_reason = UNKNOWN_INPUTS
                self._note(e, UNKNOWN_INPUTS, at)
            return
        if e.unknown_reason == UNKNOWN_INPUTS:
            e.unknown_reason = None
            self._records.touch_entity(e.entity_id)
        if e.last_observed is None or last > e.last_observed:
            e.last_observed = last
            self._records.fresh(self._records.record_of[e.entity_id], last)
        self._set_health(e, health, at, evidence)
