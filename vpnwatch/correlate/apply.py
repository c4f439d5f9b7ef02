"""How each kind of observation changes the fleet state: which entities it creates, updates or
prunes, and which gateways and sites must be derived again at the end of the step.

Rules, and why:
- An observation older than the one already filed for its resource changes nothing.
- A `ResourceUnknown` marks the resource's entities `unknown` (not `down`) until the next good
  observation of it; the last known health and its `since` are kept underneath, so an outage that
  spans a few unreadable polls is still measured from the first observation that saw it down. A
  `not_found` one means the resource is gone: its record is removed.
- A failed `CollectionRun` changes no health. A successful one that no longer lists a resource
  it observed before removes it: deleted, not down.

`ObservationRules` is the half of `FleetState` that reads observations; the bookkeeping it calls
(`_claim`, `_entity`, `_observe`, `_prune`, ...) lives in `state.py`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from vpnwatch.correlate.entities import (
    EntityKind,
    Health,
    RunStreak,
    bgp_peer_id,
    instance_id,
    link_id,
    peering_id,
    tunnel_id,
)
from vpnwatch.correlate.health import (
    PRIVATE_PEERING,
    circuit_health,
    connection_health,
    peering_health,
)
from vpnwatch.correlate.inventory import bgp_record_id
from vpnwatch.correlate.reconnections import reconnections
from vpnwatch.correlate.recordbook import same_bgp, same_connection
from vpnwatch.observations import (
    BgpPeerState,
    BgpStatusObserved,
    CircuitObserved,
    CollectionRun,
    ConnectionObserved,
    FailureCause,
    GatewayObserved,
    LocalNetworkGatewayObserved,
    MaintenanceSchedulesObserved,
    Observation,
    P2SSessionsObserved,
    ResiliencyObserved,
    ResourceUnknown,
)

if TYPE_CHECKING:
    from vpnwatch.correlate.state import FleetState

BLINDING_CAUSES = frozenset(
    {
        FailureCause.AUTH,
        FailureCause.THROTTLED,
        FailureCause.UNREACHABLE,
        FailureCause.TIMEOUT,
        FailureCause.SERVER_ERROR,
    }
)


_INSTANT = timedelta(microseconds=1)


def run_record_id(collector: str, scope: str) -> str:
    return f"run:{collector}|{scope}"


def scope_prefix(scope: str) -> str:
    """The resource-id prefix a collector's scope covers ("" for every subscription)."""
    s = scope.strip().lower().rstrip("/")
    if s in ("", "*"):
        return ""
    return f"{s}/" if s.startswith("/") else f"/subscriptions/{s}/"


class ObservationRules:
    """Applies observations to a `FleetState` (mixed into it)."""

    def apply(self: FleetState, observation: Observation) -> None:
        match observation:
            case ConnectionObserved():
                self._apply_connection(observation)
            case BgpStatusObserved():
                self._apply_bgp(observation)
            case GatewayObserved():
                self._apply_gateway(observation)
            case LocalNetworkGatewayObserved():
                self._apply_site(observation)
            case CircuitObserved():
                self._apply_circuit(observation)
            case ResourceUnknown():
                self._apply_unknown(observation)
            case CollectionRun():
                self._apply_run(observation)
            case P2SSessionsObserved():
                held_p2s = self.p2s_sessions.get(observation.gateway_id.lower())
                if held_p2s is None or held_p2s.observed_at <= observation.observed_at:
                    self.p2s_sessions[observation.gateway_id.lower()] = observation
            case ResiliencyObserved():
                held = self.resiliency.get(observation.resource_id.lower())
                if held is None or held.observed_at <= observation.observed_at:
                    self.resiliency[observation.resource_id.lower()] = observation
            case MaintenanceSchedulesObserved():
                key = observation.subscription_id.lower()
                self.maintenance_schedules[key] = observation.schedules
            case _:
                pass  # alerts are evidence for incidents, not fleet state

    def _apply_gateway(self: FleetState, o: GatewayObserved) -> None:
        gid = self._claim(o.resource_id)
        old = self.gateways.get(gid)
        if old is not None and o.observed_at < old.observed_at:
            return
        self._store(gid, o)
        e = self._entity(gid, EntityKind.GATEWAY, gid, o.observed_at)
        e.attributes = {
            "name": o.name,
            "region": o.region,
            "sku": o.sku,
            "gateway_type": o.gateway_type,
            "mode": "active-active" if o.active_active else "active-standby",
            **({"zone": o.zonal_zone} if o.zonal_zone else {}),
        }
        self._known_again(e)
        e.last_observed = max(e.last_observed or o.observed_at, o.observed_at)
        keep = set()
        for inst in o.instances:
            iid = instance_id(gid, inst.name)
            keep.add(iid)
            ie = self._entity(iid, EntityKind.INSTANCE, gid, o.observed_at)
            ie.attributes = {
                "gateway": gid,
                "public_ip_address": inst.public_ip_address or "",
                "zones": ",".join(inst.zones),
            }
            self._known_again(ie)
        self._prune(gid, EntityKind.INSTANCE, keep)
        self._dirty_gateways[gid.lower()] = o.observed_at

    def _apply_site(self: FleetState, o: LocalNetworkGatewayObserved) -> None:
        sid = self._claim(o.resource_id)
        old = self.sites.get(sid)
        if old is not None and o.observed_at < old.observed_at:
            return
        self._store(sid, o)
        e = self._entity(sid, EntityKind.SITE, sid, o.observed_at)
        e.attributes = {"name": o.name, "region": o.region}
        self._known_again(e)
        e.last_observed = max(e.last_observed or o.observed_at, o.observed_at)
        self._dirty_sites[sid.lower()] = o.observed_at

    def _apply_connection(self: FleetState, o: ConnectionObserved) -> None:
        cid = self._claim(o.resource_id)
        old = self.connections.get(cid)
        if old is not None and o.observed_at < old.observed_at:
            return
        if old is not None and self._seen_again(cid, old, o):
            return
        if old is not None:
            self.reconnected.extend(reconnections(cid, old, o))
        self._store(cid, o)
        at = o.observed_at
        keep = set()
        down_tunnels = 0
        for t in o.tunnels:
            tid = tunnel_id(cid, t.name)
            keep.add(tid)
            te = self._entity(tid, EntityKind.TUNNEL, cid, at)
            health = connection_health(t.status)
            down_tunnels += health is Health.DOWN
            self._observe(te, health, at, f"tunnel {t.status}", f"Azure reports tunnel {t.status}")
        self._prune(cid, EntityKind.TUNNEL, keep)
        ce = self._entity(cid, EntityKind.CONNECTION, cid, at)
        ce.attributes = {
            "name": o.name,
            "gateway": o.gateway_id,
            "peer": o.peer_id or "",
            "connection_type": o.connection_type,
        }
        health = connection_health(o.status)
        evidence = f"connectionStatus {o.status}"
        if health is Health.UP and down_tunnels:
            health = Health.DEGRADED
            evidence += f", {down_tunnels} of {len(o.tunnels)} tunnels down"
        self._observe(ce, health, at, evidence, "Azure reports connectionStatus Unknown")
        self.touched_connections.add(cid)
        self._dirty_gateways[o.gateway_id.lower()] = at
        if o.peer_id:
            self._dirty_sites[o.peer_id.lower()] = at

    def _seen_again(
        self: FleetState, cid: str, old: ConnectionObserved, o: ConnectionObserved
    ) -> bool:
        """A connection observed again as it was (the common case on a quiet fleet): only its
        time and counters move, so its entities take the new time and nothing is re-indexed,
        re-created or re-judged. False (nothing done) when anything a rule reads changed."""
        if not same_connection(old, o):
            return False
        members = self._records.members.get(cid)
        if members is None or len(members) != len(o.tunnels) + 1:
            return False
        at = o.observed_at
        known = self.entities
        entities = [known[eid] for eid in members]
        for e in entities:
            last = e.last_observed
            if last is None or last > at or e.unknown_reason is not None:
                return False
        for e in entities:
            last = e.last_observed
            if last != at:
                e.previous_observed = last
                e.last_observed = at
        self._tally.observed_again(entities)
        self.connections[cid] = o  # same gateway, peer and tunnels: the indexes hold
        self._records.fresh(cid, at, recount=False)
        self.refreshed_this_step.add(cid)
        self.touched_connections.add(cid)
        self._fresh_gateways[o.gateway_id.lower()] = at
        if o.peer_id:
            self._fresh_sites[o.peer_id.lower()] = at
        return True

    def _bgp_seen_again(
        self: FleetState, rid: str, gkey: str, old: BgpStatusObserved, o: BgpStatusObserved
    ) -> bool:
        """`_seen_again` for a gateway's BGP status: the same sessions in the same states with
        the same routes. The route history still takes the new sample."""
        if not same_bgp(old, o):
            return False
        members = self._records.members.get(rid)
        if members is None or len(members) != len(o.peers):
            return False
        at = o.observed_at
        peers = []
        seen_before = at
        for p in o.peers:
            pe = self.entities.get(bgp_peer_id(gkey, p.local_address, p.neighbor))
            if pe is None or pe.unknown_reason is not None or pe.last_observed is None:
                return False
            if pe.last_observed > at:
                return False
            seen_before = min(seen_before, pe.last_observed)
            peers.append((p, pe))
        samples = self.route_samples + 1  # baseline + current
        for p, pe in peers:
            held = pe.routes_history
            if p.state is BgpPeerState.CONNECTED:
                routes = p.routes_received
                if len(held) == samples and held.count(routes) == samples:
                    history = held  # steady routes: the new sample changes nothing
                else:
                    history = [*held, routes][-samples:]
            else:
                history = []
            if history != held:
                pe.routes_history = history
                self._records.touch(rid)
            if pe.last_observed != at:
                pe.previous_observed = pe.last_observed
                pe.last_observed = at
        self._tally.observed_again(pe for _, pe in peers)
        self.bgp[gkey] = o
        self._records.fresh(rid, at, recount=False)
        self.refreshed_this_step.add(rid)
        self.touched_bgp.add(gkey)
        if self._tunnels_back_since(gkey, seen_before):
            self._dirty_gateways[o.gateway_id.lower()] = at  # see `bgp_predates_tunnels`
        else:
            self._fresh_gateways[o.gateway_id.lower()] = at
        return True

    def _apply_bgp(self: FleetState, o: BgpStatusObserved) -> None:
        gkey = self._bgp_ids.get(o.gateway_id.lower())
        if gkey is not None and gkey != o.gateway_id:
            self.remove_record(bgp_record_id(gkey))
        gkey = self._bgp_ids[o.gateway_id.lower()] = o.gateway_id
        old = self.bgp.get(gkey)
        if old is not None and o.observed_at < old.observed_at:
            return
        rid = bgp_record_id(gkey)
        if old is not None and self._bgp_seen_again(rid, gkey, old, o):
            return
        self._store(rid, o)
        keep = set()
        for p in o.peers:
            pid = bgp_peer_id(gkey, p.local_address, p.neighbor)
            keep.add(pid)
            pe = self._entity(pid, EntityKind.BGP_PEER, rid, o.observed_at)
            pe.attributes = {
                "gateway": gkey,
                "local_address": p.local_address,
                "neighbor": p.neighbor,
                "asn": "" if p.asn is None else str(p.asn),
            }
            connected = p.state is BgpPeerState.CONNECTED
            history = list(pe.routes_history)
            if connected:
                pe.routes_history.append(p.routes_received)
                del pe.routes_history[: -(self.route_samples + 1)]  # baseline + current
            else:  # a new session learns its routes afresh: no baseline across a reset
                pe.routes_history.clear()
            if pe.routes_history != history:
                self._records.touch(rid)
            health = Health.UP if connected else Health.DOWN
            evidence = f"BGP {p.state}, {p.routes_received} routes received"
            self._observe(pe, health, o.observed_at, evidence, "")
        self._prune(rid, EntityKind.BGP_PEER, keep)
        self.touched_bgp.add(gkey)
        self._dirty_gateways[o.gateway_id.lower()] = o.observed_at

    def _apply_circuit(self: FleetState, o: CircuitObserved) -> None:
        cid = self._claim(o.resource_id)
        old = self.circuits.get(cid)
        if old is not None and o.observed_at < old.observed_at:
            return
        self._store(cid, o)
        at = o.observed_at
        keep = set()
        private: tuple[Health, str] | None = None
        for p in o.peerings:
            pid = peering_id(cid, p.name)
            keep.add(pid)
            for link in p.links:
                lid = link_id(cid, p.name, link.device_path)
                keep.add(lid)
                le = self._entity(lid, EntityKind.LINK, cid, at)
                le.attributes = {"circuit": cid, "peering": p.name, "device_path": link.device_path}
                health = Health.UP if link.up else Health.DOWN
                self._observe(le, health, at, f"{link.device_path} link BGP {link.state}", "")
            pe = self._entity(pid, EntityKind.PEERING, cid, at)
            pe.attributes = {"circuit": cid, "peering_type": p.peering_type}
            health, evidence = peering_health(p)
            self._observe(pe, health, at, evidence, "")
            if p.name == PRIVATE_PEERING or p.peering_type == PRIVATE_PEERING:
                private = (health, evidence)
        self._prune(cid, EntityKind.PEERING, keep)
        self._prune(cid, EntityKind.LINK, keep)
        ce = self._entity(cid, EntityKind.CIRCUIT, cid, at)
        ce.attributes = {"name": o.name, "region": o.region}
        health, evidence = circuit_health(o, private)
        self._observe(ce, health, at, evidence, "")

    def _apply_unknown(self: FleetState, o: ResourceUnknown) -> None:
        low = o.resource_id.lower()
        if o.kind == "bgp":
            gkey = self._bgp_ids.get(low)
            rid = bgp_record_id(gkey) if gkey else None
        else:
            rid = self._ids.get(low)
        if o.cause is FailureCause.NOT_FOUND:
            if rid is not None:
                self.remove_record(rid)
            return
        reason = f"unknown: {o.cause.value}: {o.reason}" if o.reason else f"unknown: {o.cause}"
        if rid is None or not self._records.members.get(rid):
            if o.kind == "bgp":
                return  # no peers known yet: nothing to mark
            rid = self._ids.setdefault(low, o.resource_id)
            self._entity(rid, o.kind, rid, o.observed_at)
            self._records.own(rid, o.source, o.resource_id)
        for eid in self._records.members[rid]:
            e = self.entities[eid]
            e.unknown_reason = reason
            self._note(e, reason, o.observed_at)
        self._records.touch(rid)
        conn = self.connections.get(rid)
        if conn is not None:
            self._dirty_gateways[conn.gateway_id.lower()] = o.observed_at
        elif o.kind == "bgp":
            self._dirty_gateways[low] = o.observed_at

    def _apply_run(self: FleetState, o: CollectionRun) -> None:
        key = (o.collector, o.scope)
        previous = self.collector_runs.get(key)
        if previous is not None and o.observed_at < previous.observed_at:
            return
        self.collector_runs[key] = o
        self.note_promise(o)
        streak = self.run_streaks.setdefault(key, RunStreak())
        began = o.started_at or o.observed_at
        if o.ok:
            recovered = streak.failed_runs > 0
            streak.reset()
            streak.last_ok_at = o.observed_at
            if recovered:
                self._scope_seen_again(o.scope, began)
        elif o.cause in BLINDING_CAUSES and began >= self.scope_seen_again.get(o.scope, began):
            if streak.failed_runs == 0:
                streak.failing_since = o.observed_at
            streak.failed_runs += 1
            streak.cause = o.cause
            streak.reason = o.reason
            streak.last_failed_at = o.observed_at
            streak.last_failed_started_at = began
        self._records.touch(run_record_id(o.collector, o.scope))
        if o.ok:
            self._remove_unlisted(o)
        elif o.cause is not FailureCause.NOT_FOUND:
            self._unknown_unrefreshed(o)

    def _scope_seen_again(self: FleetState, scope: str, began: datetime) -> None:
        """A failing collector of `scope` succeeded with a pass that began at `began`: every
        failure of a pass that began before it is older news than this success. Those streaks
        end, and passes that began before it and fail later (a BGP status read under way when
        the fault ended) count for nothing, so blindness resolves with this pass and is not
        reopened by what it already outlived. A failure of a pass begun later counts afresh."""
        if began <= self.scope_seen_again.get(scope, began - _INSTANT):
            return
        self.scope_seen_again[scope] = began
        for (collector, other), streak in self.run_streaks.items():
            if other != scope or streak.failed_runs == 0:
                continue
            failed = streak.last_failed_started_at or streak.last_failed_at
            if failed is not None and failed < began:
                streak.reset()
                self._records.touch(run_record_id(collector, scope))

    def _unknown_unrefreshed(self: FleetState, run: CollectionRun) -> None:
        """A failed pass makes what it did not refresh `unknown` now, not a staleness window
        later: a monitor that cannot read must not go on showing `up`. The entities keep their
        last known health and its time ("last seen up at ..."); the next observation clears it.
        """
        prefix = scope_prefix(run.scope)
        cause = run.cause.value if run.cause else "failed"
        reason = f"unknown: {cause}: the last {run.collector} poll failed"
        for rid in sorted(self._records.by_source.get(run.collector, ())):
            resource = self._records.resource[rid].lower()
            if rid in self.refreshed_this_step or not resource.startswith(prefix):
                continue
            for eid in self._records.members.get(rid, ()):
                e = self.entities[eid]
                if e.unknown_reason is None:  # a more specific reason stays
                    e.unknown_reason = reason
                    self._note(e, reason, run.observed_at)
                    self._records.touch(rid)
            conn = self.connections.get(rid)
            gateway = conn.gateway_id if conn is not None else resource
            self._dirty_gateways[gateway.lower()] = run.observed_at
            if conn is not None and conn.peer_id:
                self._dirty_sites[conn.peer_id.lower()] = run.observed_at

    def _remove_unlisted(self: FleetState, run: CollectionRun) -> None:
        listed = {r.lower() for r in run.resource_ids}
        prefix = scope_prefix(run.scope)
        resources = self._records.resource
        unlisted = []
        for rid in self._records.by_source.get(run.collector, ()):
            resource = resources[rid].lower()
            if resource.startswith(prefix) and resource not in listed:
                unlisted.append(rid)
        for rid in sorted(unlisted):
            self.remove_record(rid)
