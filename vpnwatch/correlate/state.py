"""Fleet state: the health of every gateway, instance, connection, tunnel, BGP peer, site and
circuit, since when, and which observation said so.

Rules, and why:
- Health comes from data, and data ages: `health_of` answers `unknown` for an entity whose last
  observation is older than `staleness_seconds`, so a monitor that stopped seeing never reports a
  stale `up`. A `ResourceUnknown` marks the entity `unknown` (not `down`) until the next good
  observation of it; the last known health and its `since` are kept underneath, so an outage that
  spans a few unreadable polls is still measured from the first observation that saw it down.
- Connection: `Connected` is up (degraded when one of its tunnels is down), `NotConnected` and
  `Connecting` are down, Azure's own `Unknown` is unknown. Tunnels likewise. A BGP peer is up only
  when `Connected`: Azure reports an unreachable peer as `Unknown`/`Idle`, which is down.
- A gateway instance owns the tunnels whose `gateway_public_ip` is its public IP and the BGP rows
  whose local address is one of its BGP addresses; it is down when all its tunnels or all its BGP
  sessions are down. A gateway is down when all its connections are down, degraded when an
  instance is down. Sites and gateways take their freshness from the connections that feed them
  (the gateway collector polls every few minutes; tunnel state every few seconds).
- A failed `CollectionRun` changes no health. A successful one that no longer lists a resource
  it observed before removes it: deleted, not down.
- Flapping: `flap_transitions` health changes within `flap_window_seconds`.

Everything a detector needs is here or in its own open incidents. `take_record_changes` hands
out JSON-able records for the store, one per observed resource (keyed by its id; a gateway's BGP
status under `<gatewayId>/bgpPeers`, a collector's runs under `run:<collector>|<scope>`), each
holding the resource's last observation and the entities derived from it, so a restart resumes
where it stopped. A record is handed out when anything in it changed; when only its time moved,
once it is a staleness window newer than the stored one, so the store does not rewrite the whole
fleet on every poll and a restart finds nothing staler than that.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from vpnwatch.config import StateSettings
from vpnwatch.correlate.entities import (
    EXPRESSROUTE,
    EntityKind,
    EntityState,
    Health,
    InstanceMembers,
    RunStreak,
    bgp_peer_id,
    instance_id,
    link_id,
    peering_id,
    tunnel_id,
)
from vpnwatch.correlate.records import RecordError, decode_observation, encode_observation
from vpnwatch.observations import (
    BgpPeerState,
    BgpStatusObserved,
    CircuitObserved,
    CollectionRun,
    ConnectionObserved,
    ConnectionStatus,
    FailureCause,
    GatewayObserved,
    LocalNetworkGatewayObserved,
    Observation,
    PeeringObserved,
    ResourceUnknown,
)

BLINDING_CAUSES = frozenset(
    {FailureCause.AUTH, FailureCause.THROTTLED, FailureCause.UNREACHABLE, FailureCause.TIMEOUT}
)
PRIVATE_PEERING = "AzurePrivatePeering"
log = logging.getLogger(__name__)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPSILON = timedelta(microseconds=1)


def bgp_record_id(gateway_id: str) -> str:
    """The record holding a gateway's BGP status (its peers are entities inside it)."""
    return f"{gateway_id}/bgpPeers"


def run_record_id(collector: str, scope: str) -> str:
    return f"run:{collector}|{scope}"


def _connection_health(status: ConnectionStatus) -> Health | None:
    if status is ConnectionStatus.CONNECTED:
        return Health.UP
    if status in (ConnectionStatus.NOT_CONNECTED, ConnectionStatus.CONNECTING):
        return Health.DOWN
    return None  # Azure itself does not know


def tally(entities: Iterable[EntityState]) -> tuple[int, int]:
    """(known, down) among entities whose last health is known and not overlaid unknown."""
    known = down = 0
    for e in entities:
        if e.unknown_reason is None and e.health is not Health.UNKNOWN:
            known += 1
            down += e.health is Health.DOWN
    return known, down


def _scope_prefix(scope: str) -> str:
    s = scope.strip().lower().rstrip("/")
    if s in ("", "*"):
        return ""
    return f"{s}/" if s.startswith("/") else f"/subscriptions/{s}/"


class FleetState:
    """The fleet as the correlator knows it. Mutated only through `apply` and `refresh`."""

    def __init__(self, settings: StateSettings, *, route_samples: int = 5) -> None:
        self.settings = settings
        self.route_samples = route_samples
        self.gateways: dict[str, GatewayObserved] = {}
        self.connections: dict[str, ConnectionObserved] = {}
        self.sites: dict[str, LocalNetworkGatewayObserved] = {}
        self.bgp: dict[str, BgpStatusObserved] = {}  # by gateway id as the BGP collector gave it
        self.circuits: dict[str, CircuitObserved] = {}
        self.entities: dict[str, EntityState] = {}
        self.collector_runs: dict[tuple[str, str], CollectionRun] = {}
        self.run_streaks: dict[tuple[str, str], RunStreak] = {}
        # observed during the current step (cleared by `begin_step`)
        self.touched_connections: set[str] = set()
        self.touched_bgp: set[str] = set()
        # indexes; Azure ids are case-insensitive, so every lookup key is lower-cased
        self._ids: dict[str, str] = {}  # resource id -> key in gateways/connections/sites/...
        self._bgp_ids: dict[str, str] = {}  # gateway id -> key in `bgp`
        self._gateway_connections: dict[str, set[str]] = defaultdict(set)
        self._peer_connections: dict[str, set[str]] = defaultdict(set)
        self._vnet_gateways: dict[str, set[str]] = defaultdict(set)
        self._zonal: dict[tuple[str, str], set[str]] = defaultdict(set)
        self._region_zones: dict[str, set[str]] = defaultdict(set)
        self._pinned: dict[tuple[str, str], set[str]] = defaultdict(set)
        self._unhealthy: dict[str, set[str]] = defaultdict(set)
        # records: one per observed resource, holding the entities derived from it
        self._members: dict[str, set[str]] = defaultdict(set)
        self._record_of: dict[str, str] = {}
        self._record_source: dict[str, str] = {}
        self._record_resource: dict[str, str] = {}
        self._by_source: dict[str, set[str]] = defaultdict(set)
        self._dirty_records: set[str] = set()
        self._removed_records: set[str] = set()
        self._fresh_records: set[str] = set()
        self._data_at: dict[str, datetime] = {}  # newest data time per record
        self._persisted_at: dict[str, datetime] = {}  # data time when last handed out
        self._dirty_gateways: dict[str, datetime] = {}
        self._dirty_sites: dict[str, datetime] = {}

    # --- reading ---------------------------------------------------------------------------

    def health_of(self, entity_id: str, now: datetime) -> Health:
        entity = self.entities.get(entity_id)
        return Health.UNKNOWN if entity is None else self.effective(entity, now)

    def effective(self, entity: EntityState, now: datetime) -> Health:
        if entity.unknown_reason is not None or entity.last_observed is None:
            return Health.UNKNOWN
        if (now - entity.last_observed).total_seconds() > self.settings.staleness_seconds:
            return Health.UNKNOWN
        return entity.health

    def summary(self, now: datetime) -> dict[Health, int]:
        counts = Counter(self.effective(e, now) for e in self.entities.values())
        return {h: counts.get(h, 0) for h in Health}

    def is_flapping(self, entity_id: str, now: datetime) -> bool:
        entity = self.entities.get(entity_id)
        if entity is None:
            return False
        window = self.settings.flap_window_seconds
        recent = sum(1 for t in entity.transitions if (now - t).total_seconds() <= window)
        return recent >= self.settings.flap_transitions

    def unhealthy(self, kind: EntityKind) -> set[str]:
        """Entities of `kind` whose last known health is down or degraded (a copy)."""
        return set(self._unhealthy.get(kind, ()))

    def key_of(self, resource_id: str | None) -> str | None:
        """The key this state files a gateway/connection/site/circuit under, ignoring case."""
        return None if resource_id is None else self._ids.get(resource_id.lower())

    def gateway(self, gateway_id: str | None) -> GatewayObserved | None:
        key = self.key_of(gateway_id)
        return None if key is None else self.gateways.get(key)

    def bgp_of(self, gateway_id: str) -> BgpStatusObserved | None:
        key = self._bgp_ids.get(gateway_id.lower())
        return None if key is None else self.bgp.get(key)

    def connections_of_gateway(self, gateway_id: str) -> list[str]:
        return sorted(self._gateway_connections.get(gateway_id.lower(), ()))

    def vpn_connections(self, connection_ids: Iterable[str]) -> list[str]:
        """The ones that are not ExpressRoute connections (those carry no tunnels)."""
        return [c for c in connection_ids if self.connections[c].connection_type != EXPRESSROUTE]

    def connections_of_peer(self, peer_id: str) -> list[str]:
        """Connections whose `peer_id` is this site, gateway or circuit."""
        return sorted(self._peer_connections.get(peer_id.lower(), ()))

    def gateways_in_vnet(self, vnet_id: str) -> list[str]:
        return sorted(self._vnet_gateways.get(vnet_id.lower(), ()))

    def zonal_gateways(self, region: str, zone: str) -> set[str]:
        return set(self._zonal.get((region.lower(), zone), ()))

    def zones_in_region(self, region: str) -> list[str]:
        return sorted(self._region_zones.get(region.lower(), ()))

    def gateways_with_instance_in(self, region: str, zone: str) -> set[str]:
        """Gateways with an instance in the zone: zonal ones, and zone-redundant ones whose
        public IPs span it (Azure places their instances across the zones listed)."""
        return set(self._pinned.get((region.lower(), zone), ()))

    def tunnels_beside(self, peer_id: str) -> list[EntityState]:
        """The tunnels of the gateway instance that carries BGP session `peer_id`."""
        gateway = peer_id.partition("/bgpPeers/")[0]
        for members in self.instance_members(gateway).values():
            if peer_id in members.peers:
                return [self.entities[t] for t in members.tunnels if t in self.entities]
        return []

    def instance_members(self, gateway_id: str) -> dict[str, InstanceMembers]:
        """Tunnels and BGP sessions per instance of a gateway: a tunnel belongs to the instance
        whose public IP it names, a BGP row to the instance owning its local address (a gateway
        with one instance owns everything)."""
        gw = self.gateway(gateway_id)
        if gw is None:
            return {}
        only = gw.instances[0].name if len(gw.instances) == 1 else None
        by_ip = {i.public_ip_address: i.name for i in gw.instances if i.public_ip_address}
        by_bgp = {a: i.name for i in gw.instances for a in i.bgp_addresses}
        tunnels: dict[str, list[str]] = {i.name: [] for i in gw.instances}
        peers: dict[str, list[str]] = {i.name: [] for i in gw.instances}
        for cid in self.connections_of_gateway(gateway_id):
            conn = self.connections[cid]
            for t in conn.tunnels:
                name = by_ip.get(t.gateway_public_ip or "") or only
                if name is not None:
                    tunnels[name].append(tunnel_id(cid, t.name))
        status = self.bgp_of(gateway_id)
        if status is not None:
            for p in status.peers:
                name = by_bgp.get(p.local_address) or only
                if name is not None:
                    peers[name].append(bgp_peer_id(status.gateway_id, p.local_address, p.neighbor))
        return {
            i.name: InstanceMembers(tuple(tunnels[i.name]), tuple(peers[i.name]))
            for i in gw.instances
        }

    def bgp_peers_of_connection(self, connection_id: str) -> list[str]:
        """BGP peer entities of the connection's gateway whose neighbor is the connection's
        remote end (the site's BGP address, or the peer gateway's)."""
        conn = self.connections.get(connection_id)
        if conn is None or conn.peer_id is None:
            return []
        status = self.bgp_of(conn.gateway_id)
        if status is None:
            return []
        neighbors = self.neighbor_addresses(conn.peer_id)
        return [
            bgp_peer_id(status.gateway_id, p.local_address, p.neighbor)
            for p in status.peers
            if p.neighbor in neighbors
        ]

    def bgp_peers_of_gateway(self, gateway_id: str) -> list[str]:
        status = self.bgp_of(gateway_id)
        if status is None:
            return []
        return [bgp_peer_id(status.gateway_id, p.local_address, p.neighbor) for p in status.peers]

    def neighbor_addresses(self, peer_id: str) -> set[str]:
        key = self.key_of(peer_id)
        if key is None:
            return set()
        site = self.sites.get(key)
        if site is not None:
            return {site.bgp_peering_address} if site.bgp_peering_address else set()
        gw = self.gateways.get(key)
        if gw is not None:
            return {a for i in gw.instances for a in i.bgp_addresses}
        return set()

    # --- applying observations ---------------------------------------------------------------

    def begin_step(self) -> None:
        self.touched_connections.clear()
        self.touched_bgp.clear()

    def apply(self, observation: Observation) -> None:
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
            case _:
                pass  # alerts are evidence for incidents, not fleet state

    def refresh(self) -> None:
        """Derive instance, gateway and site health from what this step changed."""
        for low, at in self._dirty_gateways.items():
            key = self._ids.get(low)
            if key is not None and key in self.gateways:
                self._derive_gateway(key, self.gateways[key], at)
        for low, at in self._dirty_sites.items():
            key = self._ids.get(low)
            if key is not None and key in self.sites:
                self._derive_site(key, self.sites[key], at)
        self._dirty_gateways.clear()
        self._dirty_sites.clear()

    def _apply_gateway(self, o: GatewayObserved) -> None:
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

    def _apply_site(self, o: LocalNetworkGatewayObserved) -> None:
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

    def _apply_connection(self, o: ConnectionObserved) -> None:
        cid = self._claim(o.resource_id)
        old = self.connections.get(cid)
        if old is not None and o.observed_at < old.observed_at:
            return
        self._store(cid, o)
        at = o.observed_at
        keep = set()
        down_tunnels = 0
        for t in o.tunnels:
            tid = tunnel_id(cid, t.name)
            keep.add(tid)
            te = self._entity(tid, EntityKind.TUNNEL, cid, at)
            health = _connection_health(t.status)
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
        health = _connection_health(o.status)
        evidence = f"connectionStatus {o.status}"
        if health is Health.UP and down_tunnels:
            health = Health.DEGRADED
            evidence += f", {down_tunnels} of {len(o.tunnels)} tunnels down"
        self._observe(ce, health, at, evidence, "Azure reports connectionStatus Unknown")
        self.touched_connections.add(cid)
        self._dirty_gateways[o.gateway_id.lower()] = at
        if o.peer_id:
            self._dirty_sites[o.peer_id.lower()] = at

    def _apply_bgp(self, o: BgpStatusObserved) -> None:
        gkey = self._bgp_ids.get(o.gateway_id.lower())
        if gkey is not None and gkey != o.gateway_id:
            self.remove_record(bgp_record_id(gkey))
        gkey = self._bgp_ids[o.gateway_id.lower()] = o.gateway_id
        old = self.bgp.get(gkey)
        if old is not None and o.observed_at < old.observed_at:
            return
        rid = bgp_record_id(gkey)
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
                self._touch(rid)
            health = Health.UP if connected else Health.DOWN
            evidence = f"BGP {p.state}, {p.routes_received} routes received"
            self._observe(pe, health, o.observed_at, evidence, "")
        self._prune(rid, EntityKind.BGP_PEER, keep)
        self.touched_bgp.add(gkey)
        self._dirty_gateways[o.gateway_id.lower()] = o.observed_at

    def _apply_circuit(self, o: CircuitObserved) -> None:
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
            health, evidence = _peering_health(p)
            self._observe(pe, health, at, evidence, "")
            if p.name == PRIVATE_PEERING or p.peering_type == PRIVATE_PEERING:
                private = (health, evidence)
        self._prune(cid, EntityKind.PEERING, keep)
        self._prune(cid, EntityKind.LINK, keep)
        ce = self._entity(cid, EntityKind.CIRCUIT, cid, at)
        ce.attributes = {"name": o.name, "region": o.region}
        if o.circuit_provisioning_state != "Enabled":
            health, evidence = Health.DOWN, f"circuit {o.circuit_provisioning_state}"
        elif o.service_provider_provisioning_state != "Provisioned":
            health = Health.DOWN
            evidence = f"service provider {o.service_provider_provisioning_state}"
        elif private is not None:
            health, evidence = private[0], f"{PRIVATE_PEERING}: {private[1]}"
        else:
            health, evidence = Health.UP, "circuit Enabled and Provisioned"
        self._observe(ce, health, at, evidence, "")

    def _apply_unknown(self, o: ResourceUnknown) -> None:
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
        if rid is None or not self._members.get(rid):
            if o.kind == "bgp":
                return  # no peers known yet: nothing to mark
            rid = self._ids.setdefault(low, o.resource_id)
            self._entity(rid, o.kind, rid, o.observed_at)
            self._own(rid, o.source, o.resource_id)
        for eid in self._members[rid]:
            e = self.entities[eid]
            e.unknown_reason = reason
            self._note(e, reason, o.observed_at)
        self._touch(rid)
        conn = self.connections.get(rid)
        if conn is not None:
            self._dirty_gateways[conn.gateway_id.lower()] = o.observed_at
        elif o.kind == "bgp":
            self._dirty_gateways[low] = o.observed_at

    def _apply_run(self, o: CollectionRun) -> None:
        key = (o.collector, o.scope)
        previous = self.collector_runs.get(key)
        if previous is not None and o.observed_at < previous.observed_at:
            return
        self.collector_runs[key] = o
        streak = self.run_streaks.setdefault(key, RunStreak())
        if o.ok:
            streak.failed_runs = 0
            streak.failing_since = None
            streak.cause = None
            streak.reason = ""
            streak.last_ok_at = o.observed_at
        elif o.cause in BLINDING_CAUSES:
            if streak.failed_runs == 0:
                streak.failing_since = o.observed_at
            streak.failed_runs += 1
            streak.cause = o.cause
            streak.reason = o.reason
        self._touch(run_record_id(o.collector, o.scope))
        if o.ok:
            self._remove_unlisted(o)

    def _remove_unlisted(self, run: CollectionRun) -> None:
        listed = {r.lower() for r in run.resource_ids}
        prefix = _scope_prefix(run.scope)
        for rid in sorted(self._by_source.get(run.collector, ())):
            resource = self._record_resource[rid].lower()
            if resource.startswith(prefix) and resource not in listed:
                self.remove_record(rid)

    def remove_record(self, rid: str) -> None:
        """Forget a resource that no longer exists, with every entity derived from it."""
        for eid in self._members.pop(rid, set()):
            entity = self.entities.pop(eid, None)
            self._record_of.pop(eid, None)
            if entity is not None:
                self._unhealthy[entity.kind].discard(eid)
        self._unindex(rid)
        source = self._record_source.pop(rid, None)
        if source is not None:
            self._by_source[source].discard(rid)
        resource = self._record_resource.pop(rid, rid)
        if self._ids.get(resource.lower()) == rid:
            del self._ids[resource.lower()]
        if self._bgp_ids.get(resource.lower()) == resource and rid == bgp_record_id(resource):
            del self._bgp_ids[resource.lower()]
        self.touched_connections.discard(rid)
        self.touched_bgp.discard(resource)
        self._dirty_records.discard(rid)
        self._fresh_records.discard(rid)
        self._data_at.pop(rid, None)
        self._persisted_at.pop(rid, None)
        self._removed_records.add(rid)

    # --- derived health ------------------------------------------------------------------------

    def _derive_gateway(self, gid: str, gw: GatewayObserved, at: datetime) -> None:
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
                    self._touch(self._record_of[te.entity_id])
            t_known, t_down = tally(tunnels)
            p_known, p_down = tally(peers)
            if bgp_predates_tunnels(tunnels, peers, t_known, t_down):
                p_known = p_down = 0
            if (t_known and t_down == t_known) or (p_known and p_down == p_known):
                health = Health.DOWN
                instance_down.append(name)
            elif t_down or p_down:
                health = Health.DEGRADED
            else:
                health = Health.UP
            evidence = (
                f"{t_down} of {t_known} tunnels down, {p_down} of {p_known} BGP sessions down"
            )
            inputs = [e.last_observed for e in (*tunnels, *peers) if e.last_observed]
            last = max(inputs, default=gateway.last_observed or gw.observed_at)
            ie = self.entities.get(instance_id(gid, name))
            if ie is not None:
                self._derive(ie, health, at, last, evidence)
        connections = [self.entities[c] for c in self.connections_of_gateway(gid)]
        c_known, c_down = tally(connections)
        if c_known and c_down == c_known:
            health, evidence = Health.DOWN, f"all {c_known} connections down"
        elif instance_down:
            health, evidence = Health.DEGRADED, f"instance {', '.join(instance_down)} down"
        else:
            health, evidence = Health.UP, f"{c_down} of {c_known} connections down"
        status = self.bgp_of(gid)
        inputs = [gw.observed_at, *(e.last_observed for e in connections if e.last_observed)]
        if status is not None:
            inputs.append(status.observed_at)
        self._derive(gateway, health, at, max(inputs), evidence)

    def _derive_site(self, sid: str, site: LocalNetworkGatewayObserved, at: datetime) -> None:
        entity = self.entities[sid]
        connections = [self.entities[c] for c in self.connections_of_peer(sid)]
        known, down = tally(connections)
        if known and down == known:
            health, evidence = Health.DOWN, f"all {known} connections down"
        elif down:
            health, evidence = Health.DEGRADED, f"{down} of {known} connections down"
        else:
            health, evidence = Health.UP, f"{known} connections up"
        inputs = [site.observed_at, *(e.last_observed for e in connections if e.last_observed)]
        self._derive(entity, health, at, max(inputs), evidence)

    def _derive(
        self, e: EntityState, health: Health, at: datetime, last: datetime, evidence: str
    ) -> None:
        if e.last_observed is None or last > e.last_observed:
            e.last_observed = last
            self._fresh(self._record_of[e.entity_id], last)
        self._set_health(e, health, at, evidence)

    # --- entity bookkeeping ------------------------------------------------------------------

    def _claim(self, resource_id: str) -> str:
        """The key of a resource is the id its own observation gives (ids are compared ignoring
        case, so a record filed under another spelling is dropped for this one)."""
        low = resource_id.lower()
        key = self._ids.get(low)
        if key is not None and key != resource_id:
            self.remove_record(key)
        self._ids[low] = resource_id
        return resource_id

    def _entity(self, eid: str, kind: str, rid: str, at: datetime) -> EntityState:
        entity = self.entities.get(eid)
        if entity is None:
            entity = EntityState(eid, kind, Health.UNKNOWN, at, None, "not observed yet")
            self.entities[eid] = entity
            self._members[rid].add(eid)
            self._record_of[eid] = rid
            self._touch(rid)
        elif entity.kind != kind:
            entity.kind = kind  # a placeholder from a `ResourceUnknown`, now observed
            self._touch(rid)
        return entity

    def _known_again(self, e: EntityState) -> None:
        if e.unknown_reason is not None:
            e.unknown_reason = None
            self._touch(self._record_of[e.entity_id])

    def _observe(
        self, e: EntityState, health: Health | None, at: datetime, evidence: str, unknown: str
    ) -> None:
        if e.last_observed is not None and at < e.last_observed:
            return
        if e.last_observed != at:
            e.previous_observed = e.last_observed
        e.last_observed = at
        reason = unknown if health is None else None
        if e.unknown_reason != reason:
            e.unknown_reason = reason
            self._touch(self._record_of[e.entity_id])
        if health is None:
            self._note(e, unknown, at)
        else:
            self._set_health(e, health, at, evidence)

    def _note(self, e: EntityState, evidence: str, at: datetime) -> None:
        if e.evidence != evidence:
            e.evidence = evidence
            e.evidence_at = at
            self._touch(self._record_of[e.entity_id])

    def _set_health(self, e: EntityState, health: Health, at: datetime, evidence: str) -> None:
        self._note(e, evidence, at)
        if e.health is health:
            return
        if e.health is not Health.UNKNOWN:
            e.previous = e.health
            e.previous_since = e.since
            e.transitions.append(at)
            cutoff = self.settings.flap_window_seconds
            e.transitions = [t for t in e.transitions if (at - t).total_seconds() <= cutoff]
        e.health = health
        e.since = at
        if health in (Health.DOWN, Health.DEGRADED):
            self._unhealthy[e.kind].add(e.entity_id)
        else:
            self._unhealthy[e.kind].discard(e.entity_id)
        self._touch(self._record_of[e.entity_id])

    def _prune(self, rid: str, kind: EntityKind, keep: set[str]) -> None:
        members = self._members.get(rid, set())
        gone = [eid for eid in members if eid not in keep and self.entities[eid].kind == kind]
        for eid in gone:
            members.discard(eid)
            self._record_of.pop(eid, None)
            self.entities.pop(eid)
            self._unhealthy[kind].discard(eid)
        if gone:
            self._touch(rid)

    def _touch(self, rid: str) -> None:
        """Something in this record changed that a restart must know."""
        self._dirty_records.add(rid)
        self._removed_records.discard(rid)

    def _fresh(self, rid: str, at: datetime) -> None:
        """This record's data is newer, perhaps with the same content."""
        if at > self._data_at.get(rid, at - _EPSILON):
            self._data_at[rid] = at
            self._fresh_records.add(rid)

    # --- storing observations and their indexes ------------------------------------------------

    def _store(self, rid: str, o: Observation) -> None:
        """File an observation under its record and keep the lookup indexes in step."""
        old = self._observation(rid)
        if old is None or _material(old) != _material(o):
            self._touch(rid)
        self._fresh(rid, o.observed_at)
        self._unindex(rid)
        match o:
            case GatewayObserved():
                self.gateways[rid] = o
                if o.vnet_id:
                    self._vnet_gateways[o.vnet_id.lower()].add(rid)
                if o.zonal_zone:
                    self._zonal[(o.region.lower(), o.zonal_zone)].add(rid)
                    self._region_zones[o.region.lower()].add(o.zonal_zone)
                for zone in _pinned_zones(o):
                    self._pinned[(o.region.lower(), zone)].add(rid)
                self._own(rid, o.source, o.resource_id)
            case ConnectionObserved():
                self.connections[rid] = o
                self._gateway_connections[o.gateway_id.lower()].add(rid)
                if o.peer_id:
                    self._peer_connections[o.peer_id.lower()].add(rid)
                self._own(rid, o.source, o.resource_id)
            case LocalNetworkGatewayObserved():
                self.sites[rid] = o
                self._own(rid, o.source, o.resource_id)
            case CircuitObserved():
                self.circuits[rid] = o
                self._own(rid, o.source, o.resource_id)
            case BgpStatusObserved():
                self.bgp[self._bgp_ids.setdefault(o.gateway_id.lower(), o.gateway_id)] = o
                self._own(rid, o.source, o.gateway_id)

    def _unindex(self, rid: str) -> None:
        gw = self.gateways.pop(rid, None)
        if gw is not None:
            if gw.vnet_id:
                self._vnet_gateways[gw.vnet_id.lower()].discard(rid)
            if gw.zonal_zone:
                self._zonal[(gw.region.lower(), gw.zonal_zone)].discard(rid)
            for zone in _pinned_zones(gw):
                self._pinned[(gw.region.lower(), zone)].discard(rid)
        conn = self.connections.pop(rid, None)
        if conn is not None:
            self._gateway_connections[conn.gateway_id.lower()].discard(rid)
            self._dirty_gateways[conn.gateway_id.lower()] = conn.observed_at
            if conn.peer_id:
                self._peer_connections[conn.peer_id.lower()].discard(rid)
                self._dirty_sites[conn.peer_id.lower()] = conn.observed_at
        self.sites.pop(rid, None)
        self.circuits.pop(rid, None)
        if rid.endswith("/bgpPeers"):
            status = self.bgp.pop(rid.removesuffix("/bgpPeers"), None)
            if status is not None:
                self._dirty_gateways[status.gateway_id.lower()] = status.observed_at

    def _own(self, rid: str, source: str, resource: str) -> None:
        old = self._record_source.get(rid)
        if old is not None and old != source:
            self._by_source[old].discard(rid)
        self._record_source[rid] = source
        self._record_resource[rid] = resource
        self._by_source[source].add(rid)

    # --- records: what the store keeps so a restart resumes ----------------------------------

    def take_record_changes(self) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """The records changed and removed since the last call, then forgets them."""
        refresh = self.settings.staleness_seconds
        for rid in self._fresh_records:
            persisted = self._persisted_at.get(rid)
            if persisted is None or (self._data_at[rid] - persisted).total_seconds() >= refresh:
                self._dirty_records.add(rid)
        changed = {rid: self.record(rid) for rid in sorted(self._dirty_records)}
        for rid in changed:
            if rid in self._data_at:
                self._persisted_at[rid] = self._data_at[rid]
        removed = sorted(self._removed_records)
        self._dirty_records.clear()
        self._fresh_records.clear()
        self._removed_records.clear()
        return changed, removed

    def record(self, rid: str) -> dict[str, Any]:
        if rid.startswith("run:"):
            collector, _, scope = rid.removeprefix("run:").partition("|")
            key = (collector, scope)
            return {
                "run": encode_observation(self.collector_runs[key]),
                "streak": self.run_streaks[key].to_record(),
            }
        observation = self._observation(rid)
        return {
            "observation": None if observation is None else encode_observation(observation),
            "source": self._record_source.get(rid),
            "resource": self._record_resource.get(rid, rid),
            "entities": {
                eid: self.entities[eid].to_record() for eid in sorted(self._members.get(rid, ()))
            },
        }

    def _observation(self, rid: str) -> Observation | None:
        if rid.endswith("/bgpPeers"):
            return self.bgp.get(rid.removesuffix("/bgpPeers"))
        return (
            self.connections.get(rid)
            or self.gateways.get(rid)
            or self.sites.get(rid)
            or self.circuits.get(rid)
        )

    def _load(self, rid: str, record: dict[str, Any]) -> None:
        if "run" in record:
            run = decode_observation(record["run"])
            streak = RunStreak.from_record(record.get("streak") or {})
            self.collector_runs[(run.collector, run.scope)] = run
            self.run_streaks[(run.collector, run.scope)] = streak
            return
        observation = (
            decode_observation(record["observation"]) if record.get("observation") else None
        )
        entities = [
            EntityState.from_record(eid, data)
            for eid, data in (record.get("entities") or {}).items()
        ]
        resource = record.get("resource") or rid
        if not rid.endswith("/bgpPeers"):
            self._ids[resource.lower()] = rid
        if observation is not None:
            self._store(rid, observation)
        elif record.get("source"):
            self._own(rid, record["source"], resource)
        for entity in entities:
            self.entities[entity.entity_id] = entity
            self._members[rid].add(entity.entity_id)
            self._record_of[entity.entity_id] = rid
            if entity.health in (Health.DOWN, Health.DEGRADED):
                self._unhealthy[entity.kind].add(entity.entity_id)

    @classmethod
    def from_records(
        cls, settings: StateSettings, records: dict[str, dict[str, Any]], *, route_samples: int = 5
    ) -> FleetState:
        """The state a previous run persisted through `take_record_changes`. A record that
        cannot be read is dropped (and reported removed, so the store forgets it too): the next
        poll observes that resource afresh, which beats not starting at all."""
        state = cls(settings, route_samples=route_samples)
        for rid, record in records.items():
            try:
                state._load(rid, record)
            except (RecordError, KeyError, TypeError, ValueError) as exc:
                log.warning("dropping unreadable entity record %s: %s", rid, exc)
                state.remove_record(rid)
        state._dirty_gateways.clear()
        state._dirty_sites.clear()
        state._dirty_records.clear()
        state._fresh_records.clear()
        state._persisted_at.update(state._data_at)
        return state


def bgp_predates_tunnels(
    tunnels: list[EntityState], peers: list[EntityState], known: int, down: int
) -> bool:
    """BGP is polled less often than tunnels: when every tunnel of an instance came back after
    the last BGP poll, and its sessions went down with those tunnels (not before them), that
    poll's down sessions say nothing about the instance any more."""
    if not known or down or not peers:
        return False
    back_since = max(t.since for t in tunnels)
    bgp_seen = max((p.last_observed for p in peers if p.last_observed), default=None)
    if bgp_seen is None or back_since <= bgp_seen:
        return False
    went_down = [
        t.previous_since for t in tunnels if t.previous is Health.DOWN and t.previous_since
    ]
    if not went_down:
        return False
    tunnels_down_since = min(went_down)
    return all(p.since >= tunnels_down_since for p in peers if p.health is Health.DOWN)


def _pinned_zones(gw: GatewayObserved) -> set[str]:
    return {zone for i in gw.instances for zone in i.zones}


def _material(o: Observation) -> object:
    """What of an observation a restart must know: all of it but its time and the counters and
    durations that move on every poll."""
    match o:
        case ConnectionObserved():
            return (
                o.source,
                o.name,
                o.subscription_id,
                o.resource_group,
                o.region,
                o.connection_type,
                o.gateway_id,
                o.peer_id,
                o.status,
                o.bgp_enabled,
                tuple(
                    (t.name, t.status, t.last_connection_established, t.gateway_public_ip)
                    for t in o.tunnels
                ),
            )
        case BgpStatusObserved():
            return (
                o.source,
                tuple(
                    (p.local_address, p.neighbor, p.asn, p.state, p.routes_received)
                    for p in o.peers
                ),
            )
        case CircuitObserved():
            return replace(
                o,
                observed_at=_EPOCH,
                primary_bytes_in=0,
                primary_bytes_out=0,
                secondary_bytes_in=0,
                secondary_bytes_out=0,
            )
        case _:
            return replace(o, observed_at=_EPOCH)


def _peering_health(p: PeeringObserved) -> tuple[Health, str]:
    if p.state != "Enabled":
        return Health.DOWN, f"peering {p.state}"
    down = [link.device_path for link in p.links if not link.up]
    if p.links and len(down) == len(p.links):
        return Health.DOWN, "every link down"
    if down:
        return Health.DEGRADED, f"{', '.join(down)} link down"
    return Health.UP, f"{len(p.links)} links up"
