"""Health rules: what Azure's words mean, and how a gateway instance, a gateway, a site and a
circuit take their health from the entities below them. Pure functions of entities and
observations; `FleetState` decides when to apply them.

- Connection: `Connected` is up (degraded when one of its tunnels is down), `NotConnected` and
  `Connecting` are down, Azure's own `Unknown` is unknown. Tunnels likewise. A BGP peer is up only
  when `Connected`: Azure reports an unreachable peer as `Unknown`/`Idle`, which is down.
- A gateway instance is down when all its tunnels or all its BGP sessions are down. A gateway is
  down when all its connections are down, degraded when an instance is down. A site is down when
  all its connections are.
"""

from __future__ import annotations

from collections.abc import Iterable

from vpnwatch.correlate.entities import EntityState, Health
from vpnwatch.observations import CircuitObserved, ConnectionStatus, PeeringObserved

PRIVATE_PEERING = "AzurePrivatePeering"


def connection_health(status: ConnectionStatus) -> Health | None:
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


def instance_health(tunnels: list[EntityState], peers: list[EntityState]) -> tuple[Health, str]:
    t_known, t_down = tally(tunnels)
    p_known, p_down = tally(peers)
    if bgp_predates_tunnels(tunnels, peers, t_known, t_down):
        p_known = p_down = 0
    if (t_known and t_down == t_known) or (p_known and p_down == p_known):
        health = Health.DOWN
    elif t_down or p_down:
        health = Health.DEGRADED
    else:
        health = Health.UP
    return health, f"{t_down} of {t_known} tunnels down, {p_down} of {p_known} BGP sessions down"


def gateway_health(connections: list[EntityState], instances_down: list[str]) -> tuple[Health, str]:
    known, down = tally(connections)
    if known and down == known:
        return Health.DOWN, f"all {known} connections down"
    if instances_down:
        return Health.DEGRADED, f"instance {', '.join(instances_down)} down"
    return Health.UP, f"{down} of {known} connections down"


def site_health(connections: list[EntityState]) -> tuple[Health, str]:
    known, down = tally(connections)
    if known and down == known:
        return Health.DOWN, f"all {known} connections down"
    if down:
        return Health.DEGRADED, f"{down} of {known} connections down"
    return Health.UP, f"{known} connections up"


def peering_health(p: PeeringObserved) -> tuple[Health, str]:
    if p.state != "Enabled":
        return Health.DOWN, f"peering {p.state}"
    down = [link.device_path for link in p.links if not link.up]
    if p.links and len(down) == len(p.links):
        return Health.DOWN, "every link down"
    if down:
        return Health.DEGRADED, f"{', '.join(down)} link down"
    return Health.UP, f"{len(p.links)} links up"


def circuit_health(o: CircuitObserved, private: tuple[Health, str] | None) -> tuple[Health, str]:
    """A circuit is down when it is not enabled or not provisioned by its provider; otherwise it
    is as healthy as its private peering (`private`, when it has one)."""
    if o.circuit_provisioning_state != "Enabled":
        return Health.DOWN, f"circuit {o.circuit_provisioning_state}"
    if o.service_provider_provisioning_state != "Provisioned":
        return Health.DOWN, f"service provider {o.service_provider_provisioning_state}"
    if private is not None:
        return private[0], f"{PRIVATE_PEERING}: {private[1]}"
    return Health.UP, "circuit Enabled and Provisioned"
