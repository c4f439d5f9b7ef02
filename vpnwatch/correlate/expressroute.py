"""ExpressRoute: circuits, their redundancy, and the VPN backup of the VNets they feed.

- `expressroute_down` (critical): the circuit is not `Enabled`, the provider has not
  `Provisioned` it, or its private peering is `Disabled` or has every link down. Private
  peering is what carries the VNet's traffic; Microsoft peering is not judged here.
- `expressroute_redundancy_lost` (warning): one of the private peering's two links (primary,
  secondary) is down. Traffic flows, but the next failure is an outage. With both down it is
  explained by `expressroute_down`.
- Whether a circuit outage is an outage depends on the VPN backup: find the VNets of the
  ExpressRoute gateways the circuit feeds (ExpressRoute connections: `gateway_id` = the ER
  gateway, `peer_id` = the circuit) and the VPN gateways in those VNets (`vnet_id`). With every
  circuit of a VNet down:
  - a VPN connection of a VPN gateway there is up: `expressroute_failover_to_vpn` (warning,
    "running on VPN backup"), which explains `expressroute_down`: the page says what matters,
    that traffic survives on a thinner path;
  - no VPN connection up while a VPN gateway exists: `hybrid_connectivity_lost` (critical),
    explaining `expressroute_down`, the VPN backup's own incidents and the failover-to-VPN one:
    one page for "on-premises cannot reach this VNet".
  - no VPN gateway in the VNet: nothing more, `expressroute_down` is the page.
  Both are keyed by the VNet: two circuits feeding one VNet are one question.
"""

from __future__ import annotations

from collections.abc import Iterator

from vpnwatch.correlate.entities import (
    EXPRESSROUTE,
    SERVING,
    VPN,
    EntityKind,
    EntityState,
    Health,
    link_id,
)
from vpnwatch.correlate.findings import (
    DetectorContext,
    Finding,
    Resolution,
    all_restored,
    gone,
    name_of,
    restored,
    seconds,
    seen,
    spell_start,
)
from vpnwatch.correlate.health import PRIVATE_PEERING
from vpnwatch.correlate.keys import gateway_keys
from vpnwatch.correlate.state import FleetState
from vpnwatch.incidents import Evidence, Incident, IncidentType, Severity, incident_key

_DOWN = IncidentType.EXPRESSROUTE_DOWN
_REDUNDANCY = IncidentType.EXPRESSROUTE_REDUNDANCY_LOST
_ON_VPN = IncidentType.EXPRESSROUTE_FAILOVER_TO_VPN
_LOST = IncidentType.HYBRID_CONNECTIVITY_LOST


def _vnets_fed_by(state: FleetState, circuit_id: str) -> dict[str, str]:
    """VNets (lower-cased id -> id) of the ExpressRoute gateways a circuit is connected to."""
    vnets: dict[str, str] = {}
    for cid in state.connections_of_peer(circuit_id):
        conn = state.connections[cid]
        gw = state.gateway(conn.gateway_id)
        if conn.connection_type == EXPRESSROUTE and gw is not None and gw.vnet_id:
            vnets.setdefault(gw.vnet_id.lower(), gw.vnet_id)
    return vnets


class ExpressRouteDetector:
    types = frozenset({_DOWN, _REDUNDANCY, _ON_VPN, _LOST})

    def evaluate(self, ctx: DetectorContext) -> Iterator[Finding | Resolution]:
        state = ctx.state
        circuits = state.unhealthy(EntityKind.CIRCUIT)
        circuits.update(ctx.subjects(_DOWN), ctx.subjects(_REDUNDANCY))
        for cid in sorted(circuits):
            yield from self._circuit(ctx, cid)
        vnets: dict[str, str] = {}
        for subject in (*ctx.subjects(_ON_VPN), *ctx.subjects(_LOST)):
            vnets.setdefault(subject.lower(), subject)
        for cid in state.unhealthy(EntityKind.CIRCUIT):
            for low, vnet in _vnets_fed_by(state, cid).items():
                vnets.setdefault(low, vnet)
        for low in sorted(vnets):
            yield from self._vnet(ctx, vnets[low])

    # --- one circuit ---------------------------------------------------------------------------

    def _circuit(self, ctx: DetectorContext, cid: str) -> Iterator[Finding | Resolution]:
        down_key = incident_key(_DOWN, cid)
        redundancy_key = incident_key(_REDUNDANCY, cid)
        circuit = ctx.state.circuits.get(cid)
        entity = ctx.entity(cid)
        if circuit is None or entity is None:
            for key in (down_key, redundancy_key):
                if key in ctx.open_incidents:
                    yield gone(key, ctx.now)
            return
        health = ctx.health(cid)
        label = f"circuit {circuit.name}"
        attributes = {
            "circuit": circuit.name,
            "region": circuit.region,
            "peering_location": circuit.peering_location or "",
            "service_provider": circuit.service_provider or "",
        }
        if health is Health.DOWN:
            yield Finding(
                key=down_key,
                type=_DOWN,
                severity=Severity.CRITICAL,
                title=f"ExpressRoute circuit {circuit.name} down: {entity.evidence}",
                resources=(cid,),
                started_at=entity.since,
                outage_seconds=seconds(entity.since, ctx.now),
                attributes=attributes,
                evidence=(seen(entity, label, circuit.source),),
                explains=frozenset({redundancy_key}),
            )
        elif health in SERVING and down_key in ctx.open_incidents:
            inc = ctx.open_incidents[down_key]
            yield restored(down_key, entity, inc, label, frozenset({redundancy_key}))
        links = [
            ctx.state.entities[lid]
            for p in circuit.peerings
            if p.name == PRIVATE_PEERING or p.peering_type == PRIVATE_PEERING
            for link in p.links
            if (lid := link_id(cid, p.name, link.device_path)) in ctx.state.entities
        ]
        healths = [ctx.health(e.entity_id) for e in links]
        down = [e for e, h in zip(links, healths, strict=True) if h is Health.DOWN]
        if down:
            start = min(e.since for e in down)
            paths = ", ".join(e.attributes.get("device_path", "") for e in down)
            yield Finding(
                key=redundancy_key,
                type=_REDUNDANCY,
                severity=Severity.WARNING,
                title=f"ExpressRoute circuit {circuit.name}: {paths} link down",
                resources=(cid, *(e.entity_id for e in down)),
                started_at=start,
                outage_seconds=seconds(start, ctx.now),
                attributes={**attributes, "links_down": paths},
                evidence=tuple(seen(e, f"{label} link") for e in down),
            )
        elif links and all(h in SERVING for h in healths):
            inc = ctx.open_incidents.get(redundancy_key)
            if inc is not None:
                yield all_restored(redundancy_key, links, inc, "both links up again", cid)

    # --- one VNet: ExpressRoute and its VPN backup ---------------------------------------------

    def _vnet(self, ctx: DetectorContext, vnet: str) -> Iterator[Finding | Resolution]:
        state = ctx.state
        on_vpn_key = incident_key(_ON_VPN, vnet)
        lost_key = incident_key(_LOST, vnet)
        open_keys = [k for k in (on_vpn_key, lost_key) if k in ctx.open_incidents]
        gateways = [state.gateways[g] for g in state.gateways_in_vnet(vnet)]
        er_gateways = [g for g in gateways if g.gateway_type == EXPRESSROUTE]
        vpn_gateways = [g for g in gateways if g.gateway_type == VPN]
        circuits = sorted(
            {
                key
                for g in er_gateways
                for c in state.connections_of_gateway(g.resource_id)
                if state.connections[c].connection_type == EXPRESSROUTE
                and (key := state.key_of(state.connections[c].peer_id)) in state.circuits
            }
        )
        if not circuits or not vpn_gateways:
            for key in open_keys:
                yield gone(key, ctx.now)
            return
        circuit_entities = [state.entities[c] for c in circuits]
        circuit_health = [ctx.health(c) for c in circuits]
        vpn_conns = [
            c
            for g in vpn_gateways
            for c in state.vpn_connections(state.connections_of_gateway(g.resource_id))
        ]
        vpn_entities = [state.entities[c] for c in vpn_conns]
        vpn_health = [ctx.health(c) for c in vpn_conns]
        er_back = [e for e, h in zip(circuit_entities, circuit_health, strict=True) if h in SERVING]
        vpn_up = [e for e, h in zip(vpn_entities, vpn_health, strict=True) if h in SERVING]
        every_circuit_down = all(h is Health.DOWN for h in circuit_health)
        down_keys = {incident_key(_DOWN, c) for c in circuits}
        er_since = max(e.since for e in circuit_entities)
        attributes = {
            "vnet": name_of(vnet),
            "circuits": ", ".join(name_of(c) for c in circuits),
            "vpn_gateways": ", ".join(g.name for g in vpn_gateways),
            "region": vpn_gateways[0].region,
        }
        resources = (vnet, *circuits, *(g.resource_id for g in vpn_gateways))
        evidence = tuple(seen(e, f"circuit {name_of(e.entity_id)}") for e in circuit_entities)
        lost_explains = set(down_keys) | {on_vpn_key}
        for g in vpn_gateways:
            lost_explains |= gateway_keys(state, g.resource_id, sites=True)
        if every_circuit_down and vpn_up:
            yield Finding(
                key=on_vpn_key,
                type=_ON_VPN,
                severity=Severity.WARNING,
                title=f"ExpressRoute down for VNet {name_of(vnet)}: running on VPN backup "
                f"({len(vpn_up)} of {len(vpn_conns)} VPN connections up)",
                resources=resources,
                started_at=er_since,
                classification="on_vpn_backup",
                outage_seconds=seconds(er_since, ctx.now),
                attributes=attributes,
                evidence=evidence,
                explains=frozenset(down_keys),
            )
            if lost_key in ctx.open_incidents:
                inc = ctx.open_incidents[lost_key]
                yield self._path_back(lost_key, vpn_up, inc, "VPN", frozenset(lost_explains))
        elif every_circuit_down and all(h is Health.DOWN for h in vpn_health):
            since = max([er_since, *(e.since for e in vpn_entities)])
            yield Finding(
                key=lost_key,
                type=_LOST,
                severity=Severity.CRITICAL,
                title=f"Hybrid connectivity lost for VNet {name_of(vnet)}: ExpressRoute down "
                "and no VPN connection up",
                resources=resources,
                started_at=since,
                classification="no_path",
                outage_seconds=seconds(since, ctx.now),
                attributes=attributes,
                evidence=evidence
                + tuple(seen(e, f"VPN connection {name_of(e.entity_id)}") for e in vpn_entities),
                explains=frozenset(lost_explains),
            )
        elif er_back:
            for key in open_keys:
                explains = down_keys if key == on_vpn_key else lost_explains
                yield self._path_back(
                    key, er_back, ctx.open_incidents[key], "ExpressRoute", frozenset(explains)
                )

    @staticmethod
    def _path_back(
        key: str, back: list[EntityState], inc: Incident, path: str, explains: frozenset[str]
    ) -> Resolution:
        """Traffic has a path again from the first entity of `back` that came back."""
        began = spell_start(inc)
        restore = min((e.since for e in back if e.since >= began), default=began)
        return Resolution(
            key,
            restore,
            max(0.0, seconds(began, restore)),
            evidence=(Evidence(restore, f"{path} carries traffic again", back[0].entity_id),),
            explains=explains,
        )
